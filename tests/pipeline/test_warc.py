"""WARC write/read/recover without the network: records built from real Tibetan text."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pytest
from tibcpt.pipeline.crawl.warc import OPEN_SUFFIX, WarcSink, content_format, expand_paths, iter_warc, recover_open_file
from tibcpt.pipeline.document import RawDoc, Rejection
from tibcpt.pipeline.sources.registry import get_kind, parse_source
from warcio.archiveiterator import ArchiveIterator

from tibcpt.errors import InputError

REPO = Path(__file__).resolve().parents[2]
UDHR = REPO.parent / "shared" / "corpus" / "modern" / "udhr" / "udhr_bod.txt"


@pytest.fixture(scope="module")
def tibetan() -> str:
    return UDHR.read_text(encoding="utf-8")[:3000]


def _html(text: str) -> bytes:
    return f"<html><head><meta charset='utf-8'></head><body><p>{text}</p></body></html>".encode()


def _write(sink: WarcSink, path: str, status: str, ctype: str, body: bytes, **kw) -> tuple[str, int]:
    headers = [("Content-Type", ctype), ("Content-Length", str(len(body)))] + kw.pop("extra", [])
    return sink.write_exchange(
        f"http://example.org{path}", f"GET {path} HTTP/1.1", [("Host", "example.org")], status, headers, body, **kw
    )


def test_sink_roundtrip_and_reasons(tmp_path, tibetan):
    sink = WarcSink(tmp_path, "t", max_file_bytes=1)  # rotate after every exchange
    gz = gzip.compress(_html(tibetan))
    _write(sink, "/a.html", "200 OK", "text/html; charset=utf-8", _html(tibetan))
    _write(sink, "/gz.html", "200 OK", "text/html", gz, extra=[("Content-Encoding", "gzip")])
    _write(sink, "/robots.txt", "200 OK", "text/plain", b"User-agent: *", role="robots")
    _write(sink, "/gone", "404 Not Found", "text/html", b"nope")
    _write(sink, "/img.png", "200 OK", "image/png", b"\x89PNG....")
    _write(sink, "/big.html", "200 OK", "text/html", _html(tibetan)[:100], truncated="length")
    _write(sink, "/doc.pdf", "200 OK", "application/pdf", b"%PDF-1.4")
    sink.close()
    files = sorted(tmp_path.glob("*.warc.gz"))
    assert len(files) == 7 and not list(tmp_path.glob("*" + OPEN_SUFFIX))

    out = [r for f in files for r in iter_warc(f, "src")]
    docs = {d.meta["url"]: d for d in out if isinstance(d, RawDoc)}
    assert set(docs) == {"http://example.org/a.html", "http://example.org/gz.html", "http://example.org/doc.pdf"}
    assert docs["http://example.org/a.html"].content.decode() == _html(tibetan).decode()
    assert docs["http://example.org/gz.html"].content == _html(tibetan)  # Content-Encoding undone
    assert docs["http://example.org/a.html"].meta["charset"] == "utf-8"
    assert docs["http://example.org/doc.pdf"].format == "pdf"
    reasons = Counter(r.reason for r in out if isinstance(r, Rejection))
    assert reasons == Counter(["warc_crawl_robots", "http_status_404", "warc_non_html", "warc_truncated"])
    assert len({r.id for r in out}) == len(out)


def test_request_and_response_records_are_linked(tmp_path, tibetan):
    sink = WarcSink(tmp_path, "t")
    name, offset = _write(sink, "/a.html", "200 OK", "text/html", _html(tibetan))
    sink.close()
    with open(tmp_path / name, "rb") as fh:
        recs = [(r.rec_type, dict(r.rec_headers.headers)) for r in ArchiveIterator(fh)]
    types = [t for t, _ in recs]
    assert types == ["warcinfo", "request", "response"]
    assert recs[1][1]["WARC-Concurrent-To"] == recs[2][1]["WARC-Record-ID"]
    with open(tmp_path / name, "rb") as fh:  # the returned offset points at the response record
        fh.seek(offset)
        rec = next(iter(ArchiveIterator(fh)))
        assert rec.rec_type == "response" and rec.content_stream().read() == _html(tibetan)


def test_recover_truncates_partial_tail(tmp_path, tibetan):
    sink = WarcSink(tmp_path, "t")
    _write(sink, "/a.html", "200 OK", "text/html", _html(tibetan))
    _write(sink, "/b.html", "200 OK", "text/html", _html(tibetan[::-1]))
    open_path = next(tmp_path.glob("*" + OPEN_SUFFIX))
    good_size = open_path.stat().st_size
    sink._fh.close()  # simulate a kill: no close(), the file stays .open
    with open(open_path, "ab") as fh:
        fh.write(gzip.compress(b"WARC/1.1\r\nWARC-Type: response\r\n" + _html(tibetan))[:80])
    seen = []
    n = recover_open_file(
        open_path, lambda rec, off: seen.append((rec.rec_headers.get_header("WARC-Target-URI"), rec.buffered))
    )
    assert n == 2 and [u for u, _ in seen] == ["http://example.org/a.html", "http://example.org/b.html"]
    assert seen[0][1] == _html(tibetan)
    final = open_path.with_name(open_path.name[: -len(OPEN_SUFFIX)])
    assert final.stat().st_size == good_size and not open_path.exists()
    assert sum(isinstance(r, RawDoc) for r in iter_warc(final, "s")) == 2


def test_warc_kind_paths(tmp_path, tibetan):
    sink = WarcSink(tmp_path / "w" / "sub", "t")
    _write(sink, "/a.html", "200 OK", "text/html", _html(tibetan))
    sink.close()
    (tmp_path / "w" / "notes.txt").write_text("x")
    assert len(expand_paths(tmp_path / "w")) == 1
    assert len(expand_paths(tmp_path / "w" / "*" / "*.warc.gz")) == 1
    src = parse_source({"name": "w", "kind": "warc", "license": "unknown", "genre": "web", "path": "w"}, tmp_path)
    kind = get_kind("warc")
    [item] = kind.list_items(src)
    [doc] = list(kind.read_item(src, item))
    assert doc.source == "w" and doc.meta["warc_file"].endswith(".warc.gz") and doc.meta["date"]
    missing = parse_source(
        {"name": "m", "kind": "warc", "license": "unknown", "genre": "web", "path": "nope"}, tmp_path
    )
    with pytest.raises(InputError, match="no WARC files"):  # one line at the CLI, no traceback
        kind.list_items(missing)
    assert content_format("TEXT/HTML; charset=gb2312") == "html" and content_format(None) is None


def test_noindex_and_crawler_roles_are_rejected_with_reasons(tmp_path, tibetan):
    """Pages the site marks noindex (meta robots in any attribute order and case, or X-Robots-Tag)
    and pages the crawler archived as duplicates or canonical twins stay in the WARC, never become
    documents; a header scoped to another crawler does not apply to us."""
    sink = WarcSink(tmp_path, "t")
    meta = b"<html><head><meta content='NOINDEX, follow' name=\"Robots\"></head><body><p>x</p></body></html>"
    _write(sink, "/meta.html", "200 OK", "text/html", meta)
    _write(sink, "/hdr.html", "200 OK", "text/html", _html(tibetan), extra=[("X-Robots-Tag", "noindex")])
    _write(sink, "/other.html", "200 OK", "text/html", _html(tibetan), extra=[("X-Robots-Tag", "googlebot: noindex")])
    _write(sink, "/nofollow.html", "200 OK", "text/html", _html(tibetan), extra=[("X-Robots-Tag", "nofollow")])
    _write(sink, "/dup.html", "200 OK", "text/html", _html(tibetan), role="duplicate")
    _write(sink, "/print.html", "200 OK", "text/html", _html(tibetan), role="canonical_twin")
    sink.close()
    out = [r for f in sorted(tmp_path.glob("*.warc.gz")) for r in iter_warc(f, "s")]
    docs = {d.meta["url"].removeprefix("http://example.org") for d in out if isinstance(d, RawDoc)}
    assert docs == {"/other.html", "/nofollow.html"}
    reasons = Counter(r.reason for r in out if isinstance(r, Rejection))
    assert reasons == Counter(["robots_noindex", "robots_noindex", "warc_crawl_duplicate", "warc_crawl_canonical_twin"])
