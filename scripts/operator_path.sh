#!/usr/bin/env bash
# The README's production section, followed step by step as an operator would, on this machine only:
#   a role and a database on the local PostgreSQL, `flask db upgrade`, an admin created without a terminal,
#   gunicorn and an RQ worker (and the scheduler) on Redis, health checks, `flask data export`, import into an
#   empty database, `pg_dump` + `pg_restore` with the documented flags into an empty database, and damaged
#   archives (each refused in one line, the database left as it was).
# Everything it creates has a name of its own and is removed at the end: the role and databases are dropped,
# the servers are stopped by process id, the Redis database number it used is emptied.
#
#   scripts/operator_path.sh            (CI runs it from .ci/run)
#
# Settings (all optional): VENV (default .venv), PGADMIN_URL (a superuser connection to the local server,
# default postgresql://postgres@127.0.0.1:5432/postgres), OPERATOR_REDIS_DB (default 13).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PGADMIN_URL=${PGADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
REDIS_DB=${OPERATOR_REDIS_DB:-13}
SUFFIX=$(LC_ALL=C tr -dc 'a-z0-9' </dev/urandom | head -c 8 || true)
ROLE=training_op_$SUFFIX
DB=training_op_$SUFFIX
DB_IMPORT=${DB}_import
DB_RESTORE=${DB}_restore
ROLE_PASSWORD=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24 || true)
ADMIN_EMAIL=ops-lead@example.com
ADMIN_PASSWORD="Long enough secret $(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 16 || true)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/operator-path.XXXXXX")
PIDS=()

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'operator path FAILED: %s\n' "$*" >&2; exit 1; }
admin_psql() { psql "$PGADMIN_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }
db_url() { echo "postgresql://$ROLE:$ROLE_PASSWORD@127.0.0.1:5432/$1"; }
flask() { "$VENV/bin/flask" --app wsgi "$@"; }

stop_servers() {  # SIGTERM by process id; SIGKILL after 20 s
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

cleanup() {
  local rc=$?
  stop_servers
  for db in "$DB" "$DB_IMPORT" "$DB_RESTORE"; do
    admin_psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$db'" >/dev/null 2>&1 || true
    admin_psql -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true
  done
  admin_psql -c "DROP ROLE IF EXISTS \"$ROLE\"" >/dev/null 2>&1 || true
  "$VENV/bin/python" -c "import redis, sys; redis.Redis.from_url(sys.argv[1]).flushdb()" \
    "redis://127.0.0.1:6379/$REDIS_DB" >/dev/null 2>&1 || true
  if [ $rc -ne 0 ] && [ -d "$WORK" ]; then
    for log in "$WORK"/*.log; do [ -f "$log" ] && { echo "--- $log (last lines)"; tail -n 30 "$log"; }; done
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT

wait_for() {  # wait_for WHAT COMMAND...: poll (generous limit, no timing assertion)
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  fail "$what did not come up"
}
free_port() { "$VENV/bin/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
http_status() { "$VENV/bin/python" - "$1" <<'EOF'
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=30).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
EOF
}
answers_200() { [ "$(http_status "$1" 2>/dev/null)" = 200 ]; }
same_data() {  # same_data A.json.gz B.json.gz: the archives hold the same rows
  "$VENV/bin/python" - "$1" "$2" <<'EOF'
import gzip, json, sys
a, b = (json.loads(gzip.decompress(open(p, "rb").read())) for p in sys.argv[1:3])
for t in (a, b):
    t.pop("exported_at", None)
diff = [name for name in sorted(set(a["tables"]) | set(b["tables"])) if a["tables"].get(name) != b["tables"].get(name)]
if diff:
    sys.exit(f"the archives differ in: {', '.join(diff)}")
print(f"same rows in all {len(a['tables'])} tables ({sum(len(t['rows']) for t in a['tables'].values())} rows)")
EOF
}

# --- Settings (README: Production / Settings, Several servers) ---------------------------------------
PORT=$(free_port)
export DATABASE_URL
DATABASE_URL=$(db_url "$DB")
export REDIS_URL=redis://127.0.0.1:6379/$REDIS_DB
export SECRET_KEY
SECRET_KEY=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 48 || true)
export PUBLIC_BASE_URL=http://127.0.0.1:$PORT
export SIGNING_DIR=$WORK/shared/signing DOCUMENT_DIR=$WORK/shared/documents UPLOAD_DIR=$WORK/shared/uploads
export SIGNING_KEY_PASSPHRASE
SIGNING_KEY_PASSPHRASE=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 || true)
export LOG_LEVEL=INFO
unset TRUSTED_PROXIES TRUSTED_PROXY_PREFIX TRUSTED_HOSTS ALLOW_LOCAL_STATE JOBS_MODE 2>/dev/null || true

# --- PostgreSQL (README: Production / PostgreSQL) -------------------------------------------------------
step "create the role and the database ($ROLE, $DB)"
# The README's `createuser training --pwprompt` asks on a terminal; a script sets the password with SQL.
admin_psql -c "CREATE ROLE \"$ROLE\" LOGIN PASSWORD '$ROLE_PASSWORD'"
createdb --maintenance-db="$PGADMIN_URL" --owner "$ROLE" --encoding UTF8 "$DB"

step "flask db upgrade (as the database owner: it creates pg_trgm itself)"
flask db upgrade

step "an admin, without a terminal (--password-stdin)"
printf '%s\n' "$ADMIN_PASSWORD" | flask users create --email "$ADMIN_EMAIL" --name "Operator Admin" --role admin \
    --password-stdin
flask users list | grep -q "admin .*$ADMIN_EMAIL" || fail "the admin is not listed"
if out=$(flask users create --email second@example.com --name "No Password" --role admin </dev/null 2>&1); then
  fail "users create without a password and without a terminal succeeded"
fi
[ "$(printf '%s\n' "$out" | grep -c .)" = 1 ] || fail "users create without a password: not one line: $out"

step "signing key"
flask signing init

# --- gunicorn, RQ worker, scheduler (README: gunicorn; Redis and RQ workers) -----------------------------
step "gunicorn on 127.0.0.1:$PORT, an RQ worker and the scheduler"
export PROMETHEUS_MULTIPROC_DIR=$WORK/metrics
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
"$VENV/bin/gunicorn" --workers 2 --worker-class sync --bind "127.0.0.1:$PORT" \
    --timeout 60 --graceful-timeout 30 --max-requests 2000 --max-requests-jitter 200 \
    --access-logfile - --error-logfile - wsgi:app >"$WORK/gunicorn.log" 2>&1 &
PIDS+=($!)
"$VENV/bin/rq" worker training --url "$REDIS_URL" >"$WORK/rq-worker.log" 2>&1 &
PIDS+=($!)
"$VENV/bin/flask" --app wsgi scheduler run >"$WORK/scheduler.log" 2>&1 &
PIDS+=($!)

step "health checks"
wait_for "gunicorn (/healthz)" answers_200 "$PUBLIC_BASE_URL/healthz"
wait_for "readiness (/readyz: database and Redis)" answers_200 "$PUBLIC_BASE_URL/readyz"
"$VENV/bin/python" - "$PUBLIC_BASE_URL/readyz" <<'EOF'
import json, sys, urllib.request
body = json.load(urllib.request.urlopen(sys.argv[1], timeout=30))
assert body["checks"] == {"database": "ok", "redis": "ok"}, body
print("readyz:", body)
EOF
wait_for "the RQ worker" "$VENV/bin/python" -c "
import sys; from redis import Redis; from rq import Worker
sys.exit(0 if Worker.all(connection=Redis.from_url('$REDIS_URL')) else 1)"
echo "rq: $("$VENV/bin/rq" info --url "$REDIS_URL" --only-workers 2>/dev/null | tail -n 1)"
[ "$(http_status "$PUBLIC_BASE_URL/metrics")" = 200 ] || fail "/metrics does not answer on loopback"

step "an API token and a request with it"
TOKEN=$(flask users token "$ADMIN_EMAIL" | tail -n 1)
"$VENV/bin/python" - "$PUBLIC_BASE_URL/api/v1/courses" "$TOKEN" <<'EOF'
import json, sys, urllib.request
request = urllib.request.Request(sys.argv[1], headers={"Authorization": f"Bearer {sys.argv[2]}"})
body = json.load(urllib.request.urlopen(request, timeout=30))
print("GET /api/v1/courses:", type(body).__name__, "ok")
EOF

step "data for the round trips (the demo)"
flask demo load | tail -n 3
[ "$(http_status "$PUBLIC_BASE_URL/")" = 200 ] || fail "the catalogue does not answer"

# --- Data export and import (README: Data export and import) --------------------------------------------
step "flask data export"
flask data export "$WORK/training-export.json.gz"

step "import into an empty database"
createdb --maintenance-db="$PGADMIN_URL" --owner "$ROLE" --encoding UTF8 "$DB_IMPORT"
DATABASE_URL=$(db_url "$DB_IMPORT") flask db upgrade
row_count() {  # every row of every table in the database named $1
  psql "${PGADMIN_URL%/*}/$1" -v ON_ERROR_STOP=1 -qAt -c "SELECT coalesce(sum((xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I',
    schemaname, tablename), false, true, '')))[1]::text::bigint), 0) FROM pg_tables WHERE schemaname = 'public'"
}
EMPTY_ROWS=$(row_count "$DB_IMPORT")

step "damaged archives: one clear line each, the database unchanged"
"$VENV/bin/python" - "$WORK/training-export.json.gz" "$WORK" <<'EOF'
import gzip, json, sys
from pathlib import Path
good, work = Path(sys.argv[1]), Path(sys.argv[2])
raw = good.read_bytes()
archive = json.loads(gzip.decompress(raw))
(work / "damaged-truncated.json.gz").write_bytes(raw[: len(raw) // 2])
(work / "damaged-garbage.json").write_bytes(b"\x00\x01 this is not an archive \xff")
(work / "damaged-not-ours.json").write_text(json.dumps({"format": "something-else", "tables": {}}))
users = archive["tables"]["users"]
duplicate = json.loads(json.dumps(archive))
duplicate["tables"]["users"]["rows"].append(users["rows"][0])  # the same primary key twice
(work / "damaged-duplicate-row.json.gz").write_bytes(gzip.compress(json.dumps(duplicate).encode()))
unknown = json.loads(json.dumps(archive))
unknown["tables"]["no_such_table"] = {"columns": ["id"], "rows": [[1]]}
(work / "damaged-unknown-table.json").write_text(json.dumps(unknown))
EOF
for damaged in "$WORK"/damaged-*; do
  if out=$(DATABASE_URL=$(db_url "$DB_IMPORT") flask data import "$damaged" 2>&1); then
    fail "$(basename "$damaged") was imported"
  fi
  lines=$(printf '%s\n' "$out" | grep -c .)
  [ "$lines" = 1 ] || fail "$(basename "$damaged"): $lines lines instead of one: $(printf '%s' "$out" | head -c 2000)"
  case $out in *Traceback*|*Aborted!*) fail "$(basename "$damaged"): $out" ;; esac
  printf '  %-28s %s\n' "$(basename "$damaged")" "$(printf '%s' "$out" | cut -c1-150)"
  [ "$(row_count "$DB_IMPORT")" = "$EMPTY_ROWS" ] || fail "$(basename "$damaged") changed the database"
done

step "the real archive into the empty database, and back out: the same rows"
DATABASE_URL=$(db_url "$DB_IMPORT") flask data import "$WORK/training-export.json.gz"
DATABASE_URL=$(db_url "$DB_IMPORT") flask data export "$WORK/imported.json.gz" >/dev/null
same_data "$WORK/training-export.json.gz" "$WORK/imported.json.gz"
if out=$(DATABASE_URL=$(db_url "$DB_IMPORT") flask data import "$WORK/training-export.json.gz" 2>&1); then
  fail "an import into a database that holds rows succeeded"
fi
[ "$(printf '%s\n' "$out" | grep -c .)" = 1 ] || fail "import into a full database: not one line: $out"
echo "  again into the now full database: $out"

step "the servers still answer; then they stop (SIGTERM by process id) and the database rests"
[ "$(http_status "$PUBLIC_BASE_URL/readyz")" = 200 ] || fail "/readyz after the round trips"
stop_servers
if grep -n "Traceback" "$WORK/gunicorn.log" "$WORK/rq-worker.log" "$WORK/scheduler.log"; then
  fail "a traceback in the servers' logs"
fi

# --- Backups (README: Backups) ---------------------------------------------------------------------------
step "pg_dump, and pg_restore with the documented flags into an empty database"
PGPASSWORD=$ROLE_PASSWORD pg_dump --format=custom --file="$WORK/training.dump" "$DATABASE_URL"
createdb --maintenance-db="$PGADMIN_URL" --owner "$ROLE" --encoding UTF8 "$DB_RESTORE"
pg_restore --clean --if-exists --no-owner --dbname="$(db_url "$DB_RESTORE")" "$WORK/training.dump" \
  || fail "pg_restore exited $? on an empty database"
DATABASE_URL=$(db_url "$DB_RESTORE") flask data export "$WORK/restored.json.gz" >/dev/null
flask data export "$WORK/now.json.gz" >/dev/null
same_data "$WORK/now.json.gz" "$WORK/restored.json.gz"
step "the same pg_restore again, over the restored database"
pg_restore --clean --if-exists --no-owner --dbname="$(db_url "$DB_RESTORE")" "$WORK/training.dump" \
  || fail "pg_restore exited $? over a restored database"
DATABASE_URL=$(db_url "$DB_RESTORE") flask data export "$WORK/restored2.json.gz" >/dev/null
same_data "$WORK/now.json.gz" "$WORK/restored2.json.gz"

printf '\noperator path passed\n'
