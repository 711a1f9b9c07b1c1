"""PostgreSQL + pgvector: a store that many machines share, where the database enforces access too.

Layout, in the schema ``tailor`` of the database ``Server.uri`` names (created on first use):

- ``tailor.<prefix>_<name>``, one table per store name and index directory. ``<prefix>`` is drawn once
  per index directory and kept in ``INDEX_DIR/pgvector.json``, so two indexes built with the same
  settings (a copy being updated, one with planted documents) never share rows. A row is a chunk, its
  ``groups text[]``, its vector, and ``v_from``/``v_to``: the versions that added and removed it
  (``v_to`` NULL: live).
- ``tailor.commits``: (table, version, time) of every commit; ``tailor.keys``: one random key, which
  only the owning role may read.

Deleting an index directory loses its pointer and leaves its tables: :func:`drop_tables` (``tailor ingest
--drop``) drops every table with the directory's prefix, and no other index's, before the directory goes.

**Privileges.** The owner (``rag.pg_uri``) sets the database up on first use, which needs: the extension
``vector`` (pgvector is not a trusted extension, so a superuser creates it once per database unless the
owner is one), CREATE on the database (for the schema), and CREATEROLE to create ``tailor_reader`` unless
``rag.pg_reader_uri_env`` names a reader or an administrator made the role. Each one missing is one line
naming the role, the privilege and the fix.

**Commits.** ``upsert`` and ``delete`` are one transaction: an advisory lock per table (so writers on
any machine commit one at a time), the next version number, the documents' live rows marked removed
at it, the new rows copied in, the commit recorded. A killed writer's transaction is rolled back by
the server, so the previous version stands and the next ingest completes the work. A snapshot at
version V reads the rows with ``v_from <= V`` and ``v_to`` NULL or above V; the writable store reads
the live rows, each read one statement (one database snapshot). Rows removed more than ``RETAIN`` ago
are deleted by the next commit: a snapshot older than that may find chunks gone (LanceDB keeps every
version), and asking it for one is an ArtifactError naming the snapshot and the horizon.

**Access, twice.** tailor's own filter (``groups && <the asker's groups>``) is in every per-user query,
as in LanceDB. Beneath it the table has row-level security: ``dense`` and ``chunks`` given groups run
on a second connection, as a role (``tailor_reader`` unless ``Server.reader_uri`` says otherwise) that
may only SELECT the chunk tables, through the policy ``groups && (SELECT tailor.groups())``.
``tailor.groups()`` runs as the owner (SECURITY DEFINER) and returns the transaction's setting
``tailor.groups`` only if ``tailor.mac`` is its HMAC-SHA256 under the key, bound to the backend process
and the transaction's start time; otherwise no groups. tailor, which read the key on the owner's
connection, signs the asker's groups at the start of each query transaction. SQL on the reader's
connection may set both settings to anything but cannot read the key, so it cannot sign wider groups,
nor reuse a signature from another transaction. Nothing is written per query: it works on a read
replica. What the owner's connection reads unfiltered: ``listing`` (ids and groups), ``stored_docs``,
``vectors``, ``chunks`` without groups.

**Lexical search** is in the database too (a :class:`tailor.rag.store.LexicalStore`): each row keeps its
chunk's terms (tailor.rag.lexical: the same words the in-memory BM25 counts), their frequencies and its
length; a GIN index on the terms finds the rows holding a query term, and one query scores them by BM25
with the statistics of the rows the groups may read. PostgreSQL's own full-text ranking (``ts_rank``)
has no inverse document frequency, and this ranks as bm25s does: with every group, the same chunks in
the same order (tests/rag/test_pgvector.py compares them), so tailor holds no texts in memory.

**Dense search** has an HNSW index (cosine) and no index on the groups. The planner chooses, from the
statistics of the literal ``groups && ...`` filter: for a top n over groups that read much of the table
it walks the index, with pgvector 0.8's iterative scan in strict order (so a filter that leaves few rows
still yields n of them, best first) and ``hnsw.ef_search = max(EF_SEARCH, 2n)``; for a selective group,
a larger n or a small table it scans the readable rows exactly. The walk is approximate. Measured
with bench/pgvector_recall.py's data (20,000 clustered 384-dimensional unit vectors, 100 queries, one
group reading 95% and one 5%) as the planner chose: recall@10 and @50 against an exact scan 1.000 in
all four cases; p50 2.5 ms for the top 10 of the broad group (index walk), 10 ms for the 5% group and
27 ms for a top 50 (exact scans), on 2 shared cores. tests/rag/test_pgvector.py forces the walk for the
5% group (recall@20 at least 0.9 asserted). Should the walk stop short of n
(``hnsw.max_scan_tuples``), the query is run again as an exact scan, so fewer than n chunks means the
groups may read fewer.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np

from tailor.artifacts import read_json_artifact, write_json_atomic
from tailor.errors import ArtifactError
from tailor.rag.lexical import K1, B, term_counts
from tailor.rag.store import Chunk, Listing, Server, StoredDoc, StoreSpec
from tailor.rag.stores.pg_connect import READER, Readers, connect, psycopg_modules, reader_uri, shown, text_array

POINTER = "pgvector.json"  # in the index directory: which tables are this index's
RETAIN = "24 hours"  # how long rows a commit removed stay readable by older snapshots
EF_SEARCH = 100  # HNSW candidates kept per step (pgvector's default is 40): recall over speed
_SCHEMA_LOCK = 7_245_018  # advisory lock key while the schema is created
_NO_SERVER = "the pgvector store needs a server: set rag.pg_uri or rag.pg_uri_env"
_META = ("chunk_id", "doc_id", "title", "source", "groups", "text", "position", "n_chunks", "doc_hash")
_TYPES = ("text", "text", "text", "text", "text[]", "text", "int4", "int4", "text")
_STORED = ", ".join((*_META, "terms", "tfs", "n_terms", "vector", "v_from"))  # every column a commit writes

# BM25 as tailor.rag.lexical scores it, over the chunks the transaction's groups may read: the rows holding a
# query term (found through the GIN index on terms), each term's frequency in them, their lengths; the chunk
# count and average length are read first (per snapshot and groups, once). A query term counts as often as
# it occurs in the query, as in bm25s.
_BM25 = """
WITH q AS (SELECT term, count(*) AS qtf FROM unnest(%(q)s::text[]) AS term GROUP BY term),
hit AS (
    SELECT t.chunk_id, t.n_terms, u.term, u.tf FROM {table} t, unnest(t.terms, t.tfs) AS u(term, tf)
    WHERE {visible} AND t.groups && %(g)s AND t.terms && %(q)s::text[] AND u.term = ANY(%(q)s::text[])
),
df AS (SELECT term, count(*) AS df FROM hit GROUP BY term)
SELECT hit.chunk_id, sum(
    q.qtf * ln(1 + (%(chunks)s - df.df + 0.5) / (df.df + 0.5))
    * hit.tf / (hit.tf + %(k1)s * (1 - %(b)s + %(b)s * hit.n_terms / %(avgdl)s))
) AS score
FROM hit JOIN df USING (term) JOIN q USING (term)
GROUP BY hit.chunk_id ORDER BY score DESC, hit.chunk_id COLLATE "C" LIMIT %(n)s
"""

# Run once per database, by the owner, under an advisory lock. The functions use only schema-qualified
# names and a fixed search_path, so a role that may create objects elsewhere cannot hijack them.
_SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS tailor;
CREATE TABLE IF NOT EXISTS tailor.commits (
    tbl text NOT NULL, version bigint NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tbl, version)
);
CREATE TABLE IF NOT EXISTS tailor.keys (ipad bytea NOT NULL, opad bytea NOT NULL);
REVOKE ALL ON tailor.keys FROM PUBLIC;
CREATE OR REPLACE FUNCTION tailor.nonce() RETURNS text LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT pg_backend_pid() || ':' || extract(epoch FROM now()) $$;
CREATE OR REPLACE FUNCTION tailor.groups() RETURNS text[] LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT CASE WHEN current_setting('tailor.mac', true) = encode(sha256(k.opad || sha256(k.ipad || convert_to(
                    tailor.nonce() || '|' || current_setting('tailor.groups', true), 'UTF8'))), 'hex')
                THEN current_setting('tailor.groups', true)::text[]
                ELSE '{}'::text[] END
    FROM tailor.keys k LIMIT 1
    $$;
REVOKE ALL ON FUNCTION tailor.groups() FROM PUBLIC;
"""


class _Database:
    """The owner's connection (guarded: one statement or transaction at a time), the readers' and the key."""

    def __init__(self, server: Server):
        self.owner = connect(server.uri, "rag.pg_uri", vectors=False)
        self.lock = threading.RLock()
        self._setup(create_reader=server.reader_uri is None)
        psycopg_modules()[1](self.owner)
        self.readers = Readers(reader_uri(server))
        self._check_reader()
        self.ipad, self.opad = self.owner.execute("SELECT ipad, opad FROM tailor.keys LIMIT 1").fetchone()

    def _setup(self, create_reader: bool) -> None:
        """The schema, the key and (``create_reader``) the reader role, unless an earlier run made them.

        Raises:
            ArtifactError: the owner may not create the extension, the schema or the reader role; the message
                names the role, the privilege and the fix.
        """
        made = "SELECT to_regclass('tailor.keys') IS NOT NULL AND to_regprocedure('tailor.groups()') IS NOT NULL"
        if (
            self.owner.execute(made).fetchone()[0]
            and self.owner.execute("SELECT EXISTS (SELECT FROM tailor.keys)").fetchone()[0]
        ):
            return
        role, database = self.owner.execute("SELECT current_user, current_database()").fetchone()
        with self.owner.transaction():
            self.owner.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            self._as_owner(
                "CREATE EXTENSION IF NOT EXISTS vector",
                f"{role} may not create the extension vector in database {database} (only a superuser may)",
                f"have a superuser run CREATE EXTENSION vector in {database} once",
            )
            self._as_owner(
                _SCHEMA_SQL,
                f"{role} may not create the schema tailor in database {database} (it lacks CREATE there)",
                f"GRANT CREATE ON DATABASE {database} TO {role}, or connect as the database's owner (rag.pg_uri)",
            )
            if self.owner.execute("SELECT NOT EXISTS (SELECT FROM tailor.keys)").fetchone()[0]:
                key = secrets.token_bytes(64)  # HMAC-SHA256's block size: the pads are the key xor'ed
                ipad, opad = bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)
                self.owner.execute("INSERT INTO tailor.keys VALUES (%s, %s)", (ipad, opad))
            exists = self.owner.execute("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = %s)", (READER,))
            if create_reader and not exists.fetchone()[0]:
                self._as_owner(
                    f'CREATE ROLE "{READER}" LOGIN',
                    f"{role} may not create the reader role {READER} (it lacks CREATEROLE)",
                    f"grant it (ALTER ROLE {role} CREATEROLE), have an administrator run CREATE ROLE {READER} LOGIN "
                    "once, or set rag.pg_reader_uri_env to the URI of an existing plain role",
                )

    def _as_owner(self, sql: str, denied: str, fix: str) -> None:
        """Run ``sql`` as the owner; a privilege missing is one line: what was denied, the reason, the fix."""
        psycopg = psycopg_modules()[0]
        try:
            self.owner.execute(sql)
        except psycopg.errors.InsufficientPrivilege as e:
            reason = e.diag.message_primary or type(e).__name__
            raise ArtifactError(f"pgvector: the role {denied}: {reason}; {fix}") from None

    def _check_reader(self) -> None:
        """Refuse a reader role that row-level security would not hold (a superuser, the owner, one that bypasses)."""
        with self.readers.connection() as conn:
            role, bypass = conn.execute(
                "SELECT current_user, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
        owner = self.owner.execute("SELECT current_user").fetchone()[0]
        member = self.owner.execute("SELECT pg_has_role(%s, current_user, 'USAGE')", (role,)).fetchone()[0]
        if bypass or member:
            raise ArtifactError(
                f"pgvector: the reader role {role} is not held by row-level security "
                f"({'it bypasses it' if bypass else f'it has the privileges of the owner {owner}'}); "
                f"give per-user queries a plain role (rag.pg_reader_uri_env)"
            )
        with self.lock:
            self.owner.execute(f'GRANT USAGE ON SCHEMA tailor TO "{role}"')
            self.owner.execute(f'GRANT EXECUTE ON FUNCTION tailor.groups() TO "{role}"')
        self.reader_role = role

    def mac(self, nonce: str, groups: str) -> str:
        """HMAC-SHA256 of ``nonce|groups`` under the key: what tailor.groups() checks."""
        inner = hashlib.sha256(self.ipad + f"{nonce}|{groups}".encode()).digest()
        return hashlib.sha256(self.opad + inner).hexdigest()

    @contextmanager
    def as_reader(self, groups: frozenset[str]) -> Iterator[Any]:
        """A transaction on a reader connection whose row-level security lets ``groups`` read, and no more."""
        with self.readers.connection() as conn, conn.transaction():
            nonce = conn.execute("SELECT tailor.nonce()").fetchone()[0]
            value = text_array(groups)
            conn.execute(
                "SELECT set_config('tailor.groups', %s, true), set_config('tailor.mac', %s, true)",
                (value, self.mac(nonce, value)),
            )
            yield conn


class PgStore:
    """A :class:`tailor.rag.store.VectorStore` over one PostgreSQL table."""

    def __init__(self, db: _Database, table: str, dim: int, pinned: int | None = None):
        self._db = db
        self._table = table  # schema-qualified and quoted: made of [a-z0-9_] only
        self._name = table.split(".")[1].strip('"')
        self._dim = dim
        self._pinned = pinned  # a snapshot's version: read-only
        self._stats: dict[frozenset[str], tuple[int, float]] = {}  # a snapshot's BM25 statistics per groups

    def _owner(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple]:
        with self._db.lock:
            return self._db.owner.execute(sql, params).fetchall()

    def _visible(self) -> str:
        """The rows of the version read, as a condition with the parameter ``%(v)s``."""
        return "v_to IS NULL" if self._pinned is None else "v_from <= %(v)s AND (v_to IS NULL OR v_to > %(v)s)"

    @property
    def version(self) -> int:
        if self._pinned is not None:
            return self._pinned
        sql = "SELECT coalesce(max(version), 0) FROM tailor.commits WHERE tbl = %s"
        return self._owner(sql, (self._name,))[0][0]

    def count(self) -> int:
        return self._owner(f"SELECT count(*) FROM {self._table} WHERE {self._visible()}", {"v": self._pinned})[0][0]

    def stored_docs(self) -> dict[str, StoredDoc]:
        rows = self._owner(
            f"SELECT doc_id, min(doc_hash), count(*), min(n_chunks) FROM {self._table} "
            f"WHERE {self._visible()} GROUP BY doc_id",
            {"v": self._pinned},
        )
        return {doc_id: StoredDoc(doc_hash, chunks, n_chunks) for doc_id, doc_hash, chunks, n_chunks in rows}

    @contextmanager
    def _commit(self) -> Iterator[tuple[Any, int]]:
        """One transaction making the next version: (connection, its number)."""
        if self._pinned is not None:
            raise ValueError(f"a snapshot of {self._name} at version {self._pinned} is read-only")
        with self._db.lock, self._db.owner.transaction():
            conn = self._db.owner
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._table,))
            sql = "SELECT coalesce(max(version), 0) + 1 FROM tailor.commits WHERE tbl = %s"
            version = conn.execute(sql, (self._name,)).fetchone()[0]
            yield conn, version
            conn.execute("INSERT INTO tailor.commits (tbl, version) VALUES (%s, %s)", (self._name, version))
            old = f"SELECT max(version) FROM tailor.commits WHERE tbl = %s AND at < now() - interval '{RETAIN}'"
            conn.execute(f"DELETE FROM {self._table} WHERE v_to <= ({old})", (self._name,))

    def upsert(self, doc_ids: Sequence[str], chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if not doc_ids:
            return
        if stray := sorted({c.doc_id for c in chunks} - set(doc_ids)):
            raise ValueError(f"chunks of documents not being upserted: {stray[:5]}")
        if len(vectors) != len(chunks) or (len(chunks) and np.shape(vectors)[1] != self._dim):
            raise ValueError(f"{np.shape(vectors)} vectors for {len(chunks)} chunks of {self._dim} dimensions")
        with self._commit() as (conn, version):
            sql = f"UPDATE {self._table} SET v_to = %s WHERE doc_id = ANY(%s) AND v_to IS NULL"
            conn.execute(sql, (version, list(dict.fromkeys(doc_ids))))
            with conn.cursor().copy(f"COPY {self._table} ({_STORED}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([*_TYPES, "text[]", "int4[]", "int4", "vector", "int8"])
                for c, v in zip(chunks, np.asarray(vectors, np.float32), strict=True):
                    values = [getattr(c, k) for k in _META if k != "groups"]
                    copy.write_row([*values[:4], sorted(c.groups), *values[4:], *term_counts(c.text), v, version])

    def delete(self, doc_ids: Sequence[str]) -> None:
        if not doc_ids:
            return
        with self._commit() as (conn, version):
            sql = f"UPDATE {self._table} SET v_to = %s WHERE doc_id = ANY(%s) AND v_to IS NULL"
            conn.execute(sql, (version, list(dict.fromkeys(doc_ids))))

    def dense(self, vector: np.ndarray, groups: frozenset[str], n: int) -> list[tuple[str, float]]:
        if not groups or n < 1:
            return []
        query = np.asarray(vector, np.float32)
        with self._db.as_reader(groups) as conn:
            conn.execute("SELECT set_config('hnsw.iterative_scan', 'strict_order', true)")
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(min(1000, max(EF_SEARCH, 2 * n))),))
            sql = (
                f"SELECT chunk_id, 1 - (vector <=> %(q)s) FROM {self._table} "
                f"WHERE {self._visible()} AND groups && %(g)s ORDER BY vector <=> %(q)s LIMIT %(n)s"
            )
            params = {"q": query, "g": sorted(groups), "n": n, "v": self._pinned}
            rows = conn.execute(sql, params).fetchall()
            if len(rows) < n:  # the index gave up early (hnsw.max_scan_tuples): a full scan says what there is
                conn.execute("SELECT set_config('enable_indexscan', 'off', true)")
                rows = conn.execute(sql, params).fetchall()
        return [(chunk_id, float(score)) for chunk_id, score in rows]

    def lexical(self, terms: Sequence[str], groups: frozenset[str], n: int) -> list[tuple[str, float]]:
        if not groups or not terms or n < 1:
            return []
        with self._db.as_reader(groups) as conn:
            chunks, avgdl = (
                self._stats.get(groups)
                or conn.execute(
                    f"SELECT count(*), coalesce(avg(n_terms), 0) FROM {self._table} "
                    f"WHERE {self._visible()} AND groups && %(g)s",
                    {"g": sorted(groups), "v": self._pinned},
                ).fetchone()
            )
            if self._pinned is not None:
                self._stats[groups] = (chunks, avgdl)
            rows = conn.execute(
                _BM25.format(table=self._table, visible=self._visible()),
                {
                    "q": list(terms),
                    "g": sorted(groups),
                    "v": self._pinned,
                    "n": n,
                    "chunks": chunks,
                    "avgdl": max(float(avgdl), 1e-9),
                    "k1": K1,
                    "b": B,
                },
            ).fetchall()
        return [(chunk_id, float(score)) for chunk_id, score in rows]

    def listing(self, texts: bool = False) -> Listing:
        columns = "chunk_id, groups, text" if texts else "chunk_id, groups"
        rows = self._owner(f"SELECT {columns} FROM {self._table} WHERE {self._visible()}", {"v": self._pinned})
        rows.sort(key=lambda r: r[0])  # Python string order, whatever the database's collation
        return Listing(
            tuple(r[0] for r in rows),
            tuple(frozenset(r[1]) for r in rows),
            tuple(r[2] for r in rows) if texts else None,
        )

    def _rows(self, ids: Sequence[str], columns: str, groups: frozenset[str] | None) -> dict[str, tuple]:
        """chunk_id → (chunk_id, *columns) for the ``ids`` this version holds (and ``groups`` may read)."""
        params = {"ids": list(dict.fromkeys(ids)), "v": self._pinned}
        sql = f"SELECT chunk_id, {columns} FROM {self._table} WHERE {self._visible()} AND chunk_id = ANY(%(ids)s)"
        if groups is None:
            rows = self._owner(sql, params)
        else:
            with self._db.as_reader(groups) as conn:
                rows = conn.execute(sql + " AND groups && %(g)s", {**params, "g": sorted(groups)}).fetchall()
        found = {r[0]: r for r in rows}
        if missing := [i for i in params["ids"] if i not in found]:
            self._check_horizon()
            readable = "" if groups is None else " for these groups"
            raise KeyError(f"chunks not in version {self.version}{readable}: {missing[:5]}")
        return found

    def _check_horizon(self) -> None:
        """Raise if this is a snapshot whose rows a commit may have deleted: a later version removed rows more
        than ``RETAIN`` before a commit since (which deletes such rows), so what it reads is no longer whole.

        Raises:
            ArtifactError: naming the snapshot, the horizon and the version past it.
        """
        if self._pinned is None:
            return
        sql = (
            "SELECT version, at FROM tailor.commits WHERE tbl = %(t)s AND version > %(v)s "
            f"AND at < (SELECT max(at) FROM tailor.commits WHERE tbl = %(t)s) - interval '{RETAIN}' "
            "ORDER BY version LIMIT 1"
        )
        past = self._owner(sql, {"t": self._name, "v": self._pinned})
        if past:
            version, at = past[0]
            raise ArtifactError(
                f"pgvector: the snapshot of {self._name} at version {self._pinned} is past the purge horizon "
                f"({RETAIN}): version {version}, committed {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC, is more than "
                f"{RETAIN} older than a later commit, which deleted the rows it removed; open the index again "
                "(restart `tailor serve`) to read the current version"
            )

    def chunks(self, ids: Sequence[str], groups: frozenset[str] | None = None) -> list[Chunk]:
        rows = self._rows(ids, ", ".join(_META[1:]), groups)
        return [Chunk(*rows[i][:4], frozenset(rows[i][4]), *rows[i][5:]) for i in ids]

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        rows = self._rows(ids, "vector", None)
        return np.array([rows[i][1].to_numpy() for i in ids], np.float32).reshape(len(ids), self._dim)

    def snapshot(self) -> PgStore:
        return PgStore(self._db, self._table, self._dim, self.version)

    def drop(self) -> None:
        with self._db.lock, self._db.owner.transaction():
            self._db.owner.execute(f"DROP TABLE IF EXISTS {self._table}")
            self._db.owner.execute("DELETE FROM tailor.commits WHERE tbl = %s", (self._name,))


def _prefix(index_dir: Path, create: bool) -> str | None:
    """This index directory's table prefix (drawn and saved on first use if ``create``)."""
    path = Path(index_dir) / POINTER
    if path.exists():
        return read_json_artifact(path, ("prefix",), "pgvector pointer")["prefix"]
    if not create:
        return None
    prefix = f"t{secrets.token_hex(5)}"
    write_json_atomic(path, {"prefix": prefix})
    return prefix


def _create_table(db: _Database, table: str, dim: int) -> None:
    name = table.split(".")[1].strip('"')
    with db.lock, db.owner.transaction():
        db.owner.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (table,))
        db.owner.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (chunk_id text NOT NULL, doc_id text NOT NULL, title text NOT NULL, "
            "source text NOT NULL, groups text[] NOT NULL, text text NOT NULL, position int NOT NULL, "
            f"n_chunks int NOT NULL, doc_hash text NOT NULL, terms text[] NOT NULL, tfs int4[] NOT NULL, "
            f"n_terms int NOT NULL, vector vector({dim}) NOT NULL, "
            "v_from bigint NOT NULL, v_to bigint)"
        )
        db.owner.execute(f'CREATE INDEX IF NOT EXISTS "{name}_live" ON {table} (doc_id) WHERE v_to IS NULL')
        db.owner.execute(f'CREATE INDEX IF NOT EXISTS "{name}_id" ON {table} (chunk_id)')
        db.owner.execute(f'CREATE INDEX IF NOT EXISTS "{name}_hnsw" ON {table} USING hnsw (vector vector_cosine_ops)')
        db.owner.execute(f'CREATE INDEX IF NOT EXISTS "{name}_terms" ON {table} USING gin (terms)')
        db.owner.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        db.owner.execute(f"DROP POLICY IF EXISTS readable ON {table}")
        # For every role but the owner: a role that is granted SELECT later is held by it too.
        db.owner.execute(f"CREATE POLICY readable ON {table} FOR SELECT USING (groups && (SELECT tailor.groups()))")
        db.owner.execute(f'GRANT SELECT ON {table} TO "{db.reader_role}"')


def _dim_of(db: _Database, table: str) -> int | None:
    with db.lock:
        row = db.owner.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'vector'", (table,)
        ).fetchone()
    return row[0] if row else None


def open_store(index_dir: Path, name: str, dim: int | None = None, server: Server | None = None) -> PgStore:
    """The table for store ``name`` of the index at ``index_dir`` on ``server``; created if ``dim`` is given.

    Raises:
        ArtifactError: no server given, psycopg or pgvector not installed, the server cannot be reached or
            its reader role is not held by row-level security, or the table is missing and ``dim`` is None.
    """
    if server is None:
        raise ArtifactError(_NO_SERVER)
    missing = ArtifactError(f"{index_dir}: no table {name} in the pgvector index; run `tailor ingest`")
    prefix = _prefix(index_dir, create=dim is not None)
    if prefix is None:
        raise missing
    db = _Database(server)
    table = f'tailor."{prefix}_{name}"'
    if dim is not None:
        _create_table(db, table, dim)
    found = _dim_of(db, table)
    if found is None:
        raise missing
    return PgStore(db, table, found)


def drop_tables(index_dir: Path, server: Server | None = None) -> list[str]:
    """Drop every table of the index at ``index_dir`` (those named with its pointer's prefix: the active one and
    any a rebuild cut short left) and their commits; other indexes' tables on the server stay. What was dropped,
    each named with the server; none: no pointer here, or its tables are gone already.

    Raises:
        ArtifactError: the directory has a pointer and no server is given, or the server cannot be reached.
    """
    prefix = _prefix(index_dir, create=False)
    if prefix is None:
        return []
    if server is None:
        raise ArtifactError(_NO_SERVER)
    sql = psycopg_modules()[0].sql
    find = "SELECT tablename FROM pg_tables WHERE schemaname = 'tailor' AND starts_with(tablename, %s) ORDER BY 1"
    with connect(server.uri, "rag.pg_uri", vectors=False) as conn, conn.transaction():
        names = [row[0] for row in conn.execute(find, (f"{prefix}_",)).fetchall()]
        for name in names:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier("tailor", name)))
        if names:
            conn.execute("DELETE FROM tailor.commits WHERE tbl = ANY(%s)", (names,))
    return [f'tailor."{name}" on {shown(server.uri)}' for name in names]


def copy_store(src_dir: Path, dst_dir: Path, name: str, server: Server | None = None) -> None:
    """Copy the current version of store ``name`` at ``src_dir`` into new tables for ``dst_dir``, whose
    pointer (a copy of ``src_dir``'s) is replaced: the two indexes then change independently."""
    src = open_store(src_dir, name, server=server)
    (Path(dst_dir) / POINTER).unlink()
    dst = open_store(dst_dir, name, src._dim, server)
    with dst._db.lock, dst._db.owner.transaction():
        version = src.version
        visible = "v_from <= %(v)s AND (v_to IS NULL OR v_to > %(v)s)"
        dst._db.owner.execute(
            f"INSERT INTO {dst._table} ({_STORED}) SELECT {_STORED} FROM {src._table} WHERE {visible}", {"v": version}
        )
        sql = "INSERT INTO tailor.commits (tbl, version) VALUES (%s, %s)"
        dst._db.owner.execute(sql, (dst._name, version))


STORE = StoreSpec(
    name="pgvector",
    open=open_store,
    summary="PostgreSQL + pgvector on a server: HNSW search with the groups as a pre-filter, and row-level "
    "security enforcing them again in the database",
    copy=copy_store,
    drop=drop_tables,
)
