#!/usr/bin/env bash
# A throwaway Elasticsearch on 127.0.0.1 for the tests: elasticsearch.sh start | stop | status | url
# The network here reaches only package registries, so the server comes from Maven Central:
# Elastic's minimal "integ-test-zip" distribution, fetched with Maven and unpacked into a cache
# folder outside the repo. Central's maven-metadata.xml for it lists nothing past 8.19.x, so a
# version range cannot find 9.x, but the 9.x zips are there by exact version: 9.5.4 is the newest
# served (9.5.5+ and 9.6.x are not). 9.x needs JDK 21+, so it runs on the newest Temurin JDK;
# CAIGOU_ES_VERSION=8.19.21 runs on the default JDK 17 instead. The Python client's major must
# match the server's (`elasticsearch>=9,<10`): a 9.x client sends compatible-with=9, which 8.x
# rejects. The distribution is minimal: modules apm, transport-netty4, x-pack-core and
# x-pack-security only; no analysis-common, analysis-smartcn, painless, reindex, nor rest-root,
# so `GET /` (the client's info() and ping()) fails: check readiness with _cluster/health.
# Elasticsearch refuses to run as root, so it runs as the `caigou-es` system user when we are root.
# Loopback binding plus single-node discovery keeps it in development mode: bootstrap checks
# (vm.max_map_count, file descriptors) only warn, so no sysctl is needed.
set -euo pipefail
version=${CAIGOU_ES_VERSION:-9.5.4}
port=${CAIGOU_ES_PORT:-9250}
heap=${CAIGOU_ES_HEAP:-1g}
dir=${CAIGOU_ES_DIR:-/tmp/caigou-elasticsearch-$version}
home="$dir/elasticsearch-$version"
node="$dir/node-$port"          # config, data, logs and pid file of the server on this port
pidfile="$node/elasticsearch.pid"
url="http://127.0.0.1:$port"
es_user=caigou-es

say() { echo "elasticsearch.sh: $*" >&2; }

java_home() {
  if [ -n "${CAIGOU_ES_JAVA_HOME:-}" ]; then
    echo "$CAIGOU_ES_JAVA_HOME"
  elif [ "${version%%.*}" -ge 9 ] && [ -x "$(printf '%s\n' /usr/lib/jvm/temurin-* | sort -V | tail -n 1)/bin/java" ]; then
    # 9.x needs JDK 21+: the newest Temurin JDK on the machine.
    printf '%s\n' /usr/lib/jvm/temurin-* | sort -V | tail -n 1
  else
    # 8.x (or no Temurin): the default JDK, 17 on Debian 12.
    dirname "$(dirname "$(readlink -f "$(command -v java)")")"
  fi
}

as_es() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$es_user" -- "$@"; else "$@"; fi
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

running_pid() {
  local pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

install_elasticsearch() {
  if ! command -v unzip >/dev/null || ! command -v curl >/dev/null || ! command -v mvn >/dev/null; then
    say "installing unzip, curl and maven from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq unzip curl maven >/dev/null
  fi
  if [ ! -x "$home/bin/elasticsearch" ]; then
    say "fetching Elasticsearch $version from Maven Central"
    mkdir -p "$dir"
    local tmp
    tmp=$(mktemp -d "$dir/.fetch.XXXXXX")
    if ! mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
        -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$version:zip" \
        -DoutputDirectory="$tmp" >"$tmp/mvn.log" 2>&1; then
      say "could not fetch Elasticsearch $version with Maven:"
      grep -v '^\s*$' "$tmp/mvn.log" | head -n 20 >&2
      rm -rf "$tmp"
      exit 1
    fi
    unzip -q "$tmp/elasticsearch-$version.zip" -d "$tmp"
    rm -rf "$home"
    mv "$tmp/elasticsearch-$version" "$home"
    rm -rf "$tmp"
  fi
  if [ "$(id -u)" = 0 ] && ! id "$es_user" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$es_user"
  fi
}

configure() {
  mkdir -p "$node"
  if [ ! -d "$node/config" ]; then
    cp -r "$home/config" "$node/config"
  fi
  mkdir -p "$node/data" "$node/logs" "$node/tmp" "$node/config/jvm.options.d"
  cat >"$node/config/elasticsearch.yml" <<EOF
# Written by scripts/elasticsearch.sh; rewritten on every start.
cluster.name: caigou-test
node.name: caigou-es-$port
network.host: 127.0.0.1
http.port: $port
discovery.type: single-node
path.data: $node/data
path.logs: $node/logs
xpack.security.enabled: false
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
EOF
  printf -- '-Xms%s\n-Xmx%s\n' "$heap" "$heap" >"$node/config/jvm.options.d/caigou.options"
  if [ "$(id -u)" = 0 ]; then chown -R "$es_user:" "$node"; fi
}

wait_healthy() {
  local deadline=$((SECONDS + 120))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if curl -fsS -o /dev/null --max-time 10 "$url/_cluster/health?wait_for_status=yellow&timeout=5s" 2>/dev/null; then
      return 0
    fi
    running_pid >/dev/null || break
    sleep 1
  done
  say "Elasticsearch on $url did not become healthy; log tail:"
  tail -n 60 "$node/logs/caigou-test.log" >&2 2>/dev/null || true
  return 1
}

case "${1:-}" in
  start)
    if ! running_pid >/dev/null; then
      if port_in_use; then
        say "port $port is taken by another process (not this script's $version in $dir); set CAIGOU_ES_PORT"
        exit 1
      fi
      install_elasticsearch
      configure
      jh=$(java_home)
      [ -x "$jh/bin/java" ] || { say "no JDK found for Elasticsearch $version (set CAIGOU_ES_JAVA_HOME)"; exit 1; }
      rm -f "$pidfile"
      # -d daemonises and returns once the node has started (or failed to); stderr carries the errors.
      if ! as_es env ES_JAVA_HOME="$jh" ES_PATH_CONF="$node/config" ES_TMPDIR="$node/tmp" ES_JAVA_OPTS="${ES_JAVA_OPTS:-}" \
          JAVA_HOME= "$home/bin/elasticsearch" -d -p "$pidfile" >"$node/logs/startup.out" 2>&1; then
        say "Elasticsearch failed to start:"
        tail -n 40 "$node/logs/startup.out" >&2 || true
        tail -n 60 "$node/logs/caigou-test.log" >&2 2>/dev/null || true
        exit 1
      fi
    fi
    wait_healthy
    echo "$url"
    ;;
  stop)
    if pid=$(running_pid); then
      kill "$pid"
      for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
      rm -f "$pidfile"
    fi
    ;;
  status)
    if pid=$(running_pid); then
      echo "elasticsearch $version running on $url (pid $pid)"
    else
      if port_in_use; then
        echo "elasticsearch $version (in $dir) not running, but another process listens on $url"
      else
        echo "elasticsearch not running on $url"
      fi
      exit 3
    fi
    ;;
  url)
    echo "$url"
    ;;
  *)
    echo "usage: $0 start|stop|status|url" >&2
    exit 2
    ;;
esac
