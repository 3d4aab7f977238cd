"""What backup.sh and restore.sh ask the gateway: the configuration's facts, SQLite's online backup, checks.

Run with the node's Python (the virtual environment the `gateway` command is in). Not part of the
gateway package: it reads the configuration as the `gateway` command does (file, GATEWAY_* environment).

    backup_helper.py facts [--config FILE]         shell assignments: STORE, SQLITE_PATH, DATA_DIR, ...
    backup_helper.py sqlite-backup SRC DST         online backup (WAL-safe), checked; prints its schema version
    backup_helper.py sqlite-check FILE             integrity check; prints the schema version
    backup_helper.py schema-version URL            of a database (0: empty)
    backup_helper.py latest-schema DIALECT         the newest migration this installation knows
    backup_helper.py pg-tables URL                 how many tables the database's public schema has
    backup_helper.py pg-sessions URL               other sessions connected to that database
    backup_helper.py open-by FILE...               processes that hold one of the files open
    backup_helper.py thai-now                      the time now, as people read it (พ.ศ., Bangkok)

Errors go to standard error, one line, and the exit status is 1.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sqlite3
import sys
from pathlib import Path

BUSY_TIMEOUT_S = 30


class Failure(Exception):
    pass


def _config(path: str | None):
    """The configuration as the `gateway` command reads it: --config or GATEWAY_CONFIG, then GATEWAY_*."""
    from gateway.cli.env import load_config

    return load_config(argparse.Namespace(config=path))


def named_files(cfg) -> list[str]:
    """Every file the configuration names: keys, certificates, trust anchors (each once, absolute).

    A node with no keys configured uses its development PKI in data_dir/pki, which is backed up
    with data_dir.
    """
    names = [cfg.node_certificate, cfg.node_key, *cfg.trust_anchors, cfg.tls_certificate, cfg.tls_key,
             cfg.tls_client_ca, cfg.authority_certificate]
    for org in cfg.directory.organizations.values():
        names += [org.certificate, org.key]
    names += [node.certificate for node in cfg.directory.nodes.values()]
    seen: dict[str, None] = {}
    for name in names:
        if name:
            seen.setdefault(str(Path(name).resolve()), None)
    return list(seen)


def facts(args) -> None:
    path = args.config or os.environ.get("GATEWAY_CONFIG") or ""
    cfg = _config(args.config)
    url = cfg.database_url
    if url.startswith("sqlite:"):
        store, sqlite_path = "sqlite", str(Path(url[len("sqlite:"):]).resolve())
        if sqlite_path.endswith(":memory:"):
            raise Failure("storage.database is an in-memory SQLite database: there is nothing to back up")
    elif url.startswith(("postgresql://", "postgres://")):
        store, sqlite_path = "postgres", ""
    else:
        raise Failure(f"storage.database {url!r} is neither SQLite nor PostgreSQL")
    data_dir = str(Path(cfg.data_dir).resolve())
    config_file = str(Path(path).resolve()) if path else ""
    files = named_files(cfg)
    if config_file:
        files.append(config_file)
    values = {"STORE": store, "DATABASE_URL": url, "SQLITE_PATH": sqlite_path, "DATA_DIR": data_dir,
              "CONFIG_FILE": config_file, "NODE_ID": cfg.node_id}
    for key, value in values.items():
        print(f"{key}={shlex.quote(value)}")
    print("NAMED_FILES=(" + " ".join(shlex.quote(f) for f in files) + ")")


def _schema_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='schema_migrations'").fetchone()
    if exists is None:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def _check(conn: sqlite3.Connection, what: str) -> int:
    result = conn.execute("PRAGMA integrity_check").fetchall()
    if [tuple(r) for r in result] != [("ok",)]:
        raise Failure(f"{what} fails SQLite's integrity check: {'; '.join(str(r[0]) for r in result[:5])}")
    return _schema_version(conn)


def sqlite_backup(args) -> None:
    """SQLite's online backup API: a consistent copy that includes what is still in the -wal file."""
    src_path, dst_path = Path(args.src), Path(args.dst)
    if not src_path.is_file():
        raise Failure(f"no SQLite database at {src_path}")
    if dst_path.exists():
        raise Failure(f"{dst_path} exists already")
    try:
        src = sqlite3.connect(f"{src_path.as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S)
        dst = sqlite3.connect(dst_path, timeout=BUSY_TIMEOUT_S)
        try:
            src.backup(dst)               # all pages in one step, under one read transaction
            dst.execute("PRAGMA journal_mode=DELETE")   # one self-contained file
            print(_check(dst, f"the backup {dst_path}"))
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as exc:
        raise Failure(f"SQLite backup of {src_path} failed: {exc}") from exc


def sqlite_check(args) -> None:
    path = Path(args.file)
    if not path.is_file():
        raise Failure(f"no SQLite database at {path}")
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            print(_check(conn, str(path)))
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise Failure(f"{path} is not a readable SQLite database: {exc}") from exc


def schema_version(args) -> None:
    """The newest applied migration of the database at ``args.url`` (sqlite:PATH or postgresql://...)."""
    url = args.url
    if url.startswith("sqlite:"):
        path = Path(url[len("sqlite:"):])
        if not path.is_file():
            raise Failure(f"no SQLite database at {path}")
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                print(_schema_version(conn))
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise Failure(f"{path} is not a readable SQLite database: {exc}") from exc
        return
    with _pg(url) as conn:
        if conn.execute("SELECT to_regclass('public.schema_migrations')").fetchone()[0] is None:
            print(0)
        else:
            print(conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0])


def latest_schema(args) -> None:
    from gateway.store import migrations

    print(max(version for version, _, _ in migrations(args.dialect)))


def _pg(url: str):
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise Failure(f"cannot connect to PostgreSQL: {str(exc).strip()}") from exc


def pg_tables(args) -> None:
    with _pg(args.url) as conn:
        print(conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0])


def pg_sessions(args) -> None:
    with _pg(args.url) as conn:
        rows = conn.execute("SELECT pid, coalesce(application_name, ''), state FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'").fetchall()
    for pid, application, state in rows:
        print(f"backend {pid} {application or '-'} {state or '-'}")


def open_by(args) -> None:
    """The processes (pid and command) that hold one of the files open: read from /proc."""
    wanted = {str(Path(f).resolve()) for f in args.files}
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == me:
            continue
        try:
            held = {os.readlink(fd) for fd in (proc / "fd").iterdir()}
        except OSError:
            continue
        if held & wanted:
            try:
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                command = "?"
            print(f"{proc.name} {command}")


def thai_now(args) -> None:
    from gateway.core.time import thai_datetime

    print(thai_datetime(dt.datetime.now(dt.UTC)))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="backup_helper.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("facts")
    p.add_argument("--config")
    p.set_defaults(run=facts)
    p = sub.add_parser("sqlite-backup")
    p.add_argument("src")
    p.add_argument("dst")
    p.set_defaults(run=sqlite_backup)
    p = sub.add_parser("sqlite-check")
    p.add_argument("file")
    p.set_defaults(run=sqlite_check)
    for name, run in (("schema-version", schema_version), ("pg-tables", pg_tables), ("pg-sessions", pg_sessions)):
        p = sub.add_parser(name)
        p.add_argument("url")
        p.set_defaults(run=run)
    p = sub.add_parser("latest-schema")
    p.add_argument("dialect", choices=["sqlite", "postgres"])
    p.set_defaults(run=latest_schema)
    p = sub.add_parser("open-by")
    p.add_argument("files", nargs="+")
    p.set_defaults(run=open_by)
    p = sub.add_parser("thai-now")
    p.set_defaults(run=thai_now)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except Failure as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one clear line for the shell script, not a traceback
        print(f"{parser.prog}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
