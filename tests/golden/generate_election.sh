#!/bin/sh
# Regenerates tests/testdata/election/ (FLE notifications, election-port initial messages, and the
# vote order table) from the Apache ZooKeeper 3.8 jars (Debian's `zookeeper` package) with
# tests/golden/GoldenElection.java. Idempotent: the output directory is rebuilt each run.
# Usage: tests/golden/generate_election.sh   (from anywhere)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../testdata/election"
jars=${ZK_JARS:-/usr/share/java}
[ -f "$jars/zookeeper.jar" ] || { echo "missing $jars/zookeeper.jar (apt-get install zookeeper)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
javac -encoding UTF-8 -nowarn -proc:none -cp "$jars/*" -d "$tmp/classes" "$here/GoldenElection.java"
mkdir -p "$tmp/out"
# ZooKeeper logs through slf4j; with no binding on the class path it prints one warning and is quiet.
java -cp "$tmp/classes:$jars/zookeeper.jar:$jars/zookeeper-jute.jar:$jars/slf4j-api.jar" \
    org.apache.zookeeper.server.quorum.GoldenElection "$tmp/out"
rm -rf "$out"
mkdir -p "$out"
cp "$tmp/out"/* "$out"/
echo "  copied to $out"
