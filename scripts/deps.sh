#!/usr/bin/env bash
# Installs what the tests need, idempotently: Apache ZooKeeper 3.8 from Debian (the reference
# server jars, zkCli.sh and the C client cli_mt), systemd-analyze, and kazoo, pure-sasl and
# prometheus_client (whose text parser checks the metrics endpoint) in a project-local virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/share/zookeeper/bin/zkCli.sh ] || need_apt+=(zookeeper zookeeper-bin)
[ -x /usr/lib/zookeeper/bin/cli_mt ] || need_apt+=(zookeeper-bin libzookeeper-mt-dev)
command -v java >/dev/null || need_apt+=(default-jre-headless)
# openssl s_client talks to the TLS client port in tests/security.rs.
command -v openssl >/dev/null || need_apt+=(openssl)
# `script` runs the CLI's interactive test in a pseudo-terminal.
command -v script >/dev/null || need_apt+=(bsdutils)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# systemd-analyze verify checks the unit files in conf/ (tests/systemd.rs).
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# pure-sasl: kazoo's SASL (DIGEST-MD5) support; cryptography: the TLS tests' certificates.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import kazoo, prometheus_client, puresasl, cryptography' 2>/dev/null; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check kazoo prometheus_client pure-sasl cryptography
fi
