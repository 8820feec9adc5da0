#!/usr/bin/env bash
# Restore a dump into a scratch database beside the live one, compare row counts and the newest event, drop it.
# Usage: psc119-restore-check.sh /var/backups/psc119/psc119-YYYYmmdd-HHMM.dump
# The role in DATABASE_URL needs CREATEDB (or run as postgres with DATABASE_URL pointing at the server).
set -euo pipefail
dump="${1:?a dump file}"
: "${DATABASE_URL:?DATABASE_URL is needed}"
server="${DATABASE_URL%/*}"
scratch="psc119_restore_check_$(date +%s)"
psql "$server/postgres" -qc "CREATE DATABASE \"$scratch\""
trap 'psql "$server/postgres" -qc "DROP DATABASE IF EXISTS \"$scratch\" WITH (FORCE)"' EXIT
pg_restore --no-owner --exit-on-error --dbname "$server/$scratch" "$dump"
# Rows in the dump must all be there; the live database may have gained some since.
for table in calls_incident calls_call dispatch_assignment dispatch_statuschange dispatch_event; do
  restored=$(psql "$server/$scratch" -Atc "SELECT count(*) FROM $table")
  live=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM $table")
  if [ "$restored" -gt "$live" ] || { [ "$restored" -eq 0 ] && [ "$live" -gt 0 ]; }; then
    echo "restore check FAILED: $table restored $restored rows, live $live" >&2
    exit 1
  fi
  echo "restore check: $table $restored rows (live $live)"
done
newest=$(psql "$server/$scratch" -Atc "SELECT id, type FROM dispatch_event ORDER BY id DESC LIMIT 1")
echo "restore check: newest event in the dump $newest; OK"
