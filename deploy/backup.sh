#!/usr/bin/env bash
# backup.sh: one backup (สำรองข้อมูล) of an e-CMS gateway node (docs/deployment.md, "Backups").
#
# What it takes, in this order:
#   1. the database: SQLite through its online backup API (consistent, includes what is still in the
#      -wal file, the node keeps running), or PostgreSQL with `pg_dump --format=custom`;
#   2. the data folder (storage.data_dir): the development PKI, the directory snapshot, blobs; every
#      file except the SQLite database itself and earlier restores' before-restore-* folders;
#   3. the configuration file and every file it names (keys, certificates, trust anchors) that lies
#      outside the data folder, kept under files/ with their absolute paths.
# The database goes first: files added after it (a newer blob) are harmless, a file missing from a
# backup whose database names it is not.
#
# The backup is one folder, OUT/gateway-backup-<node>-<UTC time>/, with manifest.txt and SHA256SUMS.
# It holds private keys: keep it readable by its owner only (it is written with umask 077), and
# encrypt it before it leaves the machine. It is complete only once that folder exists: work in
# progress is .gateway-backup-...partial and is removed when something fails.
set -euo pipefail
umask 077

PROG=backup.sh
usage() {
    cat <<'EOF'
usage: backup.sh --out DIR [--config FILE] [--python FILE]

  --out DIR       folder the backup folder is written into (created if missing; not inside data_dir)
  --config FILE   the node's configuration (default: GATEWAY_CONFIG, as for the gateway command)
  --python FILE   the Python of the node's virtual environment (default: the one beside the
                  `gateway` command on PATH, else /opt/gateway/.venv/bin/python)

Run it as the node's user (sudo -u gateway ...): with SQLite in WAL mode, files made by another user
in the data folder would stop the node. On PostgreSQL, pg_dump connects as storage.database says
(a password comes from PGPASSFILE, never from a prompt). The last line printed is the backup's path.
EOF
}
die() { echo "$PROG: $*" >&2; exit 1; }

OUT="" CONFIG="" PYTHON=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || die "--out needs a folder"; OUT=$2; shift 2 ;;
        --config) [ $# -ge 2 ] || die "--config needs a file"; CONFIG=$2; shift 2 ;;
        --python) [ $# -ge 2 ] || die "--python needs a file"; PYTHON=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[ -n "$OUT" ] || { usage >&2; die "--out DIR is required"; }

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

facts=$(helper facts ${CONFIG:+--config "$CONFIG"}) || die "cannot read the node's configuration"
eval "$facts"   # STORE SQLITE_PATH DATABASE_URL DATA_DIR CONFIG_FILE NODE_ID NAMED_FILES

[ -d "$DATA_DIR" ] || die "data_dir $DATA_DIR does not exist (is this the node's configuration?)"
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd -P)
case "$OUT/" in
    "$DATA_DIR"/*) die "--out $OUT is inside data_dir $DATA_DIR: put backups elsewhere" ;;
esac

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
NAME=gateway-backup-$NODE_ID-$STAMP
WORK=$OUT/.$NAME.partial
[ ! -e "$OUT/$NAME" ] || die "$OUT/$NAME exists already"
mkdir "$WORK" || die "cannot write in $OUT"
trap 'rm -rf "$WORK"' EXIT

# 1. The database.
case "$STORE" in
    sqlite)
        [ -f "$SQLITE_PATH" ] || die "no SQLite database at $SQLITE_PATH (run gateway migrate first?)"
        if [ "$(id -u)" = 0 ] && [ "$(stat -c %u "$SQLITE_PATH")" != 0 ]; then
            die "run as the database's owner, not root: sudo -u $(stat -c %U "$SQLITE_PATH") $0 ..."
        fi
        SCHEMA=$(helper sqlite-backup "$SQLITE_PATH" "$WORK/database.sqlite3") || die "the SQLite backup failed"
        DATABASE_FILE=database.sqlite3
        ;;
    postgres)
        command -v pg_dump >/dev/null || die "pg_dump not found: install postgresql-client (the server's major version or newer)"
        SCHEMA=$(helper schema-version "$DATABASE_URL") || die "cannot read the schema version of the database"
        [ "$SCHEMA" -gt 0 ] || die "the database has no gateway schema (schema version 0): nothing to back up"
        pg_dump --no-password --format=custom --file="$WORK/database.pgdump" --dbname="$DATABASE_URL" \
            || die "pg_dump failed (see its message above)"
        pg_restore --list "$WORK/database.pgdump" >/dev/null || die "the dump cannot be read back by pg_restore"
        DATABASE_FILE=database.pgdump
        ;;
    *) die "unknown store $STORE" ;;
esac

# 2. The data folder, without the SQLite database (taken above) and earlier restores' leftovers.
mkdir "$WORK/data"
excludes=(--anchored --exclude='./before-restore-*')
if [ "$STORE" = sqlite ]; then
    case "$SQLITE_PATH" in
        "$DATA_DIR"/*)
            rel=./${SQLITE_PATH#"$DATA_DIR"/}
            for suffix in "" -wal -shm -journal; do excludes+=(--exclude="$rel$suffix"); done ;;
    esac
fi
set +e   # GNU tar exits 1 when a file changed while it was read (a blob being written): a warning here
tar -C "$DATA_DIR" "${excludes[@]}" -cf - . | tar -C "$WORK/data" -xf -
status=("${PIPESTATUS[@]}")
set -e
[ "${status[0]}" -le 1 ] && [ "${status[1]}" = 0 ] || die "cannot copy the data folder $DATA_DIR"
[ "${status[0]}" = 0 ] || echo "$PROG: warning: a file of $DATA_DIR changed while it was copied; the database was taken first" >&2

# 3. The configuration file and the files it names, outside the data folder.
outside=()
for file in "${NAMED_FILES[@]}"; do
    case "$file" in "$DATA_DIR"/*) continue ;; esac
    [ -f "$file" ] || die "the configuration names $file, which is not a readable file"
    outside+=("${file#/}")
done
if [ ${#outside[@]} -gt 0 ]; then
    mkdir "$WORK/files"
    tar -C / -cf - "${outside[@]}" | tar -C "$WORK/files" -xf - || die "cannot copy the key and certificate files"
fi

CREATED_TH=$(helper thai-now)
VERSION=$("$PYTHON" -c 'import gateway; print(gateway.__version__)')
cat > "$WORK/manifest.txt" <<EOF
format=gateway-backup-1
node=$NODE_ID
created=$STAMP
created_th=$CREATED_TH
gateway_version=$VERSION
store=$STORE
schema_version=$SCHEMA
database=$DATABASE_FILE
data_dir=$DATA_DIR
config=$CONFIG_FILE
EOF
(cd "$WORK" && find . -type f ! -name 'SHA256SUMS*' -print0 | sort -z | xargs -0 sha256sum) > "$WORK/SHA256SUMS.tmp"
mv "$WORK/SHA256SUMS.tmp" "$WORK/SHA256SUMS"

mv "$WORK" "$OUT/$NAME"
trap - EXIT
echo "สำรองข้อมูลแล้ว $CREATED_TH: node $NODE_ID, $STORE schema version $SCHEMA, $(du -sh "$OUT/$NAME" | cut -f1)"
echo "backup written (check it with: restore.sh --check $OUT/$NAME):"
echo "$OUT/$NAME"
