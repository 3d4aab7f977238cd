"""SQL lives in files: the same named queries in both dialects, migrations numbered without gaps."""
from gateway import store


def test_same_query_names_in_both_dialects():
    assert set(store.load_queries("sqlite")) == set(store.load_queries("postgres"))


def test_every_query_is_used_by_the_store():
    import inspect
    source = inspect.getsource(store.Tx)
    for name in store.load_queries("sqlite"):
        assert f'"{name}"' in source, f"query {name} is never used"


def test_same_migrations_in_both_dialects():
    assert [n for _, n, _ in store.migrations("sqlite")] == [n for _, n, _ in store.migrations("postgres")]


def test_statement_splitting_ignores_semicolons_in_comments():
    assert list(store.iter_statements("-- a; b\nCREATE TABLE t (x int);\n-- c;\nSELECT 1;")) == [
        "CREATE TABLE t (x int)", "SELECT 1"]
