"""Rewrite store/sql/<dialect>/schema.sql from what the migrations build (run after adding a migration).

tests/integration/test_schema.py fails until the files match the migrations again.
Uses a throwaway PostgreSQL cluster (gateway.testing.pgcluster) for the PostgreSQL file.
"""
from __future__ import annotations

import sqlite3
import subprocess
import tempfile

from gateway.store import SQL_DIR
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SqliteStore
from gateway.testing import pgcluster

HEADER = ("-- The {dialect} schema as the migrations leave it, written by tools/dump_schema.py.\n"
          "-- tests/integration/test_schema.py checks that this file and the migrations build the same schema.\n"
          "-- Not run by the node: migrations/ is the source of truth.\n\n")


def sqlite_schema() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/schema.sqlite3"
        with SqliteStore(path) as store:
            store.migrate()
        conn = sqlite3.connect(path)
        rows = conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
                            "AND tbl_name <> 'schema_migrations' "
                            # FTS5's shadow tables: CREATE VIRTUAL TABLE makes them itself
                            "AND name NOT IN (SELECT name FROM pragma_table_list WHERE type = 'shadow') "
                            "ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, rowid").fetchall()
        conn.close()
    return HEADER.format(dialect="SQLite") + "".join(f"{sql.strip()};\n\n" for (sql,) in rows)


def postgres_schema() -> str:
    cluster = pgcluster.Cluster().start()
    try:
        url = cluster.create_database("schema_dump")
        with PostgresStore(url) as store:
            store.migrate()
        dump = subprocess.run([str(cluster.bindir / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges",
                               "--no-comments", "-d", url], capture_output=True, text=True, check=True,
                              user="postgres" if cluster.as_root else None).stdout
    finally:
        cluster.destroy()
    statements = []
    for statement in dump.split(";\n"):
        lines = [ln for ln in statement.splitlines()
                 if ln.strip() and not ln.startswith(("--", "SET ", "SELECT pg_catalog", "\\"))]
        text = "\n".join(lines).strip()
        if text and "schema_migrations" not in text:
            statements.append(text)
    return HEADER.format(dialect="PostgreSQL") + "".join(f"{s};\n\n" for s in statements)


def main() -> int:
    (SQL_DIR / "sqlite" / "schema.sql").write_text(sqlite_schema().rstrip() + "\n", encoding="utf-8")
    (SQL_DIR / "postgres" / "schema.sql").write_text(postgres_schema().rstrip() + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
