#!/usr/bin/env bash
# `make bench`: starts a release Rookery on a fresh data directory (forceSync on, loopback, an
# OS-chosen port), loads it with `rookery bench`, and prints the figures. Stops only the server
# it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./target/release/rookery
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=0
clientPortAddress=127.0.0.1
forceSync=yes
maxClientCnxns=0
4lw.commands.whitelist=*
CFG
RUST_LOG=warn "$bin" server "$dir/zoo.cfg" > "$dir/out" 2> "$dir/err" &
pid=$!
for _ in $(seq 100); do grep -q serving "$dir/out" 2>/dev/null && break; sleep 0.05; done
addr=$(awk '/serving/ {print $NF}' "$dir/out")
echo "# Rookery $("$bin" version) on $(nproc) cores, $(date -u +%Y-%m-%d), data on $(df --output=source "$dir" | tail -1)"
for clients in 1 32 128; do
  echo "## create, $clients clients"
  "$bin" bench --hosts "$addr" --clients "$clients" --duration "${BENCH_SECONDS:-5}" --op create
done
echo "## get, 32 clients"
"$bin" bench --hosts "$addr" --clients 32 --duration "${BENCH_SECONDS:-5}" --op get
