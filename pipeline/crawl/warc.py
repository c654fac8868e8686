"""WARC files: the rotating writer the crawler appends to, and the `kind: warc` source that reads them.

Writing: `WarcSink` appends gzip-per-record WARC files (warcio) named `*.warc.gz.open` while they are
being written and renames them to `*.warc.gz` when rotated or closed, so readers only ever see
finished files. After a crash, `recover_open_file` reads an `.open` file back record by record,
truncates a half-written last record and hands every complete record to a callback (the crawler
uses that to mark pages done whose record was written but whose frontier row was not updated).

Reading: `iter_warc(path, source)` yields one `RawDoc` per HTTP 200 response record with a
supported content type and one `Rejection` for every other response record (non-200, non-text,
truncated, crawl bookkeeping such as robots.txt, pages marked noindex by meta robots or
X-Robots-Tag, and pages the crawler archived as `duplicate` or `canonical_twin`), so nothing is
dropped silently.
"""

from __future__ import annotations

import glob
import hashlib
import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tibcpt.pipeline.crawl.parse import is_noindex
from tibcpt.pipeline.document import RawDoc, Rejection
from tibcpt.pipeline.sources.registry import SourceConfig, register_kind
from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tibcpt.errors import InputError

log = logging.getLogger(__name__)

ROLE_HEADER = "WARC-Tibcpt-Role"
"""Extension WARC header: `page`, `robots`, `sitemap`, `feed`, or for a page the crawler will not
use twice `duplicate` / `canonical_twin` (only `page` records become documents)."""

OPEN_SUFFIX = ".open"

# Content type -> RawDoc format. XHTML is HTML for trafilatura; everything else is not text we extract.
_FORMATS = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "text/plain": "txt",
}


def content_format(content_type: str | None) -> str | None:
    """Map an HTTP Content-Type to a RawDoc format ('html', 'pdf', 'txt') or None if unsupported."""
    if not content_type:
        return None
    return _FORMATS.get(content_type.split(";", 1)[0].strip().lower())


def content_charset(content_type: str | None) -> str | None:
    for part in (content_type or "").split(";")[1:]:
        k, _, v = part.strip().partition("=")
        if k.lower() == "charset" and v:
            return v.strip("\"' ").lower()
    return None


# --------------------------------------------------------------------------------------------- writing


class WarcSink:
    """Thread-safe rotating WARC writer (gzip per record, as Common Crawl and warcio recommend).

    Callers hold `lock` around `write_exchange` plus whatever bookkeeping must be atomic with it
    (the crawler marks the URL done under the same lock, so a rotation can never separate a record
    from its frontier update: an unmarked record is always in an `.open` file, which resume scans).
    """

    def __init__(self, folder: Path, prefix: str, max_file_bytes: int = 100_000_000, software: str = "tibcpt"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.max_file_bytes = max_file_bytes
        self.software = software
        self.lock = threading.RLock()
        self._fh: io.BufferedWriter | None = None
        self._writer: WARCWriter | None = None
        self._path: Path | None = None
        self._seq = 0

    @property
    def current_name(self) -> str:
        """Final name (without `.open`) of the file being written."""
        assert self._path is not None
        return self._path.name[: -len(OPEN_SUFFIX)]

    def _open(self) -> None:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        while True:
            self._seq += 1
            name = f"{self.prefix}-{stamp}-{os.getpid()}-{self._seq:05d}.warc.gz"
            path = self.folder / (name + OPEN_SUFFIX)
            if not path.exists() and not (self.folder / name).exists():
                break
        self._path = path
        self._fh = open(path, "ab")  # noqa: SIM115 - lives until rotate/close
        self._writer = WARCWriter(self._fh, gzip=True)
        info = self._writer.create_warcinfo_record(name, {"software": self.software, "format": "WARC/1.1"})
        self._writer.write_record(info)

    def _rotate_if_needed(self) -> None:
        if self._fh is None:
            self._open()
        elif self._fh.tell() >= self.max_file_bytes:
            self.close()
            self._open()

    def write_exchange(
        self,
        url: str,
        request_line: str,
        request_headers: list[tuple[str, str]],
        status_line: str,
        response_headers: list[tuple[str, str]],
        body: bytes,
        role: str = "page",
        truncated: str | None = None,
        ip: str | None = None,
    ) -> tuple[str, int]:
        """Append a request and a response record; fsync; return (final file name, response offset)."""
        with self.lock:
            self._rotate_if_needed()
            assert self._writer is not None and self._fh is not None
            req = self._writer.create_warc_record(
                url,
                "request",
                payload=io.BytesIO(b""),
                http_headers=StatusAndHeaders(request_line, request_headers, is_http_request=True),
            )
            extra = {ROLE_HEADER: role}
            if truncated:
                extra["WARC-Truncated"] = truncated  # WARC 1.1 §5.13: "length" or "time"
            if ip:
                extra["WARC-IP-Address"] = ip
            resp = self._writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                length=len(body),
                warc_headers_dict=extra,
                http_headers=StatusAndHeaders(status_line, response_headers, protocol="HTTP/1.1"),
            )
            req.rec_headers.add_header("WARC-Concurrent-To", resp.rec_headers.get_header("WARC-Record-ID"))
            self._writer.write_record(req)
            offset = self._fh.tell()
            self._writer.write_record(resp)
            # Durable before the frontier says "done": a page is never marked fetched without its record.
            self._fh.flush()
            os.fsync(self._fh.fileno())
            return self.current_name, offset

    def close(self) -> None:
        with self.lock:
            if self._fh is None:
                return
            self._fh.close()
            assert self._path is not None
            os.replace(self._path, self._path.with_name(self.current_name))
            self._fh = self._writer = self._path = None


def recover_open_file(path: Path, on_record: Callable[[ArcWarcRecord, int], None]) -> int:
    """Finish an `.open` WARC left by a killed crawl: call `on_record(record, offset)` for every
    complete response record, truncate a partial trailing record, rename to `.warc.gz`.

    Returns the number of response records seen.
    """
    n = 0
    good_end = 0
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh)
        try:
            for rec in it:
                if rec.rec_type == "response":
                    # read before get_record_offset(): warcio computes the offset by reading to the end
                    rec.buffered = rec.content_stream().read()  # type: ignore[attr-defined]
                    on_record(rec, it.get_record_offset())
                    n += 1
                it.read_to_end(rec)
                good_end = it.get_record_offset() + it.get_record_length()
        except Exception as e:  # a half-written gzip member or WARC header: everything after is lost
            log.warning("%s: truncating partial record at byte %d (%s)", path.name, good_end, e)
    size = path.stat().st_size
    if good_end < size:
        with open(path, "r+b") as fh:
            fh.truncate(good_end)
    os.replace(path, path.with_name(path.name[: -len(OPEN_SUFFIX)]))
    return n


# --------------------------------------------------------------------------------------------- reading


def record_id(source: str, warc_file: str, offset: int) -> str:
    """Stable, unique document id: the same record always gets the same id."""
    h = hashlib.sha1(f"{warc_file}:{offset}".encode()).hexdigest()[:16]
    return f"{source}/{h}"


def iter_warc(path: Path, source: str) -> Iterator[RawDoc | Rejection]:
    """RawDocs for the 200 text responses of one WARC file; a Rejection for every other response."""
    name = path.name
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in finally
    except OSError as e:
        yield Rejection(f"{source}/{name}", source, "ingest", "warc_unreadable", str(e))
        return
    try:
        it = ArchiveIterator(fh)
        try:
            for rec in it:
                if rec.rec_type not in ("response", "resource"):
                    continue  # request/warcinfo/metadata records describe a response, they are not documents
                body = rec.content_stream().read()  # undoes chunking and Content-Encoding
                # only now: warcio's get_record_offset() reads the record to its end (losing the payload)
                yield _record_to_doc(rec, body, source, name, it.get_record_offset())
        except Exception as e:
            yield Rejection(f"{source}/{name}", source, "ingest", "warc_corrupt", f"{type(e).__name__}: {e}")
    finally:
        fh.close()


def _record_to_doc(rec: ArcWarcRecord, body: bytes, source: str, warc_file: str, offset: int) -> RawDoc | Rejection:
    url = rec.rec_headers.get_header("WARC-Target-URI") or ""
    meta: dict[str, Any] = {
        "url": url,
        "date": rec.rec_headers.get_header("WARC-Date"),
        "warc_file": warc_file,
        "warc_offset": offset,
    }
    doc_id = record_id(source, warc_file, offset)

    def reject(reason: str, detail: str = "") -> Rejection:
        return Rejection(doc_id, source, "ingest", reason, detail or url, "", meta)

    role = rec.rec_headers.get_header(ROLE_HEADER)
    if role and role != "page":
        return reject(f"warc_crawl_{role}")
    if rec.rec_headers.get_header("WARC-Truncated"):
        return reject("warc_truncated", rec.rec_headers.get_header("WARC-Truncated"))
    if rec.rec_type == "response":
        if rec.http_headers is None:
            return reject("warc_no_http_headers")
        status = rec.http_headers.get_statuscode()
        meta["http_status"] = int(status) if status and status.isdigit() else status
        if status != "200":
            return reject(f"http_status_{status}")
        ctype = rec.http_headers.get_header("Content-Type")
    else:  # resource records carry the payload type in the WARC header
        ctype = rec.rec_headers.get_header("Content-Type")
    fmt = content_format(ctype)
    meta["content_type"] = ctype
    if fmt is None:
        return reject("warc_non_html", f"{url} ({ctype})")
    if fmt == "html" and rec.http_headers is not None and is_noindex(body, rec.http_headers.get_header("X-Robots-Tag")):
        return reject("robots_noindex")  # archived, but the site asked for it not to be used
    charset = content_charset(ctype)
    if charset:
        meta["charset"] = charset
    return RawDoc(doc_id, source, body, fmt, meta)  # type: ignore[arg-type]


def expand_paths(pattern: Path) -> list[Path]:
    """A file, a folder (all *.warc / *.warc.gz below it) or a glob."""
    if pattern.is_dir():
        files = [*pattern.rglob("*.warc.gz"), *pattern.rglob("*.warc")]
    elif pattern.is_file():
        files = [pattern]
    else:
        files = [Path(p) for p in glob.glob(str(pattern), recursive=True)]
    return sorted(p for p in files if p.is_file())


@dataclass
class WarcOptions:
    path: str
    """A .warc/.warc.gz file, a folder (searched recursively) or a glob; relative to sources.yaml."""

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("path: must name a WARC file, folder or glob")


class WarcKind:
    """`kind: warc`: WARC files we wrote or extracts from elsewhere (e.g. Common Crawl)."""

    options_cls = WarcOptions

    def list_items(self, source: SourceConfig) -> list[str]:
        files = expand_paths(source.resolve_path(source.options.path))
        if not files:
            raise InputError(f"source {source.name}: no WARC files at {source.options.path}")
        return [str(p) for p in files]

    def read_item(self, source: SourceConfig, item: str) -> Iterator[RawDoc | Rejection]:
        yield from iter_warc(Path(item), source.name)


register_kind("warc", WarcKind())
