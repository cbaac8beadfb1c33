#!/bin/sh
# Regenerates tests/testdata/jute/*.hex and tests/testdata/disk/ (a txn log and a snapshot) from
# the Apache ZooKeeper 3.8 jars (Debian's `zookeeper` package). Idempotent: the output directory is rebuilt from scratch each run.
# Usage: tests/golden/generate.sh   (from anywhere)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../testdata/jute"
jars=${ZK_JARS:-/usr/share/java}
cp="$jars/zookeeper.jar:$jars/zookeeper-jute.jar"
for j in zookeeper.jar zookeeper-jute.jar; do
    [ -f "$jars/$j" ] || { echo "missing $jars/$j (apt-get install zookeeper)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
javac -encoding UTF-8 -nowarn -cp "$cp" -d "$tmp/classes" "$here/GoldenRecords.java"
mkdir -p "$tmp/out"
java -cp "$cp:$tmp/classes" GoldenRecords "$tmp/out"
mkdir -p "$out"
rm -f "$out"/*.hex
cp "$tmp/out"/*.hex "$out"/
echo "  copied to $out"
disk="$here/../testdata/disk"
rm -rf "$disk" && mkdir -p "$disk"
javac -encoding UTF-8 -nowarn -proc:none -cp "$jars/*" -d "$tmp/files" "$here/GoldenFiles.java"
java -cp "$jars/*:$tmp/files" GoldenFiles "$disk" 2>/dev/null
echo "  wrote $disk"
"$here/generate_election.sh"
