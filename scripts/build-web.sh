#!/usr/bin/env bash
# Builds the hub's browser assets from npm: GraphiQL with React into hub/web/static/vendor/
# (served at /static/vendor/, so /graphql loads nothing from outside the hub), and axe-core
# for the page tests (node_modules/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
npm ci --no-audit --no-fund --loglevel=error
vendor=hub/web/static/vendor
mkdir -p "$vendor"
cp node_modules/react/umd/react.production.min.js \
   node_modules/react-dom/umd/react-dom.production.min.js \
   node_modules/graphiql/graphiql.min.js \
   node_modules/graphiql/graphiql.min.css "$vendor/"
