#!/usr/bin/env bash
# The whole test suite against PostgreSQL and Redis (DATABASE_URL / REDIS_URL, default the local servers).
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/psc119}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/14}"
.venv/bin/python - <<'PY'
import os, sys
import psycopg, redis
try:
    url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    psycopg.connect(url, connect_timeout=3).close()
except Exception as exc:
    sys.exit(f"PostgreSQL is not reachable at {os.environ['DATABASE_URL']}: {exc}\n"
             "Start it (see README 'Tests'), or set DATABASE_URL.")
try:
    redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=3).ping()
except Exception as exc:
    sys.exit(f"Redis is not reachable at {os.environ['REDIS_URL']}: {exc}\nStart it, or set REDIS_URL.")
PY
exec .venv/bin/pytest "$@"
