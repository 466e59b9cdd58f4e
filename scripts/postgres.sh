#!/usr/bin/env bash
# A throwaway PostgreSQL on 127.0.0.1 for the tests: postgres.sh start | stop | url | status
# Installs Debian's postgresql when it is missing; runs as the `postgres` system user,
# since PostgreSQL refuses to run as root.
set -euo pipefail
port=${CAIGOU_PG_PORT:-54329}
dir=${CAIGOU_PG_DIR:-/tmp/caigou-postgres-$port}
url="postgresql://postgres@127.0.0.1:$port/postgres"

pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

install_postgres() {
  if [ -z "$(pg_bin)" ]; then
    echo "postgres.sh: installing PostgreSQL from Debian packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
  fi
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    install_postgres
    bin=$(pg_bin)
    if [ ! -f "$dir/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
      as_postgres "$bin/initdb" -D "$dir" -U postgres -A trust -E UTF8 --no-locale >/dev/null
    fi
    if ! as_postgres "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
      # fsync off: a test database that dies with the machine is fine, and much faster.
      as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start -o \
        "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null
    fi
    echo "$url"
    ;;
  stop)
    bin=$(pg_bin)
    [ -n "$bin" ] && [ -f "$dir/PG_VERSION" ] && as_postgres "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null || true
    ;;
  status)
    bin=$(pg_bin)
    as_postgres "$bin/pg_ctl" -D "$dir" status
    ;;
  url)
    echo "$url"
    ;;
  *)
    echo "usage: $0 start|stop|status|url" >&2
    exit 2
    ;;
esac
