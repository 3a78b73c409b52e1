#!/usr/bin/env bash
# Team mode on one machine: an MLflow tracking server, a Prefect server, the `lstm-pipeline` process
# work pool, the deployments of prefect.yaml and a worker. Everything binds to 127.0.0.1.
#
#   scripts/team.sh up       start what is not running, create the pool, deploy, start the worker
#   scripts/team.sh down     stop the worker, then the servers (each as a whole process group)
#   scripts/team.sh status   what runs, on which port, and where its log is
#   scripts/team.sh env      the exports that point a shell at team mode: eval "$(scripts/team.sh env)"
#   scripts/team.sh deploy   deploy prefect.yaml again (after editing it, or to change LSTM_PIPELINE_HOME)
#   scripts/team.sh servers  start only the two servers (no pool, deployments or worker)
#
# Settings (environment variables):
#   TEAM_MLFLOW_PORT   MLflow tracking server port (default 5000)
#   TEAM_PREFECT_PORT  Prefect server port (default 4200)
#   TEAM_DIR           state: MLflow database and artifacts, Prefect home, logs, pid files
#                      (default: <checkout>/.team, ignored by git)
#   LSTM_PIPELINE_HOME where flow runs write outputs/ (recorded in the deployments at deploy time;
#                      default: beside the checkout)
#   TEAM_MLFLOW_AUTH   1: MLflow asks for a user and password (its basic-auth app). The admin password
#                      is generated once into $TEAM_DIR/mlflow/auth.ini (mode 0600); `env` exports
#                      MLFLOW_TRACKING_USERNAME/PASSWORD, and the worker passes them to flow runs.
#   TEAM_PREFECT_AUTH  1: the Prefect server asks for an auth string, generated once into
#                      $TEAM_DIR/prefect/auth-string (mode 0600); `env` exports PREFECT_API_AUTH_STRING.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
BIN=${TEAM_VENV_BIN:-$ROOT/.venv/bin}
TEAM_DIR=${TEAM_DIR:-$ROOT/.team}
MLFLOW_PORT=${TEAM_MLFLOW_PORT:-5000}
PREFECT_PORT=${TEAM_PREFECT_PORT:-4200}
HOST=127.0.0.1
POOL=lstm-pipeline
MLFLOW_URL=http://$HOST:$MLFLOW_PORT
PREFECT_URL=http://$HOST:$PREFECT_PORT
LOGS=$TEAM_DIR/logs
RUN=$TEAM_DIR/run
MLFLOW_AUTH_FILE=$TEAM_DIR/mlflow/auth.ini
MLFLOW_SECRET_FILE=$TEAM_DIR/mlflow/flask-secret-key
PREFECT_AUTH_FILE=$TEAM_DIR/prefect/auth-string

# What each process group must contain in `ps` before we signal it (guards against a stale pid file
# whose number now belongs to someone else).
pattern_of() {
    case $1 in
    mlflow) echo mlflow ;;
    *) echo prefect ;;
    esac
}

say() { printf '%s\n' "$*"; }
die() { printf 'team.sh: %s\n' "$*" >&2; exit 1; }

# Everything below talks to the team servers, with the venv's tools first on PATH
# (`mlflow models serve --env-manager local` looks uvicorn up on PATH).
export PATH="$BIN:$PATH"
export PREFECT_API_URL=$PREFECT_URL/api
export PREFECT_HOME=$TEAM_DIR/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export MLFLOW_TRACKING_URI=$MLFLOW_URL
export NO_PROXY=${NO_PROXY:+$NO_PROXY,}127.0.0.1,localhost
export no_proxy=$NO_PROXY

# A secret, generated once, readable by its owner only.
new_secret() { "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(24))'; }

mlflow_password() { sed -n 's/^admin_password = //p' "$MLFLOW_AUTH_FILE"; }

# Clients (this script, the worker and the flow runs it starts) use the credentials when they exist;
# a server without auth ignores them.
load_credentials() {
    if [[ -f $MLFLOW_AUTH_FILE ]]; then
        export MLFLOW_TRACKING_USERNAME=admin
        MLFLOW_TRACKING_PASSWORD=$(mlflow_password)
        export MLFLOW_TRACKING_PASSWORD
    fi
    if [[ -f $PREFECT_AUTH_FILE ]]; then
        PREFECT_API_AUTH_STRING=$(cat "$PREFECT_AUTH_FILE")
        export PREFECT_API_AUTH_STRING
    fi
}
load_credentials

# The basic-auth app's config: users in their own SQLite file, the admin's password generated here
# (MLflow has none by default), other users may read but not write unless granted.
ensure_mlflow_auth() {
    [[ -f $MLFLOW_SECRET_FILE ]] || (umask 077 && new_secret >"$MLFLOW_SECRET_FILE")
    [[ -f $MLFLOW_AUTH_FILE ]] && return
    local password
    password=$(new_secret)
    (
        umask 077
        printf '%s\n' "[mlflow]" "default_permission = READ" \
            "database_uri = sqlite:///$TEAM_DIR/mlflow/basic_auth.db" "admin_username = admin" \
            "admin_password = $password" \
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth" >"$MLFLOW_AUTH_FILE"
    )
    say "mlflow: basic auth on; user admin, password in $MLFLOW_AUTH_FILE (readable by you only)"
}

ensure_prefect_auth() {
    [[ -f $PREFECT_AUTH_FILE ]] && return
    local secret
    secret=$(new_secret)
    (umask 077 && printf 'admin:%s\n' "$secret" >"$PREFECT_AUTH_FILE")
    say "prefect: auth string on; it is in $PREFECT_AUTH_FILE (readable by you only)"
}

pgid_of() { [[ -f $RUN/$1.pid ]] && cat "$RUN/$1.pid"; }

# The commands of the processes in a process group (empty when the group is gone).
group_commands() { ps -eo pgid=,args= | awk -v g="$1" '$1 == g { $1 = ""; print }'; }

# True if the group of the pid file is alive and is the process we started.
running() {
    local pgid
    pgid=$(pgid_of "$1") || return 1
    [[ $(group_commands "$pgid") == *"$(pattern_of "$1")"* ]]
}

port_taken() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# start NAME COMMAND...: run in the background in a process group of its own, log to logs/NAME.log.
start() {
    local name=$1
    shift
    if running "$name"; then
        say "$name: already running (process group $(pgid_of "$name"))"
        return
    fi
    say "$name: starting, log in $LOGS/$name.log"
    printf '\n=== %s: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$LOGS/$name.log"
    set -m # job control: the background job gets its own process group (pgid = its pid)
    (cd "$ROOT" && exec "$@") </dev/null >>"$LOGS/$name.log" 2>&1 &
    echo $! >"$RUN/$name.pid"
    set +m
}

# wait_for NAME URL SECONDS: until URL answers 200; fail with the log's tail if the process dies.
wait_for() {
    local name=$1 url=$2 seconds=$3 waited=0
    until "$BIN/python" -c 'import base64, os, sys, urllib.request as u
o = u.build_opener(u.ProxyHandler({}))
r = u.Request(sys.argv[1])
if os.environ.get("MLFLOW_TRACKING_PASSWORD"):  # a server without auth ignores the header
    pair = os.environ["MLFLOW_TRACKING_USERNAME"] + ":" + os.environ["MLFLOW_TRACKING_PASSWORD"]
    r.add_header("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
try:
    sys.exit(0 if o.open(r, timeout=3).status == 200 else 1)
except Exception:
    sys.exit(1)' "$url"; do
        if ! running "$name"; then
            tail -n 30 "$LOGS/$name.log" >&2
            die "$name exited before answering $url (log above: $LOGS/$name.log)"
        fi
        if ((waited >= seconds)); then
            tail -n 30 "$LOGS/$name.log" >&2
            die "$name did not answer $url within $seconds s (log above: $LOGS/$name.log)"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    say "$name: ready at ${url%%/api/*}"
}

# stop NAME: SIGTERM to the process group, SIGKILL after 20 s.
stop() {
    local name=$1 pgid waited=0
    pgid=$(pgid_of "$name") || {
        say "$name: not running"
        return
    }
    if ! running "$name"; then
        say "$name: not running"
        rm -f "$RUN/$name.pid"
        return
    fi
    kill -TERM -- "-$pgid" 2>/dev/null || true
    while kill -0 -- "-$pgid" 2>/dev/null && ((waited < 100)); do
        sleep 0.2
        waited=$((waited + 1))
    done
    if kill -0 -- "-$pgid" 2>/dev/null; then
        say "$name: still running 20 s after SIGTERM, sending SIGKILL"
        kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    rm -f "$RUN/$name.pid"
    say "$name: stopped"
}

check_port() {
    local name=$1 port=$2 variable=$3
    if ! running "$name" && port_taken "$port"; then
        die "port $port is taken by another program: choose another one, e.g. $variable=$((port + 1)) scripts/team.sh up"
    fi
}

deploy() {
    # The deployments record MLFLOW_TRACKING_URI and LSTM_PIPELINE_HOME as set here (see prefect.yaml).
    say "deploying prefect.yaml (log in $LOGS/deploy.log)"
    if ! (cd "$ROOT" && "$BIN/prefect" --no-prompt deploy --all) >"$LOGS/deploy.log" 2>&1; then
        tail -n 30 "$LOGS/deploy.log" >&2
        die "prefect deploy failed (log above: $LOGS/deploy.log)"
    fi
    say "deployed train/weekly, batch-forecast/daily and sweep/monthly (paused) to pool $POOL" \
        "(MLflow $MLFLOW_TRACKING_URI, outputs in ${LSTM_PIPELINE_HOME:-$ROOT}/outputs)"
}

servers() {
    [[ -x $BIN/prefect && -x $BIN/mlflow ]] || die "no environment at $BIN: run 'make demo' (or 'make test') once first"
    mkdir -p "$TEAM_DIR/mlflow" "$PREFECT_HOME" "$LOGS" "$RUN"
    [[ -f $TEAM_DIR/.gitignore ]] || echo '*' >"$TEAM_DIR/.gitignore"
    check_port mlflow "$MLFLOW_PORT" TEAM_MLFLOW_PORT
    check_port prefect "$PREFECT_PORT" TEAM_PREFECT_PORT

    # One uvicorn worker and no job runner: ~0.5 GB instead of 2-3 GB.
    local mlflow_args=(--backend-store-uri "sqlite:///$TEAM_DIR/mlflow/mlflow.db"
        --artifacts-destination "$TEAM_DIR/mlflow/artifacts" --host "$HOST" --port "$MLFLOW_PORT" --workers 1)
    if [[ ${TEAM_MLFLOW_AUTH:-0} == 1 ]]; then
        ensure_mlflow_auth
        # The secrets go to the server's environment only (a subshell), never to a command line;
        # the files it creates (the users' password hashes among them) are private.
        (
            umask 077
            export MLFLOW_AUTH_CONFIG_PATH=$MLFLOW_AUTH_FILE
            MLFLOW_FLASK_SERVER_SECRET_KEY=$(cat "$MLFLOW_SECRET_FILE")
            export MLFLOW_FLASK_SERVER_SECRET_KEY
            start mlflow env MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false "$BIN/mlflow" server --app-name basic-auth \
                "${mlflow_args[@]}"
        )
    else
        start mlflow env MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false "$BIN/mlflow" server "${mlflow_args[@]}"
    fi
    if [[ ${TEAM_PREFECT_AUTH:-0} == 1 ]]; then
        ensure_prefect_auth
        (
            PREFECT_SERVER_API_AUTH_STRING=$(cat "$PREFECT_AUTH_FILE")
            export PREFECT_SERVER_API_AUTH_STRING
            start prefect "$BIN/prefect" server start --host "$HOST" --port "$PREFECT_PORT"
        )
    else
        start prefect "$BIN/prefect" server start --host "$HOST" --port "$PREFECT_PORT"
    fi
    load_credentials
    wait_for mlflow "$MLFLOW_URL/api/2.0/mlflow/experiments/search?max_results=1" 180
    wait_for prefect "$PREFECT_URL/api/health" 150
}

up() {
    servers
    if ! "$BIN/prefect" work-pool inspect "$POOL" >/dev/null 2>&1; then
        "$BIN/prefect" work-pool create "$POOL" --type process >>"$LOGS/deploy.log" 2>&1 ||
            die "cannot create work pool $POOL (see $LOGS/deploy.log)"
        say "work pool $POOL: created"
    fi
    deploy
    start worker "$BIN/prefect" worker start --pool "$POOL"
    sleep 2
    running worker || {
        tail -n 30 "$LOGS/worker.log" >&2
        die "the worker exited (log above: $LOGS/worker.log)"
    }
    cat <<EOF

Team mode is up.
  MLflow UI      $MLFLOW_URL
  Prefect UI     $PREFECT_URL
  this shell     eval "\$(scripts/team.sh env)"
  run now        $BIN/prefect deployment run 'train/weekly' --watch
                 $BIN/prefect deployment run 'batch-forecast/daily' --watch
  stop           scripts/team.sh down
EOF
}

down() {
    stop worker # first: it tells the Prefect server it is leaving
    stop prefect
    stop mlflow
}

status() {
    local name url
    for name in mlflow prefect worker; do
        case $name in
        mlflow) url=$MLFLOW_URL ;;
        prefect) url=$PREFECT_URL ;;
        worker) url="pool $POOL" ;;
        esac
        if running "$name"; then
            say "$name: running (process group $(pgid_of "$name")), $url, log $LOGS/$name.log"
        else
            say "$name: stopped"
        fi
    done
}

env_exports() {
    cat <<EOF
export PREFECT_API_URL=$PREFECT_URL/api
export MLFLOW_TRACKING_URI=$MLFLOW_URL
EOF
    # Credentials only when an auth mode created them (quoted: the output goes through eval).
    if [[ -n ${MLFLOW_TRACKING_PASSWORD:-} ]]; then
        printf 'export MLFLOW_TRACKING_USERNAME=%q\nexport MLFLOW_TRACKING_PASSWORD=%q\n' \
            "$MLFLOW_TRACKING_USERNAME" "$MLFLOW_TRACKING_PASSWORD"
    fi
    if [[ -n ${PREFECT_API_AUTH_STRING:-} ]]; then
        printf 'export PREFECT_API_AUTH_STRING=%q\n' "$PREFECT_API_AUTH_STRING"
    fi
}

case ${1:-} in
up) up ;;
down) down ;;
status) status ;;
env) env_exports ;;
deploy) deploy ;;
servers) servers ;;
*)
    awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
