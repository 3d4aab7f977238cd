#!/usr/bin/env bash
# restore.sh: put a backup made by backup.sh back (กู้คืนข้อมูล) (docs/deployment.md, "Restore").
#
# Into the database and the data folder the configuration names: on a new machine (an empty
# PostgreSQL database, no SQLite file, no data folder yet) it just restores. Over an existing node it
# refuses, listing what it would replace, unless given --force; then everything it replaces is kept
# first in data_dir/before-restore-<time>/ (the old SQLite files, a pg_dump of the old database, the
# old versions of files), so a restore can itself be undone. Nothing is changed before every check
# has passed: the checksums, the store kind, the schema version, and that no node is running on the
# target.
#
# Stop the node first (systemctl stop gateway-serve 'gateway-worker@*'), restore, start it again.
set -euo pipefail
umask 077

PROG=restore.sh
usage() {
    cat <<'EOF'
usage: restore.sh [--config FILE] [--force] [--python FILE] BACKUP
       restore.sh --check [--python FILE] BACKUP

  BACKUP          a folder written by backup.sh (gateway-backup-<node>-<time>)
  --config FILE   the node's configuration (default: GATEWAY_CONFIG). If the file does not exist and
                  the backup holds it at that path, it is restored first.
  --force         replace an existing database and files (kept in data_dir/before-restore-<time>/)
  --check         only check the backup: checksums, and that its database can be read
  --python FILE   the Python of the node's virtual environment (default: beside `gateway` on PATH,
                  else /opt/gateway/.venv/bin/python)

PostgreSQL: the database named by storage.database must exist (createdb -O gateway NAME); pg_restore
connects as that URL says. Run as root or as the node's user; files are given back their owners.
EOF
}
die() { echo "$PROG: $*" >&2; exit 1; }

CONFIG="" PYTHON="" FORCE=0 CHECK=0 BACKUP=""
while [ $# -gt 0 ]; do
    case "$1" in
        --config) [ $# -ge 2 ] || die "--config needs a file"; CONFIG=$2; shift 2 ;;
        --python) [ $# -ge 2 ] || die "--python needs a file"; PYTHON=$2; shift 2 ;;
        --force) FORCE=1; shift ;;
        --check) CHECK=1; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *) [ -z "$BACKUP" ] || die "one backup at a time ($BACKUP and $1)"; BACKUP=$1; shift ;;
    esac
done
[ -n "$BACKUP" ] || { usage >&2; die "which backup? give its folder"; }
[ -d "$BACKUP" ] || die "$BACKUP is not a folder"
BACKUP=$(cd "$BACKUP" && pwd -P)
[ -f "$BACKUP/manifest.txt" ] || die "$BACKUP has no manifest.txt: not a backup made by backup.sh"
manifest() { sed -n "s/^$1=//p" "$BACKUP/manifest.txt" | head -n 1; }
[ "$(manifest format)" = gateway-backup-1 ] || die "$BACKUP: unknown backup format '$(manifest format)'"

HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
HELPER=$HERE/backup_helper.py
[ -f "$HELPER" ] || die "$HELPER is missing (keep backup_helper.py beside this script)"
if [ -z "$PYTHON" ]; then
    if command -v gateway >/dev/null 2>&1; then
        PYTHON=$(dirname "$(command -v gateway)")/python
    else
        PYTHON=/opt/gateway/.venv/bin/python
    fi
fi
"$PYTHON" -c 'import gateway' 2>/dev/null || die "$PYTHON cannot import gateway: give the node's Python with --python"
helper() { "$PYTHON" "$HELPER" "$@"; }

B_STORE=$(manifest store)
B_SCHEMA=$(manifest schema_version)
B_DATABASE=$(manifest database)
echo "backup of node $(manifest node), $(manifest created_th) ($(manifest created)): $B_STORE schema version $B_SCHEMA, gateway $(manifest gateway_version)"

# The backup itself: every file as it was written.
[ -f "$BACKUP/SHA256SUMS" ] || die "$BACKUP has no SHA256SUMS"
(cd "$BACKUP" && sha256sum --check --quiet --strict SHA256SUMS) \
    || die "$BACKUP does not match its SHA256SUMS: the backup is damaged or was changed; do not use it"
[ -f "$BACKUP/$B_DATABASE" ] || die "$BACKUP has no $B_DATABASE"
case "$B_STORE" in
    sqlite) helper sqlite-check "$BACKUP/$B_DATABASE" >/dev/null || die "the backed-up SQLite database is damaged" ;;
    postgres)
        command -v pg_restore >/dev/null || die "pg_restore not found: install postgresql-client"
        pg_restore --list "$BACKUP/$B_DATABASE" >/dev/null || die "pg_restore cannot read $BACKUP/$B_DATABASE" ;;
    *) die "the backup's store '$B_STORE' is neither sqlite nor postgres" ;;
esac
if [ "$CHECK" = 1 ]; then
    echo "ตรวจแล้ว: the backup is complete and readable"
    exit 0
fi

# The configuration: restore its file first when it is missing and the backup has it.
TARGET_CONFIG=${CONFIG:-${GATEWAY_CONFIG:-}}
if [ -n "$TARGET_CONFIG" ] && [ ! -e "$TARGET_CONFIG" ]; then
    abs=$(readlink -m "$TARGET_CONFIG")
    if [ -f "$BACKUP/files$abs" ]; then
        mkdir -p "$(dirname "$abs")"
        cp -p "$BACKUP/files$abs" "$abs"
        echo "restored the configuration file $abs"
    else
        die "no configuration file $TARGET_CONFIG, and the backup does not hold one at that path"
    fi
fi
facts=$(helper facts ${CONFIG:+--config "$CONFIG"}) || die "cannot read the node's configuration"
eval "$facts"   # STORE SQLITE_PATH DATABASE_URL DATA_DIR CONFIG_FILE NODE_ID NAMED_FILES

[ "$STORE" = "$B_STORE" ] || die "the backup is of a $B_STORE database, the configuration names a $STORE one: a restore does not convert between them"
LATEST=$(helper latest-schema "$STORE")
[ "$B_SCHEMA" -le "$LATEST" ] || die "the backup has schema version $B_SCHEMA, this gateway knows up to $LATEST: install the gateway version that made it ($(manifest gateway_version)) or newer"

# What would be replaced. Nothing is changed before this list is known.
conflicts=()
case "$STORE" in
    sqlite)
        holders=$(helper open-by "$SQLITE_PATH" "$SQLITE_PATH-wal" "$SQLITE_PATH-shm")
        [ -z "$holders" ] || die "the database $SQLITE_PATH is open (is the node running? stop it first):
$holders"
        for suffix in "" -wal -shm -journal; do
            [ ! -e "$SQLITE_PATH$suffix" ] || conflicts+=("database file $SQLITE_PATH$suffix")
        done
        ;;
    postgres)
        command -v pg_restore >/dev/null || die "pg_restore not found: install postgresql-client"
        sessions=$(helper pg-sessions "$DATABASE_URL") || die "cannot connect to the target database (create it first: createdb -O gateway NAME)"
        [ -z "$sessions" ] || die "other sessions are connected to the target database (is the node running? stop gateway-serve and gateway-worker@*):
$sessions"
        tables=$(helper pg-tables "$DATABASE_URL") || die "cannot read the target database"
        [ "$tables" = 0 ] || conflicts+=("the PostgreSQL database has $tables tables (schema version $(helper schema-version "$DATABASE_URL"))")
        ;;
esac
# Files: the data folder's (data/ -> DATA_DIR) and the named ones (files/<path> -> /<path>).
plan=$(mktemp)
trap 'rm -f "$plan"' EXIT
if [ -d "$BACKUP/data" ]; then
    (cd "$BACKUP/data" && find . -type f -print0) | while IFS= read -r -d '' rel; do
        printf '%s\0%s\0' "$BACKUP/data/${rel#./}" "$DATA_DIR/${rel#./}"
    done >> "$plan"
fi
if [ -d "$BACKUP/files" ]; then
    (cd "$BACKUP/files" && find . -type f -print0) | while IFS= read -r -d '' rel; do
        printf '%s\0%s\0' "$BACKUP/files/${rel#./}" "/${rel#./}"
    done >> "$plan"
fi
while IFS= read -r -d '' src && IFS= read -r -d '' dst; do
    if [ -e "$dst" ] && ! cmp -s "$src" "$dst"; then conflicts+=("file $dst"); fi
done < "$plan"

if [ ${#conflicts[@]} -gt 0 ] && [ "$FORCE" != 1 ]; then
    {
        echo "$PROG: the target is not empty; nothing was changed. It would replace:"
        printf '  %s\n' "${conflicts[@]}"
        echo "Restore into an empty database and data folder, or pass --force (what is replaced is kept in $DATA_DIR/before-restore-<time>/)."
    } >&2
    exit 1
fi

# From here on the target changes.
created_data_dir=0
[ -d "$DATA_DIR" ] || { mkdir -p "$DATA_DIR"; created_data_dir=1; }
owner=$(stat -c %u:%g "$DATA_DIR")
KEEP=""
if [ ${#conflicts[@]} -gt 0 ]; then
    KEEP=$DATA_DIR/before-restore-$(date -u +%Y%m%dT%H%M%SZ)
    mkdir "$KEEP"
    echo "keeping what is replaced in $KEEP"
fi
keep() {   # move an existing file into KEEP, under its absolute path
    mkdir -p "$KEEP/files$(dirname "$1")"
    mv "$1" "$KEEP/files$1"
}

case "$STORE" in
    sqlite)
        for suffix in "" -wal -shm -journal; do
            # A -wal file left beside a restored database would be replayed into it: move them all.
            [ ! -e "$SQLITE_PATH$suffix" ] || keep "$SQLITE_PATH$suffix"
        done
        mkdir -p "$(dirname "$SQLITE_PATH")"
        cp "$BACKUP/$B_DATABASE" "$SQLITE_PATH.restoring"
        helper sqlite-check "$SQLITE_PATH.restoring" >/dev/null || die "the copied database fails its check"
        mv "$SQLITE_PATH.restoring" "$SQLITE_PATH"
        [ "$(id -u)" != 0 ] || chown "$owner" "$SQLITE_PATH"
        ;;
    postgres)
        if [ "$tables" = 0 ]; then
            # One transaction: the database is the backup's whole, or unchanged.
            pg_restore --no-password --single-transaction --exit-on-error --no-owner --no-privileges \
                --dbname="$DATABASE_URL" "$BACKUP/$B_DATABASE" || die "pg_restore failed (see above); the database is unchanged"
        else
            command -v psql >/dev/null || die "psql not found: install postgresql-client"
            pg_dump --no-password --format=custom --file="$KEEP/database.pgdump" --dbname="$DATABASE_URL" \
                || die "cannot keep a dump of the database being replaced; nothing was restored"
            # One transaction again: drop every table of the public schema (also those of migrations newer
            # than the backup, which --clean alone would leave behind), then the backup's objects.
            { echo "SET client_min_messages = warning;"
              echo "DO \$\$ DECLARE t record; BEGIN FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP EXECUTE format('DROP TABLE IF EXISTS public.%I CASCADE', t.tablename); END LOOP; END \$\$;"
              pg_restore --clean --if-exists --no-owner --no-privileges --file=- "$BACKUP/$B_DATABASE"
            } | psql -X -q --no-password --single-transaction -v ON_ERROR_STOP=1 --dbname="$DATABASE_URL" >/dev/null \
                || die "the restore failed (see above); the database is unchanged (its dump is in $KEEP)"
        fi
        ;;
esac

while IFS= read -r -d '' src && IFS= read -r -d '' dst; do
    if [ -e "$dst" ]; then
        cmp -s "$src" "$dst" && continue
        keep "$dst"
    fi
    case "$dst" in
        "$DATA_DIR"/*) mkdir -p "$(dirname "$dst")" ;;
        *) (umask 022 && mkdir -p "$(dirname "$dst")") ;;   # e.g. /etc/gateway/pki: the files keep their own modes
    esac
    cp -p "$src" "$dst" || die "cannot write $dst"
done < "$plan"
if [ "$(id -u)" = 0 ]; then   # what was restored into the data folder belongs to its owner (the node's user)
    for entry in "$BACKUP/data"/* "$BACKUP/data"/.[!.]*; do
        [ ! -e "$entry" ] || chown -R "$owner" "$DATA_DIR/$(basename "$entry")"
    done
    [ -z "$KEEP" ] || chown -R "$owner" "$KEEP"
fi

case "$STORE" in
    sqlite) RESTORED=$(helper sqlite-check "$SQLITE_PATH") ;;
    postgres) RESTORED=$(helper schema-version "$DATABASE_URL") ;;
esac
echo "กู้คืนแล้ว: node $NODE_ID, $STORE schema version $RESTORED, data in $DATA_DIR${KEEP:+; replaced files kept in $KEEP}"
if [ "$created_data_dir" = 1 ] && [ "$(id -u)" = 0 ]; then
    echo "note: $DATA_DIR was created here, owned by root: chown -R gateway:gateway $DATA_DIR (systemd's StateDirectory= does it at the next start)"
fi
echo "Start the node (it migrates to this gateway's schema, $LATEST, if older), then check: gateway letters --config ${CONFIG_FILE:-FILE}"
