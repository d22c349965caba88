#!/usr/bin/env bash
# scripts/deps.sh: install the Debian packages the build, tests and benchmarks
# need. Idempotent: when every package is present it only runs dpkg-query and
# exits, so `make test` and `make run` can call it every time.
set -eu

PKGS="build-essential pkg-config liburing-dev liblua5.4-dev lua5.4 libfyaml-dev uuid-dev libssl-dev libpcre2-dev
      libsqlite3-dev libcurl4-openssl-dev libpq-dev postgresql zlib1g-dev nats-server libnats-dev
      curl wrk nginx-light clang libclang-rt-14-dev procps tmux
      python3-prometheus-client"

# `deps.sh bench` (make bench) adds what only the benchmarks' baselines
# need: Erlang for bench/messages.sh, nginx's Lua module and cjson for
# bench/http_spawn.sh's OpenResty-style handlers.
BENCH_PKGS="erlang-base libnginx-mod-http-lua lua-cjson"
[ "${1:-}" = bench ] && PKGS="$PKGS $BENCH_PKGS"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# nginx-light must not start a system nginx on port 80: the benchmarks run
# their own instance on loopback.
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true; fi
$SUDO service nginx stop >/dev/null 2>&1 || true
