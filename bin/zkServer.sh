#!/usr/bin/env bash
# zkServer.sh for Rookery: Apache ZooKeeper's bin/zkServer.sh (3.8) commands, environment,
# messages and exit codes, running `rookery server` where ZooKeeper runs java, so that runbooks
# and tools written for ZooKeeper work unchanged.
#
#   zkServer.sh [--config <conf-dir>] {start|start-foreground|stop|version|restart|status|print-cmd} [cfg]
#
# As in ZooKeeper: the configuration is $ZOOCFGDIR/$ZOOCFG (default <this dir>/../conf/zoo.cfg,
# else /etc/rookery/zoo.cfg); `cfg` names another file in $ZOOCFGDIR, or any path with a slash;
# logs go to $ZOO_LOG_DIR (default <this dir>/../logs, else /var/log/rookery);
# $ZOOCFGDIR/zookeeper-env.sh is sourced; the PID file is $ZOOPIDFILE (default
# dataDir/zookeeper_server.pid); `start` writes the server's output to
# $ZOO_LOG_DIR/zookeeper-$USER-server-$HOSTNAME.out.
#
# Where it differs, on purpose: no java or JMX; `start` waits for the server to bind its client
# port (up to $ZOO_START_TIMEOUT seconds, default 10) instead of sleeping 1 s; `stop` waits for
# the process to exit (up to $ZOO_STOP_TIMEOUT, default 15) instead of sleeping 1 s, signals the
# PID only if it is a rookery process, and exits 1 if it is still running; `restart` therefore
# needs no sleep. The rookery binary is $ROOKERY, else found next to this script, in the source
# tree's target/release, in <prefix>/bin of an installed tree, or on $PATH.

ZOOBIN="${BASH_SOURCE-$0}"
ZOOBIN="$(dirname "${ZOOBIN}")"
ZOOBINDIR="$(cd "${ZOOBIN}"; pwd)"

# zkEnv.sh: --config <conf-dir> before the command.
if [ $# -gt 1 ] && [ "--config" = "$1" ]; then
  shift
  ZOOCFGDIR=$1
  shift
fi
# A source tree or unpacked tarball has conf/ and logs/ next to bin/; an installed tree
# ($(PREFIX)/share/rookery/bin) uses /etc/rookery and /var/log/rookery, as Debian's ZooKeeper.
if [ -e "$ZOOBINDIR/../conf" ]; then
  ZOO_TREE="$(cd "$ZOOBINDIR/.."; pwd)"
fi
if [ "x$ZOOCFGDIR" = "x" ]; then
  if [ -n "$ZOO_TREE" ]; then
    ZOOCFGDIR="$ZOO_TREE/conf"
  else
    ZOOCFGDIR="/etc/rookery"
  fi
fi
# Kept for `restart`, which runs this script again.
export ZOOCFGDIR
if [ -f "${ZOOCFGDIR}/zookeeper-env.sh" ]; then
  . "${ZOOCFGDIR}/zookeeper-env.sh"
fi
if [ "x$ZOOCFG" = "x" ]; then
  ZOOCFG="zoo.cfg"
fi
ZOOCFG_NAME="$ZOOCFG"
ZOOCFG="$ZOOCFGDIR/$ZOOCFG"
if [ "x${ZOO_LOG_DIR}" = "x" ]; then
  if [ -n "$ZOO_TREE" ]; then
    ZOO_LOG_DIR="$ZOO_TREE/logs"
  else
    ZOO_LOG_DIR="/var/log/rookery"
  fi
fi

if [ "x$ROOKERY" = "x" ]; then
  for candidate in "$ZOOBINDIR/rookery" "$ZOOBINDIR/../target/release/rookery" "$ZOOBINDIR/../../../bin/rookery" \
    "$(command -v rookery 2>/dev/null)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && [ ! -d "$candidate" ]; then
      ROOKERY="$candidate"
      break
    fi
  done
fi
if [ "x$ROOKERY" = "x" ]; then
  echo "Error: the rookery binary was not found (set ROOKERY, or put rookery on PATH)." 1>&2
  exit 1
fi

if [ "x$2" != "x" ]; then
  ZOOCFG="$ZOOCFGDIR/$2"
  # A path with directories is taken as it is, as ZooKeeper does.
  if [ "x$(dirname "$ZOOCFG")" != "x$ZOOCFGDIR" ]; then
    ZOOCFG="$2"
  fi
fi

echo "Using config: $ZOOCFG" >&2

# The value of a key in the configuration, as zkServer.sh reads it (last line wins, spaces cut).
cfg_value() {
  grep "^[[:space:]]*$1[[:space:]]*=" "$ZOOCFG" 2>/dev/null | tail -n 1 | sed -e 's/^[^=]*=//' \
    -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//'
}

ZOO_DATADIR="$(cfg_value dataDir)"

if [ -z "$ZOOPIDFILE" ]; then
  if [ -n "$ZOO_DATADIR" ] && [ ! -d "$ZOO_DATADIR" ]; then
    mkdir -p "$ZOO_DATADIR"
  fi
  ZOOPIDFILE="$ZOO_DATADIR/zookeeper_server.pid"
else
  # ensure it exists, otherwise stop will fail
  mkdir -p "$(dirname "$ZOOPIDFILE")"
fi

if [ ! -w "$ZOO_LOG_DIR" ]; then
  mkdir -p "$ZOO_LOG_DIR"
fi

_ZOO_DAEMON_OUT="$ZOO_LOG_DIR/zookeeper-$USER-server-$HOSTNAME.out"

# True if the PID runs the rookery binary (so a stale PID file never signals another program).
is_rookery() {
  local pid=$1
  kill -0 "$pid" > /dev/null 2>&1 || return 1
  if [ -r "/proc/$pid/cmdline" ]; then
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "rookery"
  else
    ps -p "$pid" -o args= 2> /dev/null | grep -q "rookery"
  fi
}

case $1 in
start)
  echo -n "Starting zookeeper ... "
  if [ -f "$ZOOPIDFILE" ]; then
    if kill -0 "$(cat "$ZOOPIDFILE")" > /dev/null 2>&1; then
      echo "already running as process $(cat "$ZOOPIDFILE")."
      exit 1
    fi
  fi
  nohup "$ROOKERY" server "$ZOOCFG" > "$_ZOO_DAEMON_OUT" 2>&1 < /dev/null &
  pid=$!
  if ! /bin/echo -n "$pid" > "$ZOOPIDFILE"; then
    echo FAILED TO WRITE PID
    exit 1
  fi
  # The server prints "serving clients on ..." once recovery is done and the port is bound.
  deadline=$((SECONDS + ${ZOO_START_TIMEOUT:-10}))
  while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$pid" > /dev/null 2>&1; then
      echo FAILED TO START
      tail -n 20 "$_ZOO_DAEMON_OUT" >&2
      rm -f "$ZOOPIDFILE"
      exit 1
    fi
    if grep -q "serving clients on" "$_ZOO_DAEMON_OUT" 2> /dev/null; then
      break
    fi
    sleep 0.1
  done
  if ps -p "$pid" > /dev/null 2>&1; then
    echo STARTED
  else
    echo FAILED TO START
    exit 1
  fi
  ;;
start-foreground)
  ZOO_CMD=(exec "$ROOKERY")
  if [ "${ZOO_NOEXEC}" != "" ]; then
    ZOO_CMD=("$ROOKERY")
  fi
  "${ZOO_CMD[@]}" server "$ZOOCFG"
  ;;
print-cmd)
  echo "\"$ROOKERY\" server \"$ZOOCFG\" > \"$_ZOO_DAEMON_OUT\" 2>&1 < /dev/null"
  ;;
stop)
  echo -n "Stopping zookeeper ... "
  if [ ! -f "$ZOOPIDFILE" ]; then
    echo "no zookeeper to stop (could not find file $ZOOPIDFILE)"
  else
    pid="$(cat "$ZOOPIDFILE")"
    if is_rookery "$pid"; then
      # SIGTERM: the server answers the requests in flight, closes client connections (their
      # sessions stay) and exits 0.
      kill "$pid"
      deadline=$((SECONDS + ${ZOO_STOP_TIMEOUT:-15}))
      while kill -0 "$pid" > /dev/null 2>&1 && [ $SECONDS -lt $deadline ]; do
        sleep 0.1
      done
      if kill -0 "$pid" > /dev/null 2>&1; then
        echo "NOT STOPPED: process $pid still running after ${ZOO_STOP_TIMEOUT:-15} s"
        exit 1
      fi
    elif kill -0 "$pid" > /dev/null 2>&1; then
      echo "process $pid (from $ZOOPIDFILE) is not rookery; not signalled" >&2
    fi
    rm "$ZOOPIDFILE"
    echo STOPPED
  fi
  exit 0
  ;;
version)
  "$ROOKERY" version
  ;;
restart)
  shift
  # The configuration's name as given, not the path made of it here.
  ZOOCFG="$ZOOCFG_NAME" "$0" stop ${@}
  ZOOCFG="$ZOOCFG_NAME" "$0" start ${@}
  ;;
status)
  isSSL="false"
  clientPortAddress="$(cfg_value clientPortAddress)"
  if ! [ "$clientPortAddress" ]; then
    clientPortAddress="localhost"
  fi
  clientPort="$(cfg_value clientPort)"
  if ! [[ "$clientPort" =~ ^[0-9]+$ ]]; then
    dataDir="$(cfg_value dataDir)"
    myid=$(cat "$dataDir/myid" 2> /dev/null)
    if ! [[ "$myid" =~ ^[0-9]+$ ]]; then
      echo "myid could not be determined, will not able to locate clientPort in the server configs."
    else
      clientPortAndAddress=$(grep "^[[:space:]]*server.$myid=.*;.*" "$ZOOCFG" | sed -e 's/.*=//' | sed -e 's/.*;//')
      if [ ! "$clientPortAndAddress" ]; then
        echo "Client port not found in the server configs"
      else
        if [[ "$clientPortAndAddress" =~ ^.*:[0-9]+ ]]; then
          if [[ "$clientPortAndAddress" =~ \[.*\]:[0-9]+ ]]; then
            # Extracts address from address:port for example extracts 127::1 from "[127::1]:2181"
            clientPortAddress=$(echo "$clientPortAndAddress" | sed -e 's|\[||' | sed -e 's|\]:.*||')
          else
            clientPortAddress=$(echo "$clientPortAndAddress" | sed -e 's/:.*//')
          fi
        fi
        clientPort=$(echo "$clientPortAndAddress" | sed -e 's/.*://')
      fi
    fi
  fi
  if [ ! "$clientPort" ]; then
    echo "Client port not found. Looking for secureClientPort in the static config."
    echo "Unable to find either secure or unsecure client port in any configs. Terminating."
    exit 1
  fi
  echo "Client port found: $clientPort. Client address: $clientPortAddress. Client SSL: $isSSL."
  # srvr over bash's /dev/tcp, bounded in time; its "Mode: ..." line is the answer.
  STAT=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf srvr >&3 && cat <&3' _ \
    "$clientPortAddress" "$clientPort" 2> /dev/null | grep Mode)
  if [ "x$STAT" = "x" ]; then
    echo "Error contacting service. It is probably not running."
    exit 1
  else
    echo $STAT
    exit 0
  fi
  ;;
*)
  echo "Usage: $0 [--config <conf-dir>] {start|start-foreground|stop|version|restart|status|print-cmd}" >&2
  ;;
esac
