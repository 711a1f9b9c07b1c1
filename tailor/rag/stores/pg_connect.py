"""Connections to PostgreSQL for the pgvector store: the driver, URIs that never show a password, readers' pool."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tailor.errors import ArtifactError
from tailor.rag.store import Server

READER = "tailor_reader"  # the role per-user queries run as, unless the reader URI names another


def psycopg_modules():
    try:
        import psycopg
        from pgvector.psycopg import register_vector
    except ImportError:
        raise ArtifactError(
            "rag.store: pgvector needs psycopg and pgvector: pip install 'llm-tailor[pgvector]'"
        ) from None
    return psycopg, register_vector


def shown(uri: str) -> str:
    """``uri`` as it may be printed: user, host, port and database, never the password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(uri)
    except Exception:  # an unparseable URI may still hold a password: show none of it
        return "(an unparseable URI)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


def reader_uri(server: Server) -> str:
    """The URI per-user queries connect with: ``server.reader_uri``, else the owner's as role tailor_reader."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    if server.reader_uri:
        return server.reader_uri
    parts = {k: v for k, v in conninfo_to_dict(server.uri).items() if k != "password"}
    return make_conninfo("", **{**parts, "user": READER})


def connect(uri: str, field: str, vectors: bool = True) -> Any:
    """An autocommit connection; ``vectors``: with pgvector's types registered (the extension must exist)."""
    psycopg, register_vector = psycopg_modules()
    try:
        conn = psycopg.connect(uri, autocommit=True, connect_timeout=10)
    except psycopg.Error as e:
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise ArtifactError(f"pgvector: cannot connect to {shown(uri)} ({reason}); check {field}") from None
    if vectors:
        register_vector(conn)
    return conn


def text_array(groups: frozenset[str]) -> str:
    """A text[] literal of ``groups``, quoted whatever they hold."""
    quoted = ('"' + g.replace("\\", "\\\\").replace('"', '\\"') + '"' for g in sorted(groups))
    return "{" + ",".join(quoted) + "}"


class Readers:
    """Connections of the reader role, one per query in flight (a query is a transaction, so two threads
    cannot share one), kept for reuse."""

    def __init__(self, uri: str):
        self._uri = uri
        self._free: list[Any] = []
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        with self._lock:
            conn = self._free.pop() if self._free else None
        if conn is None or conn.closed:
            conn = connect(self._uri, "rag.pg_reader_uri_env")
        try:
            yield conn
        finally:
            if not conn.closed:
                with self._lock:
                    self._free.append(conn)
