#!/usr/bin/env bash
# A real Spark standalone cluster on 127.0.0.1: one master and N workers, from the Spark that pyspark ships; and
# a Spark Connect server with Delta on its classpath, for running the jobs as a Connect client (SPARK_REMOTE).
#
#   scripts/local_cluster.sh start [WORKERS]   # prints the master URL (spark://127.0.0.1:7077)
#   scripts/local_cluster.sh connect [MASTER] [--conf k=v ...]   # prints the server's URL (sc://127.0.0.1:15002);
#                                              # MASTER: local[*] (default) or the master URL above
#   scripts/local_cluster.sh stop              # stops all of them
#   scripts/local_cluster.sh status
#
# Environment: PYTHON (default .venv/bin/python), CLUSTER_DIR (pid files and logs, default .cluster),
# SPARK_MASTER_PORT (7077), SPARK_MASTER_WEBUI_PORT (8080), WORKER_CORES (1), WORKER_MEMORY (2g),
# SPARK_CONNECT_PORT (15002).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
CLUSTER_DIR=${CLUSTER_DIR:-.cluster}
MASTER_PORT=${SPARK_MASTER_PORT:-7077}
WEBUI_PORT=${SPARK_MASTER_WEBUI_PORT:-8080}
WORKER_CORES=${WORKER_CORES:-1}
WORKER_MEMORY=${WORKER_MEMORY:-2g}
CONNECT_PORT=${SPARK_CONNECT_PORT:-15002}
HOST=127.0.0.1
MASTER_URL="spark://${HOST}:${MASTER_PORT}"

spark_home() { "$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))'; }

launch() {  # name, class, args...: run spark-class in the background, remember its pid
  local name=$1; shift
  SPARK_LOCAL_IP=$HOST PYSPARK_PYTHON="$(realpath "$PYTHON")" SPARK_LOG_DIR="$CLUSTER_DIR" \
    nohup "$(spark_home)/bin/spark-class" "$@" > "$CLUSTER_DIR/$name.log" 2>&1 &
  echo $! > "$CLUSTER_DIR/$name.pid"
}

wait_for_log() {  # file, pattern, what: up to 120 s (CI starts it beside the test suite)
  for _ in $(seq 120); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 1
  done
  echo "local_cluster: $3 did not start; last lines of $1:" >&2
  tail -n 20 "$1" >&2
  return 1
}

start() {
  local workers=${1:-1}
  mkdir -p "$CLUSTER_DIR"
  if [ -f "$CLUSTER_DIR/master.pid" ] && kill -0 "$(cat "$CLUSTER_DIR/master.pid")" 2>/dev/null; then
    echo "local_cluster: already running at $MASTER_URL" >&2
    echo "$MASTER_URL"
    return 0
  fi
  launch master org.apache.spark.deploy.master.Master --host "$HOST" --port "$MASTER_PORT" --webui-port "$WEBUI_PORT"
  wait_for_log "$CLUSTER_DIR/master.log" "Starting Spark master" "master" || { stop; return 1; }
  wait_for_log "$CLUSTER_DIR/master.log" "I have been elected leader" "master" || { stop; return 1; }
  for i in $(seq "$workers"); do
    launch "worker-$i" org.apache.spark.deploy.worker.Worker "$MASTER_URL" --host "$HOST" \
      --cores "$WORKER_CORES" --memory "$WORKER_MEMORY" --work-dir "$CLUSTER_DIR/work-$i"
    wait_for_log "$CLUSTER_DIR/worker-$i.log" "Successfully registered with master" "worker $i" || { stop; return 1; }
  done
  echo "local_cluster: master and $workers worker(s) up; logs in $CLUSTER_DIR" >&2
  echo "$MASTER_URL"
}

connect() {  # master, spark-submit options...: the server's driver runs here, with the Delta jars of the install
  local master=${1:-local[*]}
  [ $# -gt 0 ] && shift
  mkdir -p "$CLUSTER_DIR"
  if [ -f "$CLUSTER_DIR/connect.pid" ] && kill -0 "$(cat "$CLUSTER_DIR/connect.pid")" 2>/dev/null; then
    echo "local_cluster: Spark Connect server already running" >&2
    echo "sc://${HOST}:${CONNECT_PORT}"
    return 0
  fi
  local jars
  jars=$("$PYTHON" -c 'from clvlake.jars import cached_jars; print(",".join(cached_jars() or []))')
  [ -n "$jars" ] || { echo "local_cluster: no Delta jars cached: run 'make install' first" >&2; return 1; }
  # a task per core of this machine for Delta's log replay and file listings, as `clv` sets them on a session it is
  # given (clvlake.session.sized_to_cores); a Connect client cannot know the server's cores
  local per_core
  read -r -a per_core <<< "$("$PYTHON" -c 'import os; from clvlake.session import sized_to_cores
print(" ".join(f"--conf {k}={v}" for k, v in sized_to_cores(os.cpu_count() or 1).items()))')"
  launch connect org.apache.spark.deploy.SparkSubmit --master "$master" \
    --class org.apache.spark.sql.connect.service.SparkConnectServer --jars "$jars" \
    --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
    --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
    --conf spark.sql.session.timeZone=UTC --conf spark.ui.enabled=false \
    "${per_core[@]}" \
    --conf "spark.connect.grpc.binding.address=$HOST" --conf "spark.connect.grpc.binding.port=$CONNECT_PORT" "$@"
  wait_for_log "$CLUSTER_DIR/connect.log" "Spark Connect server started" "Spark Connect server" || { stop; return 1; }
  echo "local_cluster: Spark Connect server up (master $master); log in $CLUSTER_DIR/connect.log" >&2
  echo "sc://${HOST}:${CONNECT_PORT}"
}

stop() {
  local pidfile
  for pidfile in "$CLUSTER_DIR"/*.pid; do
    [ -e "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  echo "local_cluster: stopped" >&2
}

status() {
  local pidfile any=1
  for pidfile in "$CLUSTER_DIR"/*.pid; do
    [ -e "$pidfile" ] || continue
    if kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "$(basename "$pidfile" .pid): running (pid $(cat "$pidfile"))"; any=0
    fi
  done
  return $any
}

case "${1:-}" in
  start) start "${2:-1}" ;;
  connect) shift; connect "$@" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start [WORKERS] | connect [MASTER] [--conf k=v ...] | stop | status" >&2; exit 2 ;;
esac
