"""STYLE 5: a fresh schema (sql/<dialect>/schema.sql) equals the one the migrations build.

Adding a migration without updating schema.sql, or editing schema.sql by hand
into something the migrations do not produce, fails here.
"""
from __future__ import annotations

import sqlite3

import psycopg

from gateway.store import SQL_DIR, iter_statements
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SqliteStore


def _sqlite_catalogue(path: str) -> dict:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name <> 'schema_migrations' ORDER BY name")]
        catalogue = {}
        for table in tables:
            columns = [tuple(r[1:]) for r in conn.execute(f"PRAGMA table_info({table})")]
            foreign = sorted(tuple(r[2:5]) for r in conn.execute(f"PRAGMA foreign_key_list({table})"))
            indexes = {}
            for _, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})"):
                sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
                where = " ".join(sql[0].split("WHERE", 1)[1].split()) if sql and sql[0] and partial else ""
                indexes[name if origin == "c" else f"auto:{origin}:{unique}:{len(indexes)}"] = (
                    unique, [r[2] for r in conn.execute(f"PRAGMA index_info({name})")], where)
            catalogue[table] = (columns, foreign, indexes)
        return catalogue
    finally:
        conn.close()


def test_sqlite_schema_file_equals_the_migrations(tmp_path):
    migrated = tmp_path / "migrated.sqlite3"
    with SqliteStore(migrated) as store:
        store.migrate()
    fresh = tmp_path / "fresh.sqlite3"
    conn = sqlite3.connect(fresh)
    for statement in iter_statements((SQL_DIR / "sqlite" / "schema.sql").read_text(encoding="utf-8")):
        conn.execute(statement)
    conn.commit()
    conn.close()
    expected = _sqlite_catalogue(str(migrated))
    assert expected and set(expected) >= {"letters", "queue", "outbox", "received"}
    assert _sqlite_catalogue(str(fresh)) == expected


_PG_CATALOGUE = {
    "columns": "SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '') "
               "FROM information_schema.columns WHERE table_schema = 'public' "
               "AND table_name <> 'schema_migrations' ORDER BY 1, 2",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
               "AND tablename <> 'schema_migrations' ORDER BY 1, 2",
    "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'schema_migrations' "
                   "ORDER BY 1, 2",
    "identity": "SELECT table_name, column_name, is_identity, coalesce(identity_generation, '') "
                "FROM information_schema.columns WHERE table_schema = 'public' AND is_identity = 'YES' ORDER BY 1, 2",
}


def _pg_catalogue(url: str) -> dict:
    with psycopg.connect(url) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in _PG_CATALOGUE.items()}


def test_postgres_schema_file_equals_the_migrations(pg_cluster):
    migrated = pg_cluster.create_database("schema_migrated")
    with PostgresStore(migrated) as store:
        store.migrate()
    fresh = pg_cluster.create_database("schema_fresh")
    with psycopg.connect(fresh, autocommit=True) as conn:
        for statement in iter_statements((SQL_DIR / "postgres" / "schema.sql").read_text(encoding="utf-8")):
            conn.execute(statement)
    expected = _pg_catalogue(migrated)
    assert expected["columns"] and expected["indexes"] and expected["constraints"]
    assert _pg_catalogue(fresh) == expected
