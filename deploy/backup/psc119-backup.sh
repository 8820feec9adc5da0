#!/usr/bin/env bash
# Hourly: a custom-format pg_dump of the PSC 119 database (consistent while the service runs), kept
# BACKUP_KEEP_DAYS days; daily (the 03:xx run) it is restored into a scratch database and compared, so a backup
# is known to restore. The same dump and restore are tested in tests/e2e/test_backup_restore.py.
# Copy /var/backups/psc119 off the machine (rsync, object storage): a backup on the same disk is no backup.
set -euo pipefail
BACKUP_DIR="${BACKUP_DIR:-/var/backups/psc119}"
KEEP_DAYS="${BACKUP_KEEP_DAYS:-14}"
: "${DATABASE_URL:?DATABASE_URL is needed (from /etc/psc119/psc119.env)}"
mkdir -p "$BACKUP_DIR"
stamp="$(date +%Y%m%d-%H%M)"
target="$BACKUP_DIR/psc119-$stamp.dump"
pg_dump --format=custom --no-owner --file "$target.partial" "$DATABASE_URL"
mv "$target.partial" "$target"
find "$BACKUP_DIR" -name 'psc119-*.dump' -mtime +"$KEEP_DAYS" -delete
echo "backup: $target ($(du -h "$target" | cut -f1))"
if [ "$(date +%H)" = "03" ] || [ "${RESTORE_CHECK:-}" = "1" ]; then
  "$(dirname "$0")/psc119-restore-check.sh" "$target"
fi
