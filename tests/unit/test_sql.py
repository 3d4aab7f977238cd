"""SQL lives in files: the same named queries in both dialects, migrations numbered without gaps."""
from gateway import store


def test_same_query_names_in_both_dialects():
    assert set(store.load_queries("sqlite")) == set(store.load_queries("postgres"))


def test_every_query_is_used_by_the_store():
    import inspect
    # Tx and its mixins (the web console's methods are in store/console.py, the evidence log's in store/evidence.py)
    source = "".join(inspect.getsource(cls) for cls in store.Tx.__mro__ if cls is not object)
    for name in store.load_queries("sqlite"):
        assert f'"{name}"' in source, f"query {name} is never used"


def test_same_migrations_in_both_dialects():
    assert [n for _, n, _ in store.migrations("sqlite")] == [n for _, n, _ in store.migrations("postgres")]


def test_statement_splitting_ignores_semicolons_in_comments():
    assert list(store.iter_statements("-- a; b\nCREATE TABLE t (x int);\n-- c;\nSELECT 1;")) == [
        "CREATE TABLE t (x int)", "SELECT 1"]


def test_a_trigger_stays_one_statement_whatever_its_body_holds():
    sql = """-- 0099: a trigger; its body's statements end in ';' too
CREATE TABLE t (x int);
CREATE TRIGGER t_log AFTER UPDATE OF x ON t WHEN new.x <> old.x BEGIN
    INSERT INTO log (x) VALUES (CASE WHEN new.x > 0 THEN 'end' ELSE 'case' END);
    DELETE FROM log WHERE x = 'begin';
END;
create temp trigger t_gone after delete on t begin delete from log; end;
SELECT 1;"""
    assert list(store.iter_statements(sql)) == [
        "CREATE TABLE t (x int)",
        "CREATE TRIGGER t_log AFTER UPDATE OF x ON t WHEN new.x <> old.x BEGIN\n"
        "    INSERT INTO log (x) VALUES (CASE WHEN new.x > 0 THEN 'end' ELSE 'case' END);\n"
        "    DELETE FROM log WHERE x = 'begin';\nEND",
        "create temp trigger t_gone after delete on t begin delete from log; end",
        "SELECT 1"]


def test_an_unfinished_trigger_is_handed_on_whole_for_the_database_to_refuse():
    assert list(store.iter_statements("SELECT 1;\nCREATE TRIGGER t AFTER INSERT ON t BEGIN SELECT 2;")) == [
        "SELECT 1", "CREATE TRIGGER t AFTER INSERT ON t BEGIN SELECT 2;"]


def test_the_subject_search_triggers_of_the_sqlite_migrations_are_whole_statements():
    statements = [s for _, _, sql in store.migrations("sqlite") for s in store.iter_statements(sql)]
    triggers = [s for s in statements if s.upper().startswith("CREATE TRIGGER")]
    assert [t.split()[2] for t in triggers] == ["letters_fts_insert", "letters_fts_delete", "letters_fts_update"]
    assert all(t.endswith("END") and t.count(";") == (2 if "update" in t.split()[2] else 1) for t in triggers)
    assert not [s for s in statements if s.upper().startswith(("INSERT INTO LETTERS_FTS (ROWID", "END"))]
