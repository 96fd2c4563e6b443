"""tools/sqlgen.awk, the build step that turns sql/ into C: a migration's
schema version is its position among the files, so their numbers must be
exactly 1..N. A gap (0007 then 0009) was a trap: a 0008 added later would
take 0009's version, and every database already at it would run 0009 again.
The build now stops on a gap, a repeat or an unnumbered file, saying which
file and what it expected, and writes nothing."""
import os
import subprocess
import tempfile

from harness import ROOT

WEB_INDEPENDENT = True  # no server: runs the build step itself

SQLGEN = os.path.join(ROOT, "tools", "sqlgen.awk")


def _sqlgen(tmp, migrations, queries=("-- name: one\nSELECT 1;\n",)):
    """Runs sqlgen.awk as the Makefile does on the given query files'
    texts and migration files (names, in this order); (returncode, stderr,
    out dir)."""
    d = tempfile.mkdtemp(prefix="sqlgen-", dir=tmp)
    os.makedirs(os.path.join(d, "queries"))
    os.makedirs(os.path.join(d, "migrations"))
    os.makedirs(os.path.join(d, "gen"))
    files = []
    for i, text in enumerate(queries):
        files.append(os.path.join(d, "queries", "q%d.sql" % i))
        with open(files[-1], "w") as f:
            f.write(text)
    for name in migrations:
        p = os.path.join(d, "migrations", name)
        with open(p, "w") as f:
            f.write("CREATE TABLE t_%s (x);\n" % name.split(".")[0])
        files.append(p)
    out = subprocess.run(["awk", "-v", "out=" + os.path.join(d, "gen"), "-f", SQLGEN] + files,
                         capture_output=True, text=True)
    return out.returncode, out.stderr, os.path.join(d, "gen")


def test_migrations_numbered_1_to_n_build(env):
    rc, err, gen = _sqlgen(env.tmp, ["0001_a.sql", "0002_b.sql", "0003_c.sql"])
    assert rc == 0, err
    with open(os.path.join(gen, "sql_gen.h")) as f:
        assert "#define SQL_MIGRATION_COUNT 3" in f.read()
    with open(os.path.join(gen, "sql_gen.c")) as f:
        assert "PRAGMA user_version = 3;" in f.read()


def test_a_gap_in_migration_numbers_stops_the_build(env):
    for names, culprit, expected in (
            (["0001_a.sql", "0003_c.sql"], "0003_c.sql", "0002"),          # a gap
            (["0002_b.sql", "0003_c.sql"], "0002_b.sql", "0001"),          # no first
            (["0001_a.sql", "0001_b.sql"], "0001_b.sql", "0002"),          # a repeat
            (["0001_a.sql", "avatar.sql"], "avatar.sql", "0002")):         # no number
        rc, err, gen = _sqlgen(env.tmp, names)
        assert rc != 0, (names, err)
        assert culprit in err and "expected migration %s" % expected in err, (names, err)
        assert os.listdir(gen) == [], (names, os.listdir(gen))  # nothing half-written


def test_the_projects_migrations_are_numbered_1_to_n(env):
    d = os.path.join(ROOT, "sql", "migrations")
    names = sorted(n for n in os.listdir(d) if n.endswith(".sql"))
    assert [int(n.split("_")[0]) for n in names] == list(range(1, len(names) + 1)), names
    files = sorted(os.path.join(ROOT, "sql", "queries", n) for n in os.listdir(os.path.join(ROOT, "sql", "queries"))
                   if n.endswith(".sql")) + [os.path.join(d, n) for n in names]
    gen = tempfile.mkdtemp(prefix="sqlgen-", dir=env.tmp)
    out = subprocess.run(["awk", "-v", "out=" + gen, "-f", SQLGEN] + files, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def _query_texts(gen):
    """The generated sql_query_text strings, joined back into plain text."""
    with open(os.path.join(gen, "sql_gen.c")) as f:
        c = f.read()
    body = c.split("sql_query_text[SQL__COUNT] = {", 1)[1].split("};", 1)[0]
    texts = []
    for elem in body.split("\"),"):
        parts = [p.split('"', 1)[1].rsplit('"', 1)[0] for p in elem.split("\n") if '"' in p]
        if parts:
            texts.append("".join(parts).replace("\\n", "\n").replace('\\"', '"'))
    return texts


def test_a_fragment_is_spelt_once_and_held_by_each_query(env):
    """A test several statements must run alike is written once (`--
    fragment:`) and each query holds it where it writes {{name}}: the
    generated text is the fragment's, wherever the fragment stands."""
    rc, err, gen = _sqlgen(env.tmp, ["0001_a.sql"], queries=(
        "-- name: first\nSELECT {{is_small}};\n\n"
        "-- fragment: is_small\n-- (a comment inside is not part of it)\n?1 < 10 AND ?1 > -10\n\n"
        "-- name: second\nSELECT 2 WHERE {{is_small}} AND {{is_small}};\n",
        "-- name: third\nSELECT {{is_small}} + 1;\n"))
    assert rc == 0, err
    assert _query_texts(gen) == ["SELECT ?1 < 10 AND ?1 > -10;\n\n",  # (a query keeps its blank lines)
                                 "SELECT 2 WHERE ?1 < 10 AND ?1 > -10 AND ?1 < 10 AND ?1 > -10;\n",
                                 "SELECT ?1 < 10 AND ?1 > -10 + 1;\n"], _query_texts(gen)
    with open(os.path.join(gen, "sql_gen.h")) as f:
        h = f.read()
    assert "SQL_FIRST" in h and "SQL_THIRD" in h and "IS_SMALL" not in h  # a fragment is no query


def test_an_undefined_fragment_stops_the_build(env):
    rc, err, gen = _sqlgen(env.tmp, ["0001_a.sql"], queries=(
        "-- fragment: is_small\n?1 < 10\n-- name: first\nSELECT {{is_smal}};\n",))
    assert rc != 0, err
    assert "first" in err and "{{is_smal}}" in err, err
    assert os.listdir(gen) == [], os.listdir(gen)  # nothing half-written


def test_a_fragment_mistake_stops_the_build_instead_of_reaching_sqlite(env):
    """Statements are prepared when first run: a reference left unexpanded
    would fail then, in production, not at the build."""
    for queries, says in (
            (("-- fragment: t\n1\n-- name: q\nSELECT {{T}};\n",), "{{T}}"),            # no such name
            (("-- fragment: t\n1\n-- name: q\nSELECT {{t} + 1;\n",), "q holds a"),       # unclosed
            (("-- fragment: t\n1\n-- fragment: t\n2\n-- name: q\nSELECT {{t}};\n",), "fragment"),  # twice
            (("-- fragment: Big\n1\n-- name: q\nSELECT 1;\n",), "fragment"),             # bad name
            (("-- name: q\nSELECT 0\n-- fragment:\n, 1;\n",), "fragment"),               # no name
            (("-- fragment: a\n{{b}}\n-- fragment: b\n1\n-- name: q\nSELECT {{a}};\n",), "nest")):
        rc, err, gen = _sqlgen(env.tmp, ["0001_a.sql"], queries=queries)
        assert rc != 0 and says in err, (queries, rc, err)
        assert os.listdir(gen) == [], (queries, os.listdir(gen))


def test_a_fragment_ends_with_its_file(env):
    rc, err, gen = _sqlgen(env.tmp, ["0001_a.sql"], queries=(
        "-- name: first\nSELECT {{one}};\n-- fragment: one\n1 = 1\n",
        "\n-- a file's opening comment\n-- name: second\nSELECT 2;\n"))
    assert rc == 0, err
    assert _query_texts(gen) == ["SELECT 1 = 1;\n", "SELECT 2;\n"], _query_texts(gen)
    # SQL before a file's first name joined the previous file's last query
    rc, err, gen = _sqlgen(env.tmp, ["0001_a.sql"], queries=(
        "-- name: first\nSELECT 1;\n", "x\n-- name: second\nSELECT 2;\n"))
    assert rc != 0 and "before the file's first" in err, err
    assert os.listdir(gen) == [], os.listdir(gen)


def test_the_projects_object_test_is_one_fragment(env):
    """json_is_object's test stands once in sql/ and the three statements
    that run it hold the same text."""
    qdir = os.path.join(ROOT, "sql", "queries")
    text = "".join(open(os.path.join(qdir, n)).read() for n in sorted(os.listdir(qdir)) if n.endswith(".sql"))
    assert text.count("THEN json(json(?1)) = json(?1) AND json_type(?1) = 'object'") == 1, "the object test is spelt more than once in sql/"
    assert text.count("{{object_test}}") == 3
