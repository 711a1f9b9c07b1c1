"""The pgvector store on a real PostgreSQL server: the database enforces access by itself (row-level security
that a connection cannot widen), selective groups still get n chunks, writers on several connections, copies,
and the errors a user meets. The store contract itself is tests/rag/test_store.py, run against every store."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from tailor.errors import ArtifactError
from tailor.rag.store import Chunk, Server

psycopg = pytest.importorskip("psycopg", reason="pip install 'llm-tailor[pgvector]'")
pgvector_store = pytest.importorskip("tailor.rag.stores.pgvector")

DIM = 8
GROUPS = {"open": {"everyone"}, "fin": {"finance"}, "hr": {"hr"}, "both": {"finance", "hr"}}


def _vectors(n: int, seed: int, dim: int = DIM) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _chunks(doc_id: str, n: int, groups: set[str]) -> list[Chunk]:
    return [
        Chunk(f"{doc_id}#h#{i}", doc_id, doc_id, "", frozenset(groups), f"{doc_id} {i}", i, n, "h") for i in range(n)
    ]


@pytest.fixture
def store(tmp_path: Path, pg_server: Server):
    """A store holding 5 chunks of each of four documents: everyone's, finance's, hr's, and one both may read."""
    store = pgvector_store.open_store(tmp_path, "chunks_test", DIM, pg_server)
    chunks = [c for doc, groups in GROUPS.items() for c in _chunks(doc, 5, groups)]
    store.upsert(list(GROUPS), chunks, _vectors(len(chunks), 0))
    return store


def _foreign(rows, readable: set[str]) -> list[str]:
    """The chunk ids among ``rows`` (chunk_id first) of documents ``readable`` does not cover."""
    return [r[0] for r in rows if GROUPS[r[0].split("#")[0]].isdisjoint(readable)]


def test_a_query_with_no_filter_or_a_forged_one_returns_only_what_the_groups_may_read(store) -> None:
    table = store._table
    with store._db.as_reader(frozenset({"everyone"})) as conn:
        unfiltered = conn.execute(f"SELECT chunk_id FROM {table}").fetchall()  # tailor's filter left out
        forged = conn.execute(f"SELECT chunk_id FROM {table} WHERE groups && '{{finance,hr}}' OR true").fetchall()
        named = conn.execute(f"SELECT chunk_id FROM {table} WHERE doc_id IN ('fin', 'hr', 'both')").fetchall()
    assert sorted(r[0] for r in unfiltered) == [f"open#h#{i}" for i in range(5)]
    assert _foreign(forged, {"everyone"}) == [] and len(forged) == 5
    assert named == []
    with store._db.as_reader(frozenset({"finance"})) as conn:
        rows = conn.execute(f"SELECT chunk_id FROM {table}").fetchall()
    assert {r[0].split("#")[0] for r in rows} == {"fin", "both"}
    with store._db.as_reader(frozenset()) as conn:  # no groups: nothing at all
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


def test_the_reader_connection_cannot_widen_its_own_groups(store, pg_server: Server) -> None:
    table, db = store._table, store._db
    count = f"SELECT count(*) FROM {table}"
    with db.as_reader(frozenset({"everyone"})) as conn:
        assert conn.execute(count).fetchone()[0] == 5
        tailors = conn.execute("SELECT current_setting('tailor.groups'), current_setting('tailor.mac')").fetchone()
        # Its own settings changed, keeping tailor's signature: the signature no longer matches, so no groups.
        conn.execute("SELECT set_config('tailor.groups', '{everyone,finance,hr}', true)")
        assert conn.execute(count).fetchone()[0] == 0
        conn.execute("SET LOCAL tailor.mac = 'forged'")
        assert conn.execute(count).fetchone()[0] == 0
        conn.execute("SELECT set_config('tailor.groups', %s, true), set_config('tailor.mac', %s, true)", tailors)
        assert conn.execute(count).fetchone()[0] == 5  # tailor's own setting, restored, still works
        # The key is the owner's; so are the table's policies and its row-level security.
        for sql in (
            "SELECT * FROM tailor.keys",
            f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
            f"DROP POLICY readable ON {table}",
            "SET ROLE postgres",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(sql)
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("SET LOCAL row_security = off")
            conn.execute(count)  # a role under row-level security cannot switch it off

    # A signature for wider groups, captured in one transaction, is worthless in the next (same backend).
    with psycopg.connect(pgvector_store.reader_uri(pg_server), autocommit=True) as conn:
        with conn.transaction():
            nonce = conn.execute("SELECT tailor.nonce()").fetchone()[0]
            wide = "{finance,hr}"
            conn.execute(
                "SELECT set_config('tailor.groups', %s, true), set_config('tailor.mac', %s, true)",
                (wide, db.mac(nonce, wide)),
            )
            assert conn.execute(count).fetchone()[0] == 15  # signed by tailor: granted
        with conn.transaction():
            conn.execute(
                "SELECT set_config('tailor.groups', %s, true), set_config('tailor.mac', %s, true)",
                (wide, db.mac(nonce, wide)),
            )
            assert conn.execute(count).fetchone()[0] == 0
        # Session-wide settings (not SET LOCAL) are as powerless as transaction ones.
        conn.execute("SELECT set_config('tailor.groups', %s, false), set_config('tailor.mac', %s, false)", (wide, "x"))
        assert conn.execute(count).fetchone()[0] == 0


def test_the_store_shows_texts_only_to_groups_that_may_read_them(store) -> None:
    assert [c.chunk_id for c in store.chunks(["both#h#1", "fin#h#0"], frozenset({"finance"}))] == [
        "both#h#1",
        "fin#h#0",
    ]
    with pytest.raises(KeyError, match="for these groups"):
        store.chunks(["fin#h#0"], frozenset({"hr", "everyone"}))
    hits = store.dense(_vectors(1, 5)[0], frozenset({"hr"}), 50)
    assert {h.split("#")[0] for h, _ in hits} == {"hr", "both"} and len(hits) == 10


def test_a_group_that_reads_5_percent_of_the_chunks_still_gets_its_top_n(tmp_path: Path, pg_server: Server) -> None:
    n_chunks, dim = 2000, 64
    vectors = _vectors(n_chunks, 1, dim)
    rare = np.random.default_rng(2).random(n_chunks) < 0.05
    chunks = [
        Chunk(f"d{i:04d}#h#0", f"d{i:04d}", "t", "", frozenset({"rare" if rare[i] else "everyone"}), "x", 0, 1, "h")
        for i in range(n_chunks)
    ]
    store = pgvector_store.open_store(tmp_path, "chunks_rare", dim, pg_server)
    store.upsert([c.doc_id for c in chunks], chunks, vectors)
    store._db.owner.execute(f"ANALYZE {store._table}")  # as autovacuum would: the planner knows 'rare' is rare
    queries = vectors[np.flatnonzero(~rare)[:10]]  # each right on a chunk the group may not read
    exact = [[chunks[i].chunk_id for i in np.flatnonzero(rare)[np.argsort(-(vectors[rare] @ q))[:20]]] for q in queries]
    assert [[h for h, _ in store.dense(q, frozenset({"rare"}), 20)] for q in queries] == exact  # planner: a scan

    # The same through the HNSW index (the planner's choice for broad groups), made to walk it here: its
    # iterative scan goes on past the first candidates, all foreign, until it has 20 of the group's.
    with store._db.readers.connection() as conn:  # back in the pool after, the next one taken (last in, first out)
        conn.execute(
            "SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off"
        )  # for every later query on it
        plan = conn.execute(
            f"EXPLAIN SELECT chunk_id FROM {store._table} WHERE v_to IS NULL AND groups && '{{rare}}' "
            "ORDER BY vector <=> %s LIMIT 20",
            (queries[0],),
        ).fetchall()
        walk = [r[0] for r in plan if "Index Scan using" in r[0]]
        assert len(walk) == 1 and "_hnsw on" in walk[0], plan
    walked = [[h for h, _ in store.dense(q, frozenset({"rare"}), 20)] for q in queries]
    with store._db.readers.connection() as conn:
        assert conn.execute("SHOW enable_sort").fetchone()[0] == "off"  # the walks above ran on it
    assert all(len(w) == 20 and all(rare[int(h[1:5])] for h in w) for w in walked)
    recall = np.mean([len(set(w) & set(e)) / 20 for w, e in zip(walked, exact, strict=True)])
    assert recall >= 0.9, recall


def test_writers_on_separate_connections_commit_one_at_a_time(tmp_path: Path, pg_server: Server) -> None:
    """Two writers (two tailor processes on two machines, as far as the database can tell) into one table."""
    stores = [pgvector_store.open_store(tmp_path, "chunks_test", DIM, pg_server) for _ in range(2)]
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            for i in range(8):
                doc = f"w{w}d{i}"
                stores[w].upsert([doc], _chunks(doc, 3, {"everyone"}), _vectors(3, 10 * w + i))
        except BaseException as e:  # reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert stores[0].version == 16 and stores[1].count() == 48 and len(stores[0].stored_docs()) == 16
    versions = stores[0]._db.owner.execute(
        "SELECT array_agg(version ORDER BY version) FROM tailor.commits WHERE tbl = %s", (stores[0]._name,)
    )
    assert versions.fetchone()[0] == list(range(1, 17))


def test_a_copy_is_an_independent_index(tmp_path: Path, store, pg_server: Server) -> None:
    copy_dir = tmp_path.parent / (tmp_path.name + "-copy")
    shutil.copytree(tmp_path, copy_dir)
    pgvector_store.copy_store(tmp_path, copy_dir, "chunks_test", pg_server)
    copy = pgvector_store.open_store(copy_dir, "chunks_test", server=pg_server)
    assert copy.listing(texts=True) == store.listing(texts=True) and copy.version == store.version
    copy.delete(["fin"])
    assert copy.count() == 15 and store.count() == 20


def _tables(admin, prefix: str) -> list[str]:
    sql = "SELECT tablename FROM pg_tables WHERE schemaname = 'tailor' AND starts_with(tablename, %s) ORDER BY 1"
    return [r[0] for r in admin.execute(sql, (f"{prefix}_",)).fetchall()]


def test_dropping_an_index_drops_its_own_tables_and_leaves_other_indexes(tmp_path: Path, pg_server: Server) -> None:
    from tailor.rag.index import Dropped, drop_index

    mine, other = tmp_path / "mine", tmp_path / "other"
    for name in ("chunks_new", "chunks_old"):  # the active table, and one a rebuild cut short left beside it
        pgvector_store.open_store(mine, name, DIM, pg_server).upsert(
            ["open"], _chunks("open", 3, {"everyone"}), _vectors(3, 0)
        )
    theirs = pgvector_store.open_store(other, "chunks_new", DIM, pg_server)  # same store name, another index
    theirs.upsert(["open"], _chunks("open", 4, {"everyone"}), _vectors(4, 1))
    prefix = json.loads((mine / pgvector_store.POINTER).read_text())["prefix"]
    where = pgvector_store.shown(pg_server.uri)

    dropped = drop_index(mine, "pgvector", pg_server)
    assert dropped.tables == (f'tailor."{prefix}_chunks_new" on {where}', f'tailor."{prefix}_chunks_old" on {where}')
    assert dropped.removed and not mine.exists()
    assert dropped.summary() == f"dropped {', '.join(dropped.tables)}; removed {mine}"
    with psycopg.connect(pg_server.uri, autocommit=True) as admin:
        assert _tables(admin, prefix) == []
        commits = "SELECT count(*) FROM tailor.commits WHERE starts_with(tbl, %s)"
        assert admin.execute(commits, (f"{prefix}_",)).fetchone()[0] == 0
    assert theirs.count() == 4 and theirs.version == 1  # the other index, untouched

    again = drop_index(mine, "pgvector", pg_server)
    assert again == Dropped(mine, (), removed=False)
    assert again.summary() == f"nothing to drop: no index at {mine}"


def test_a_snapshot_past_the_purge_horizon_is_one_line_naming_it_and_the_horizon(store) -> None:
    old = store.snapshot()
    store.delete(["fin"])  # version 2 removes fin's rows; the snapshot at version 1 still reads them
    assert [c.doc_id for c in old.chunks(["fin#h#0"])] == ["fin"]
    # As if both commits were made longer ago than the horizon: the next commit deletes fin's rows for good.
    store._db.owner.execute(
        f"UPDATE tailor.commits SET at = at - interval '{pgvector_store.RETAIN}' - interval '1 hour' WHERE tbl = %s",
        (store._name,),
    )
    store.upsert(["late"], _chunks("late", 2, {"everyone"}), _vectors(2, 9))
    assert store.version == 3 and old.chunks(["open#h#0"])[0].doc_id == "open"  # rows still there still read
    for read in (
        lambda: old.chunks(["fin#h#0"]),
        lambda: old.chunks(["fin#h#1"], frozenset({"finance"})),
        lambda: old.vectors(["open#h#0", "fin#h#2"]),
    ):
        with pytest.raises(ArtifactError) as raised:
            read()
        message = str(raised.value)
        assert message.startswith(
            f"pgvector: the snapshot of {store._name} at version 1 is past the purge horizon "
            f"({pgvector_store.RETAIN}): version 2, committed "
        )
        assert "open the index again" in message and "\n" not in message
    with pytest.raises(KeyError, match="chunks not in version 3"):  # a current snapshot: just an id it lacks
        store.snapshot().chunks(["fin#h#0"])


@contextmanager
def _without_the_reader_role(admin) -> Iterator[None]:
    """The server as a new one is, without the role tailor_reader (other tests made it: renamed, then back)."""
    made = admin.execute("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = %s)", (pgvector_store.READER,))
    aside = made.fetchone()[0]
    if aside:
        admin.execute(f'ALTER ROLE "{pgvector_store.READER}" RENAME TO tailor_reader_aside')
    try:
        yield
    finally:
        if aside:
            admin.execute(f'ALTER ROLE tailor_reader_aside RENAME TO "{pgvector_store.READER}"')


def test_an_owner_short_of_a_privilege_is_told_which_and_how_to_fix_it(tmp_path: Path, pg_server: Server) -> None:
    """A new user's path on a server they do not administer: each privilege their role lacks is one line
    naming the role and the privilege, and the fix it names lets the next step through."""
    from psycopg.conninfo import make_conninfo

    owner = make_conninfo(pg_server.uri, user="tailor_plain", dbname="tailor_plain")

    def refused() -> str:
        with pytest.raises(ArtifactError) as raised:
            pgvector_store.open_store(tmp_path, "chunks_test", DIM, Server(owner))
        assert "\n" not in str(raised.value)
        return str(raised.value)

    with psycopg.connect(pg_server.uri, autocommit=True) as admin:
        admin.execute("CREATE ROLE tailor_plain LOGIN")  # neither a superuser nor CREATEROLE
        admin.execute("CREATE ROLE tailor_plain_reader LOGIN")
        admin.execute("CREATE DATABASE tailor_plain")  # the administrator's
    with psycopg.connect(make_conninfo(pg_server.uri, dbname="tailor_plain"), autocommit=True) as admin:
        message = refused()
        assert message.startswith("pgvector: the role tailor_plain may not create the extension vector in database ")
        assert message.endswith("have a superuser run CREATE EXTENSION vector in tailor_plain once")
        admin.execute("CREATE EXTENSION vector")
        message = refused()
        assert message.startswith("pgvector: the role tailor_plain may not create the schema tailor in database ")
        assert "GRANT CREATE ON DATABASE tailor_plain TO tailor_plain" in message
        admin.execute("GRANT CREATE ON DATABASE tailor_plain TO tailor_plain")
        with _without_the_reader_role(admin):
            message = refused()
            assert message.startswith(
                "pgvector: the role tailor_plain may not create the reader role tailor_reader (it lacks CREATEROLE)"
            )
            assert "ALTER ROLE tailor_plain CREATEROLE" in message and "rag.pg_reader_uri_env" in message
            # The setting it names needs no CREATEROLE: a reader role the administrator made.
            reader = make_conninfo(pg_server.uri, user="tailor_plain_reader", dbname="tailor_plain")
            store = pgvector_store.open_store(tmp_path, "chunks_test", DIM, Server(owner, reader))
            store.upsert(["fin", "hr"], _chunks("fin", 2, {"finance"}) + _chunks("hr", 2, {"hr"}), _vectors(4, 3))
            hits = store.dense(_vectors(1, 4)[0], frozenset({"finance"}), 10)
            assert sorted(h for h, _ in hits) == ["fin#h#0", "fin#h#1"]
            made = admin.execute("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = %s)", (pgvector_store.READER,))
            assert not made.fetchone()[0]  # tailor made no role


def test_a_superuser_as_the_reader_is_refused(tmp_path: Path, pg_server: Server) -> None:
    with pytest.raises(ArtifactError, match="reader role postgres is not held by row-level security"):
        pgvector_store.open_store(tmp_path, "chunks_test", DIM, Server(pg_server.uri, reader_uri=pg_server.uri))


def test_an_unreachable_server_is_named_without_its_password(tmp_path: Path) -> None:
    server = Server("postgresql://bob:hunter2@127.0.0.1:9/tailor")
    with pytest.raises(ArtifactError) as raised:
        pgvector_store.open_store(tmp_path, "chunks_test", DIM, server)
    message = str(raised.value)
    assert "postgresql://bob@127.0.0.1:9/tailor" in message and "check rag.pg_uri" in message
    assert "hunter2" not in message and "\n" not in message
    assert "hunter2" not in repr(server)


def test_without_the_extra_the_error_says_what_to_install(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from tailor.rag.stores.pgvector import open_store\nfrom tailor.rag.store import Server\n"
        f"open_store({str(tmp_path)!r}, 'chunks_test', 8, Server('postgresql://x@127.0.0.1:9/db'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "pip install 'llm-tailor[pgvector]'" in done.stderr.splitlines()[-1]


@pytest.mark.slow
def test_tailor_ingest_on_pgvector_from_a_recipe_with_the_uri_in_the_environment_and_drop(
    tmp_path: Path, pg_server: Server, monkeypatch
) -> None:
    from typer.testing import CliRunner

    from tailor.cli import app
    from tailor.scaffold import init_project

    recipe = init_project(tmp_path / "proj", size="small")
    text = recipe.read_text().replace("  store: lancedb", "  store: pgvector")
    recipe.write_text(text.replace("  # pg_uri_env:", "  pg_uri_env: TAILOR_TEST_PG_URI"))

    def ingest(*flags: str) -> tuple[int, str, str]:
        done = CliRunner().invoke(app, ["ingest", "--recipe", str(recipe), *(flags or ["--json"])])
        return done.exit_code, done.stdout, done.stderr

    monkeypatch.delenv("TAILOR_TEST_PG_URI", raising=False)
    code, _, err = ingest()
    assert code == 2 and "Traceback" not in err
    at = _line_of(recipe.read_text(), "pg_uri_env")
    assert [line for line in err.splitlines() if line.startswith("error: ")] == [
        f"error: {recipe}:{at}: rag.pg_uri_env: environment variable TAILOR_TEST_PG_URI is not set"
    ]

    monkeypatch.setenv("TAILOR_TEST_PG_URI", "postgresql://tailor:s3cret@127.0.0.1:9/tailor")
    code, _, err = ingest()
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(errors) == 1 and "s3cret" not in err
    assert "cannot connect to postgresql://tailor@127.0.0.1:9/tailor" in errors[0]

    monkeypatch.setenv("TAILOR_TEST_PG_URI", pg_server.uri)
    code, out, err = ingest()
    assert code == 0, err
    first = json.loads(out)
    assert first["added"] > 0 and first["chunks_total"] == first["chunks_embedded"] > 0
    code, out, err = ingest()
    assert code == 0 and json.loads(out)["chunks_embedded"] == 0  # incremental: nothing changed
    index = Path(first["index"])
    assert (index / "pgvector.json").is_file() and not (index / "lance").exists()

    # --drop: this index's table goes, and its directory; another index's table on the server stays.
    prefix = json.loads((index / "pgvector.json").read_text())["prefix"]
    table = json.loads((index / "index.json").read_text())["table"]
    other = pgvector_store.open_store(tmp_path / "other", table, DIM, pg_server)
    other.upsert(["open"], _chunks("open", 2, {"everyone"}), _vectors(2, 0))
    code, _, err = ingest("--drop")
    assert code == 0, err
    assert err.strip() == f'dropped tailor."{prefix}_{table}" on {pgvector_store.shown(pg_server.uri)}; removed {index}'
    assert not index.exists() and other.count() == 2
    with psycopg.connect(pg_server.uri, autocommit=True) as admin:
        assert _tables(admin, prefix) == []
    code, _, err = ingest("--drop")
    assert code == 0 and err.strip() == f"nothing to drop: no index at {index}"
    code, out, _ = ingest("--drop", "--json")
    assert code == 0 and json.loads(out) == {"index": str(index), "tables": [], "removed": False}


def _line_of(text: str, key: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if line.strip().startswith(f"{key}:"))


@pytest.mark.slow
def test_bm25_in_the_database_ranks_as_the_in_memory_index_and_only_over_readable_chunks(
    tmp_path: Path, pg_server: Server
) -> None:
    """The same documents in LanceDB (BM25 in tailor's memory) and in pgvector (BM25 in its query): with every
    group the same chunks in the same order; with one department's groups only readable chunks, ranked by
    the statistics of those alone (so a foreign chunk cannot move a score)."""
    from tailor.data.corpus import Document
    from tailor.data.world import generate_world
    from tailor.data.world_render import qa_examples
    from tailor.rag.embed import WordLlamaEmbedder
    from tailor.rag.index import ChunkIndex, IndexSettings, ingest
    from tailor.rag.lexical import terms

    world = generate_world(0, "small")
    docs = [Document(d.doc_id, d.title, d.text, frozenset(d.groups), content_hash=d.doc_id) for d in world.documents]
    embedder = WordLlamaEmbedder()
    settings = IndexSettings(embedder.name, embedder.dim, 48, 8, "words")
    words = lambda t: len(t.split())  # noqa: E731
    ingest(docs, tmp_path / "lance", settings, embedder, words)
    ingest(docs, tmp_path / "pg", settings, embedder, words, store="pgvector", server=pg_server)
    memory, database = ChunkIndex(tmp_path / "lance", embedder), ChunkIndex(tmp_path / "pg", embedder, pg_server)
    assert not (tmp_path / "pg" / "bm25").exists()  # nothing lexical kept beside the database
    everyone = frozenset(g for d in docs for g in d.groups)
    questions = [q["question"] for q in qa_examples(world)[:40]]
    for q in questions:
        assert database.lexical(q, everyone, 10) == memory.lexical(q, everyone, 10), q

    dept = sorted(g for g in everyone if g != "everyone")[0]
    readable = frozenset({dept})
    visible = {d.doc_id for d in docs if readable & d.groups}
    only = [Document(d.doc_id, d.title, d.text, d.groups, content_hash=d.doc_id) for d in docs if d.doc_id in visible]
    ingest(only, tmp_path / "only", settings, embedder, words)  # BM25 over exactly what the group may read
    alone = ChunkIndex(tmp_path / "only", embedder)
    found = 0
    for q in questions:
        ranked = database.lexical(q, readable, 10)
        assert {database.chunk(i).doc_id for i in ranked} <= visible
        assert ranked == alone.lexical(q, everyone, 10), q
        found += bool(ranked)
    assert found and database.store.lexical(terms("no such wordzz"), everyone, 5) == []
