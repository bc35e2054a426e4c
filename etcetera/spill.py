"""A temporary SQLite database on disk: the sets and look-ups that inspection and gc need about
every object of a version or a remote, held on disk instead of in memory (issue 13)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from typing import Iterator


@contextlib.contextmanager
def spill_db(*tables: str) -> Iterator[sqlite3.Connection]:
    """A fresh database with `tables` (CREATE TABLE bodies, e.g. "need(obj TEXT PRIMARY KEY, size INT)"),
    deleted when the block ends.  No journal, no syncs: it lives only as long as the command."""
    with tempfile.TemporaryDirectory(prefix="etc-spill-") as folder:
        db = sqlite3.connect(os.path.join(folder, "spill.db"))
        try:
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("PRAGMA cache_size=-8000")  # at most ~8 MB of pages in memory
            for table in tables:
                db.execute(f"CREATE TABLE {table}")
            yield db
        finally:
            db.close()


def batches(cursor: sqlite3.Cursor, n: int = 1000) -> Iterator[list[tuple]]:
    """The rows of a query, `n` at a time."""
    while rows := cursor.fetchmany(n):
        yield rows
