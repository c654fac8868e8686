"""The crawl frontier and seen-URL set, persistent in SQLite (WAL) so a killed crawl resumes.

One row per URL ever put in scope. `status` is `queued` (to fetch), `done` (final response written
to WARC: `warc_file`/`warc_offset` say where), `failed` (gave up: `reason` says why) or `skipped`
(in scope but not fetched, e.g. robots.txt). In-flight URLs stay `queued` in the database, so a
crash simply refetches what had not been written yet; "done" is set in the same critical section
as the WARC write (see tibcpt.pipeline.crawl.warc.WarcSink), and tibcpt.pipeline.crawl.crawler recovers records written just
before a crash from the `.open` WARC file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS urls (
    url TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    depth INTEGER NOT NULL,
    hops INTEGER NOT NULL DEFAULT 0,
    role TEXT NOT NULL DEFAULT 'page',
    status TEXT NOT NULL DEFAULT 'queued',
    seq INTEGER NOT NULL,
    reason TEXT,
    http_status INTEGER,
    warc_file TEXT,
    warc_offset INTEGER,
    n_bytes INTEGER,
    updated REAL
);
CREATE INDEX IF NOT EXISTS urls_queue ON urls(status, depth, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS content (hash TEXT PRIMARY KEY, url TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Item:
    """One URL to fetch, as the frontier hands it out."""

    url: str
    host: str
    depth: int
    hops: int
    role: str


class Frontier:
    """Thread-safe wrapper around one SQLite connection (a lock, not a pool: writes are tiny)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        # WAL: readers never block the writer; synchronous=NORMAL is durable across process crashes
        # (only an OS crash can lose the last transactions, and those pages are simply refetched).
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM urls").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, urls: list[tuple[str, str, int, int, str]]) -> int:
        """Insert (url, host, depth, hops, role) rows not seen before; return how many were new."""
        with self._lock:
            self._db.execute("BEGIN")
            n = self._add(urls)
            self._db.execute("COMMIT")
            return n

    def _add(self, urls: list[tuple[str, str, int, int, str]]) -> int:
        n = 0
        for url, host, depth, hops, role in urls:
            self._seq += 1
            cur = self._db.execute(
                "INSERT OR IGNORE INTO urls(url, host, depth, hops, role, seq) VALUES (?,?,?,?,?,?)",
                (url, host, depth, hops, role, self._seq),
            )
            n += cur.rowcount
        return n

    def queued(self, limit: int, exclude: set[str]) -> list[Item]:
        """Queued URLs, shallowest and oldest first, minus those in `exclude` (in flight)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT url, host, depth, hops, role FROM urls WHERE status='queued' ORDER BY depth, seq LIMIT ?",
                (limit + len(exclude),),
            ).fetchall()
        return [Item(*r) for r in rows if r[0] not in exclude][:limit]

    def complete(
        self,
        url: str,
        status: str,
        *,
        reason: str | None = None,
        http_status: int | None = None,
        warc_file: str | None = None,
        warc_offset: int | None = None,
        n_bytes: int | None = None,
        children: list[tuple[str, str, int, int, str]] | None = None,
    ) -> None:
        """Mark `url` done/failed/skipped and enqueue its out-links in one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            if children:
                self._add(children)
            self._db.execute(
                "UPDATE urls SET status=?, reason=?, http_status=?, warc_file=?, warc_offset=?, n_bytes=?, updated=? "
                "WHERE url=?",
                (status, reason, http_status, warc_file, warc_offset, n_bytes, time.time(), url),
            )
            self._db.execute("COMMIT")

    def claim_content(self, digest: str, url: str) -> str | None:
        """Record that `url` holds the page text with this digest; return the URL that stored it first
        if that is another one (the page is a duplicate), else None. Persistent, so resume keeps it."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO content(hash, url) VALUES (?, ?)", (digest, url))
            first = self._db.execute("SELECT url FROM content WHERE hash=?", (digest,)).fetchone()[0]
        return None if first == url else first

    def fetched_page_urls(self) -> list[str]:
        """Page URLs already requested in earlier runs (for the per-pattern cap on resume)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT url FROM urls WHERE role='page' AND status IN ('done','failed') AND http_status IS NOT NULL"
            ).fetchall()
        return [r[0] for r in rows]

    def status_of(self, url: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT status FROM urls WHERE url=?", (url,)).fetchone()
        return row[0] if row else None

    def get(self, url: str) -> Item | None:
        with self._lock:
            row = self._db.execute("SELECT url, host, depth, hops, role FROM urls WHERE url=?", (url,)).fetchone()
        return Item(*row) if row else None

    def counts(self) -> dict[str, int]:
        """Rows per status, plus `pages_done` (done rows with role page: what max_pages counts)."""
        with self._lock:
            out = dict(self._db.execute("SELECT status, COUNT(*) FROM urls GROUP BY status").fetchall())
            out["pages_done"] = self._db.execute(
                "SELECT COUNT(*) FROM urls WHERE status='done' AND role='page'"
            ).fetchone()[0]
        return out

    def reasons(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT reason, COUNT(*) FROM urls WHERE status IN ('failed','skipped') GROUP BY reason"
            ).fetchall()
        return dict(rows)
