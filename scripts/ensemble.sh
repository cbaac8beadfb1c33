#!/usr/bin/env bash
# A 3-server ensemble on one host, from conf/ensemble/zoo{1,2,3}.cfg.
#
#   scripts/ensemble.sh start    create data/ensemble/N/myid and start the servers not running
#   scripts/ensemble.sh stop     stop the servers named by the PID files
#   scripts/ensemble.sh status   rookery status conf/ensemble/zoo1.cfg
#
# Server N logs to data/ensemble/N/server.log and keeps its PID in data/ensemble/N/rookery.pid.
# Both commands are idempotent. The binary is not built here: `make ensemble` builds it first.
set -eu

cd "$(dirname "$0")/.."

BIN=./target/release/rookery
IDS="1 2 3"
STOP_WAIT_S=10
START_WAIT_S=10

dir_of() { echo "data/ensemble/$1"; }
cfg_of() { echo "conf/ensemble/zoo$1.cfg"; }
pid_file_of() { echo "$(dir_of "$1")/rookery.pid"; }

# The PID in server N's PID file if it names a live rookery started on that server's config,
# else nothing. A PID reused by another process does not count.
live_pid() {
    local file pid args
    file=$(pid_file_of "$1")
    [ -f "$file" ] || return 0
    pid=$(head -n 1 "$file")
    case "$pid" in '' | *[!0-9]*) return 0 ;; esac
    args=$(ps -p "$pid" -o args= 2>/dev/null) || return 0
    case "$args" in
        *rookery*" server "*"$(cfg_of "$1")"*) echo "$pid" ;;
    esac
}

# Whether process $1 exists and has not exited (an exited one may linger as a zombie until its
# new parent reaps it, and kill -0 still reaches that).
alive() {
    local state
    state=$(ps -p "$1" -o stat= 2>/dev/null) || return 1
    case "$state" in Z*) return 1 ;; esac
}

# The "serving clients on" line of server N's latest run (after the last "===" line), if any.
serving_line() {
    awk '/^=== /{l=""} /serving clients on/{l=$0} END{if(l!="")print l}' "$(dir_of "$1")/server.log"
}

start() {
    if [ ! -x "$BIN" ]; then
        echo "ensemble: $BIN not found; run 'make ensemble' (or 'cargo build --release') first" >&2
        exit 1
    fi
    local n dir pid log started=""
    for n in $IDS; do
        dir=$(dir_of "$n")
        mkdir -p "$dir"
        echo "$n" >"$dir/myid"
        pid=$(live_pid "$n")
        if [ -n "$pid" ]; then
            echo "server $n: already running (pid $pid)"
            continue
        fi
        rm -f "$(pid_file_of "$n")"
        log="$dir/server.log"
        echo "=== $(date '+%Y-%m-%d %H:%M:%S') $BIN server $(cfg_of "$n")" >>"$log"
        nohup "$BIN" server "$(cfg_of "$n")" </dev/null >>"$log" 2>&1 &
        echo "$!" >"$(pid_file_of "$n")"
        started="$started $n"
    done
    [ -n "$started" ] || return 0

    # Wait until each new server prints its "serving clients on" line, or exits. In an ensemble
    # a server may serve only once a quorum is up, so all are started before waiting.
    local waiting="$started" still line failed="" deadline=$((SECONDS + START_WAIT_S))
    while [ -n "$waiting" ] && [ "$SECONDS" -lt "$deadline" ]; do
        still=""
        for n in $waiting; do
            pid=$(head -n 1 "$(pid_file_of "$n")")
            if ! alive "$pid"; then
                failed="$failed $n"
                rm -f "$(pid_file_of "$n")"
            elif line=$(serving_line "$n") && [ -n "$line" ]; then
                echo "server $n: started (pid $pid): $line"
            else
                still="$still $n"
            fi
        done
        waiting=$still
        [ -z "$waiting" ] || sleep 0.1
    done
    for n in $waiting; do
        echo "server $n: started (pid $(head -n 1 "$(pid_file_of "$n")")), not serving clients yet"
    done
    if [ -n "$failed" ]; then
        for n in $failed; do
            echo "server $n: exited at start; the end of $(dir_of "$n")/server.log:" >&2
            tail -n 5 "$(dir_of "$n")/server.log" | sed 's/^/    /' >&2
        done
        exit 1
    fi
}

stop() {
    local n pid entry pids="" left deadline
    for n in $IDS; do
        pid=$(live_pid "$n")
        if [ -n "$pid" ]; then
            kill -TERM "$pid" 2>/dev/null || true
            pids="$pids $n:$pid"
        elif [ -f "$(pid_file_of "$n")" ]; then
            echo "server $n: not running (removing a stale PID file)"
            rm -f "$(pid_file_of "$n")"
        else
            echo "server $n: not running"
        fi
    done
    # SIGTERM, then up to STOP_WAIT_S seconds, then SIGKILL.
    deadline=$((SECONDS + STOP_WAIT_S))
    while :; do
        left=""
        for entry in $pids; do
            if alive "${entry#*:}"; then left="$left $entry"; fi
        done
        if [ -z "$left" ] || [ "$SECONDS" -ge "$deadline" ]; then break; fi
        sleep 0.1
    done
    for entry in $left; do
        echo "server ${entry%%:*}: still running after ${STOP_WAIT_S}s, sending SIGKILL"
        kill -KILL "${entry#*:}" 2>/dev/null || true
    done
    for entry in $pids; do
        n=${entry%%:*}
        pid=${entry#*:}
        deadline=$((SECONDS + 5))
        while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
        rm -f "$(pid_file_of "$n")"
        echo "server $n: stopped (pid $pid)"
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) exec "$BIN" status "$(cfg_of 1)" ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
