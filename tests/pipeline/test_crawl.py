"""The crawler against a loopback site built from real Tibetan text (tests/pipeline/site_fixture.py)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from site_fixture import CHINESE, expected_fetches, start_site, stop_site, tibetan_articles
from tibcpt.pipeline.crawl.crawler import WebOptions, crawl_source
from tibcpt.pipeline.crawl.fetch import is_public_address, parse_retry_after, parse_robots
from tibcpt.pipeline.crawl.parse import (
    normalize_url,
    parse_feed,
    parse_page,
    parse_sitemap,
    robots_directives,
    scope_reason,
    tibetan_share,
)
from tibcpt.pipeline.sources.registry import get_kind, parse_source
from warcio.archiveiterator import ArchiveIterator

from tibcpt.config import ConfigError

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"
CRAWL_DELAY = 0.2  # the fixture's robots.txt Crawl-delay
SERVER_JITTER = 0.06  # slack for the server-side arrival clock (see test_full_crawl)


@pytest.fixture
def site():
    s, servers = start_site(CORPUS)
    yield s
    stop_site(servers)


def web_entry(site, folder: Path, **over) -> dict:
    entry = {
        "name": "testsite",
        "kind": "web",
        "license": "CC-BY-4.0",
        "genre": "news",
        "seeds": [site.base + "/"],
        "contact": "https://example.org/tibcpt-tests",
        "warc_dir": str(folder),
        "allow_private_addresses": True,
        "retries": 1,
        "backoff": 0.2,
        "read_timeout": 0.5,
        "max_bytes": 100_000,
    }
    entry.update(over)
    return entry


def warc_records(folder: Path) -> list[tuple[str, str, str, str | None]]:
    """(type, url path, status, role) of every record in every finished WARC file, via warcio."""
    out = []
    for path in sorted(folder.glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type in ("request", "response"):
                    url = rec.rec_headers.get_header("WARC-Target-URI")
                    status = rec.http_headers.get_statuscode() if rec.rec_type == "response" else ""
                    path_ = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else url
                    out.append((rec.rec_type, path_, status, rec.rec_headers.get_header("WARC-Tibcpt-Role")))
                    rec.content_stream().read()  # the payload must decompress/read through
    return out


# ------------------------------------------------------------------------------------ pure helpers


def test_tibetan_share_on_real_text():
    art = tibetan_articles(CORPUS, n=1)[0]
    assert tibetan_share(art) > 0.95
    assert tibetan_share(CHINESE) == 0.0
    mixed = art[:300] + CHINESE * 10
    assert 0.05 < tibetan_share(mixed) < 0.6
    assert tibetan_share("") == 0.0


def test_normalize_and_scope():
    assert normalize_url("HTTP://Example.ORG:80/a#x") == "http://example.org/a"
    assert normalize_url("../b?q=1", "https://h.org/x/y/z") == "https://h.org/x/b?q=1"
    assert normalize_url("mailto:a@b") is None and normalize_url("ftp://h/x") is None
    tag = "http://h.org/tag/བོད་ལྗོངས།"  # one IRI, three spellings, one URI (RFC 3987 §3.1, RFC 3986 §6.2.2)
    enc = normalize_url(tag)
    assert enc.isascii() and enc == normalize_url(enc.lower().replace("h.org", "H.org")) == normalize_url(enc)
    assert (
        normalize_url("http://h/l?page=2&PHPSESSID=0123456789abcdef0123&cid=3&utm_source=w")
        == "http://h/l?cid=3&page=2"
    )
    assert normalize_url("http://h/a;jsessionid=AB12?x=1") == "http://h/a?x=1"
    assert normalize_url("http://h/l?sid=3") == "http://h/l?sid=3"  # a section id, not a session token
    assert normalize_url("http://h/l?utm_source=x", strip_params=False) == "http://h/l?utm_source=x"
    hosts = ["tb.tibet.cn", "*.yongzin.com"]
    assert scope_reason("http://tb.tibet.cn/2024/a.htm", hosts, [], []) is None
    assert scope_reason("http://www.yongzin.com/x", hosts, [], []) is None
    assert scope_reason("http://www.tibet.cn/x", hosts, [], []) == "offhost"
    import re

    assert scope_reason("http://tb.tibet.cn/zh/a", hosts, [], [re.compile("/zh/")]) == "excluded"
    assert scope_reason("http://tb.tibet.cn/a", hosts, [re.compile("/bo/")], []) == "not_included"


def test_robots_sitemap_feed_parsers():
    rp, delay = parse_robots("User-agent: *\nDisallow: /private/\nCrawl-delay: 0.5\n", "tibcpt/0.1")
    assert delay == 0.5  # robotparser alone would drop a fractional delay
    assert not rp.can_fetch("tibcpt/0.1", "http://h/private/x") and rp.can_fetch("tibcpt/0.1", "http://h/a")
    assert parse_retry_after("7") == 7.0 and parse_retry_after(None) is None
    idx = b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>/s1.xml</loc></sitemap></sitemapindex>'
    assert parse_sitemap(idx, "http://127.0.0.1:9/") == ([], ["http://127.0.0.1:9/s1.xml"])
    gz_index = gzip.compress(idx)  # a .xml.gz file served as application/x-gzip, not Content-Encoding
    assert parse_sitemap(gz_index, "http://127.0.0.1:9/") == ([], ["http://127.0.0.1:9/s1.xml"])
    assert parse_sitemap(gzip.compress(b"\x00" * 10), "http://h/") == ([], [])
    atom = b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><link href="http://h/e1"/></entry></feed>'
    assert parse_feed(atom, "http://h/") == ["http://h/e1"]
    page = parse_page(
        b'<html><head><meta name="robots" content="noindex"><link rel="Canonical" href="/a?utm_medium=x">'
        b'</head><body><a href="/b" rel="nofollow ugc">b</a><a href="/c?sid=0123456789abcdef01">c</a></body></html>',
        "http://h/p",
    )
    assert (page.noindex, page.nofollow, page.nofollow_links) == (True, False, 1)
    assert page.links == ["http://h/c"] and page.canonical == "http://h/a"
    assert robots_directives([], "none") == (True, True) and robots_directives([], "otherbot: noindex") == (
        False,
        False,
    )
    assert not is_public_address("127.0.0.1") and not is_public_address("10.1.2.3")
    assert not is_public_address("169.254.1.1") and is_public_address("8.8.8.8")


def test_options_validation(tmp_path):
    ok = {"name": "w", "kind": "web", "license": "unknown", "genre": "news", "seeds": ["http://h/"], "contact": "x"}
    assert isinstance(parse_source(ok, tmp_path).options, WebOptions)
    for bad, field in [
        ({"seeds": ["not a url"]}, "seeds"),
        ({"contact": ""}, "contact"),
        ({"max_pages": 0}, "max_pages"),
        ({"min_tibetan_share": 2.0}, "min_tibetan_share"),
        ({"exclude_patterns": ["("]}, "exclude_patterns"),
        ({"seed": ["http://h/"]}, "seed"),
    ]:
        with pytest.raises(ConfigError, match=field):
            parse_source({**ok, **bad}, tmp_path)


# ------------------------------------------------------------------------------------ crawling


def test_refuses_loopback_by_default(site, tmp_path):
    entry = web_entry(site, tmp_path / "c")
    del entry["allow_private_addresses"]
    summary = crawl_source(parse_source(entry, tmp_path))
    assert summary["reasons"] == {"private_address": 1}
    assert site.log == []


def test_full_crawl(site, tmp_path):
    folder = tmp_path / "crawl"
    summary = crawl_source(parse_source(web_entry(site, folder), tmp_path))

    # Exactly these requests, retries included; nothing disallowed, nothing on the other host.
    assert site.paths() == expected_fetches()
    assert "/private/admin.html" not in site.paths() and "/zh/deep.html" not in site.paths()
    assert site.paths("other") == Counter()
    assert summary["reasons"] == {"robots_disallowed": 1, "timeout": 1}
    assert summary["errors"]["redirect_offhost"] == 1 and summary["errors"]["link_offhost"] >= 1

    # Politeness: robots.txt Crawl-delay between request starts, Retry-After honoured. The server
    # logs a request when its handler thread runs, which on a loaded 2-core CI machine can lag the
    # client's send by tens of ms (CI once saw a 0.170 s gap for a 0.2 s delay), so a single gap
    # gets SERVER_JITTER of slack; a crawler pacing at half the delay (0.1 s gaps) still fails.
    times = site.times()
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= CRAWL_DELAY - SERVER_JITTER, gaps
    busy = [t for t, s, p in site.log if p == "/busy.html"]
    assert busy[1] - busy[0] >= 1.0 - SERVER_JITTER

    # WARC round trip: every HTTP response the server sent is one response record with its request.
    recs = warc_records(folder)
    responses = Counter(p for t, p, _, _ in recs if t == "response")
    requests_ = Counter(p for t, p, _, _ in recs if t == "request")
    expected = expected_fetches()
    expected["/slow.html"] = 0  # timed out: no response to record
    assert +responses == +expected and requests_ == responses
    assert {(p, s) for t, p, s, _ in recs if p in ("/flaky.html", "/busy.html")} >= {
        ("/flaky.html", "500"),
        ("/busy.html", "429"),
        ("/flaky.html", "200"),
        ("/busy.html", "200"),
    }
    assert not list(folder.glob("*.open"))

    # Ingest the crawl with kind warc (and kind web): the Tibetan pages, every other record rejected with a reason.
    arts = site.articles
    for entry in ({"kind": "warc", "path": str(folder)}, {"kind": "web", "seeds": [site.base + "/"]}):
        src_entry = {"name": "ingested", "license": "CC-BY-4.0", "genre": "news", **entry}
        if entry["kind"] == "web":
            src_entry.update(contact="x", warc_dir=str(folder))
        src = parse_source(src_entry, tmp_path)
        kind = get_kind(src.kind)
        out = [r for item in kind.list_items(src) for r in kind.read_item(src, item)]
        docs = {d.meta["url"].removeprefix(site.base): d for d in out if hasattr(d, "content")}
        rejects = Counter(r.reason for r in out if not hasattr(r, "content"))
        pages = {"/", "/bo/target.html", "/flaky.html", "/busy.html", "/zh/index.html"}
        pages |= {f"/bo/a{i}.html" for i in range(len(arts))}
        assert set(docs) == pages
        for i, art in enumerate(arts):
            html = docs[f"/bo/a{i}.html"].content.decode("utf-8")
            assert art.split("\n")[0][:150] in html and docs[f"/bo/a{i}.html"].format == "html"
        assert rejects == Counter(
            {
                "warc_crawl_robots": 1,
                "warc_crawl_sitemap": 1,
                "warc_crawl_feed": 1,
                "http_status_301": 1,
                "http_status_302": 2,
                "http_status_404": 1,
                "http_status_500": 1,
                "http_status_429": 1,
                "warc_truncated": 1,
                "warc_non_html": 1,
            }
        )
        assert len({d.id for d in docs.values()}) == len(docs)

    # `tibcpt corpus` on the finished crawl (kind web reads warc_dir): each Tibetan article becomes
    # one clean document without its navigation, and every drop has a reason.
    import pyarrow.parquet as pq
    import yaml
    from tibcpt.pipeline.corpus.runner import run_corpus

    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"sources": [web_entry(site, folder)]}, allow_unicode=True))
    m = run_corpus(sources, tmp_path / "corpus", workers=1)
    rows = [r for p in sorted((tmp_path / "corpus/data").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    kept = {r["url"].removeprefix(site.base) for r in rows}
    # The home page keeps a 400-character Tibetan lead paragraph besides its links: real text, kept.
    assert kept - {"/"} == {f"/bo/a{i}.html" for i in range(len(arts))}
    for r in rows:
        assert "中文" not in r["text"] and "Copyright" not in r["text"] and "Admin" not in r["text"]
        assert r["source"] == "testsite" and r["n_syllables"] > 50
    assert m["totals"]["docs_in"] == m["totals"]["docs_out"] + m["totals"]["rejected"]


def test_stop_and_resume_fetches_each_page_once(site, tmp_path):
    folder = tmp_path / "crawl"
    entry = web_entry(site, folder)
    first = crawl_source(parse_source(entry, tmp_path), stop_after=6)
    assert first["frontier"]["queued"] > 0
    n_first = len(site.log)
    crawl_source(parse_source(entry, tmp_path))
    assert len(site.log) > n_first
    assert site.paths() == expected_fetches() + Counter({"/robots.txt": 1})  # robots re-read per run


_CRASH = """
import json, os, sys
from pathlib import Path
from urllib.parse import quote
from tibcpt.pipeline.crawl.crawler import crawl_source
from tibcpt.pipeline.crawl.frontier import Frontier
from tibcpt.pipeline.sources.registry import parse_source
orig, n = Frontier.complete, [0]
def complete(self, url, status, **kw):
    if kw.get("warc_file"):
        n[0] += 1
        if n[0] == int(sys.argv[2]):
            os._exit(3)  # killed after the WARC record is on disk, before the frontier knows
    return orig(self, url, status, **kw)
Frontier.complete = complete
crawl_source(parse_source(json.loads(sys.argv[1]), Path(".")))
"""


def test_kill_after_warc_write_then_resume(site, tmp_path):
    folder = tmp_path / "crawl"
    entry = web_entry(site, folder)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH, json.dumps(entry), "3"], cwd=REPO, env=env, capture_output=True, timeout=60
    )
    assert proc.returncode == 3, proc.stderr.decode()[-2000:]
    [open_file] = folder.glob("*.warc.gz.open")
    with open(open_file, "ab") as fh:  # and a half-written record after it, as a kill mid-write leaves
        fh.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03partial")
    killed_at = Counter(site.paths())

    crawl_source(parse_source(entry, tmp_path))
    assert site.paths() == expected_fetches() + Counter({"/robots.txt": 1})
    assert sum(killed_at.values()) > 3
    recs = warc_records(folder)  # the truncated tail is gone, every record reads back
    pages = Counter(p for t, p, s, role in recs if t == "response" and s == "200" and role != "robots")
    assert all(v == 1 for v in pages.values()), pages
    assert not list(folder.glob("*.open"))


def test_tibetan_first_can_be_disabled(site, tmp_path):
    entry = web_entry(site, tmp_path / "c", follow_non_tibetan=True, include_patterns=["/$", "/zh/"])
    crawl_source(parse_source(entry, tmp_path))
    assert set(site.paths()) == {"/robots.txt", "/", "/zh/index.html", "/zh/deep.html"}


# ------------------------------------------------------------------------------------ portal traps


def test_portal_crawl_fetches_each_page_once_and_corpus_keeps_only_articles(site, tmp_path):
    """Issue 13 on /p/ (tests/pipeline/site_portal.py): Tibetan IRIs, gzipped sitemap index, robots
    meta, session-id and calendar traps, tracking parameters, canonical twins and pagination."""
    import pyarrow.parquet as pq
    import site_portal
    import yaml
    from tibcpt.pipeline.corpus.runner import run_corpus

    folder = tmp_path / "portal"
    entry = web_entry(
        site,
        folder,
        name="portal",
        seeds=[site.base + "/p/"],
        sitemaps=[site.base + "/p/sitemap_index.xml.gz"],
        include_patterns=["/p/"],
        max_depth=30,
        max_requests_per_pattern=site_portal.PATTERN_CAP,
    )
    summary = crawl_source(parse_source(entry, tmp_path))

    # Every page once: one tag page for three spellings, no session or tracking variant, nothing
    # behind nofollow, the endless calendar stopped at the pattern cap.
    assert site.paths() == site_portal.expected_fetches()
    assert summary["wasted"] == {"duplicate": 1, "canonical_twin": 2, "pattern_cap_skipped": 1}
    assert summary["wasted_requests"] == 3 and summary["requests_this_run"] == len(site.log)
    assert summary["errors"]["link_rel_nofollow"] == 1 and summary["pages_per_s"] > 0
    assert summary["reasons"] == {"pattern_cap": 1}

    # Archived under the canonical ASCII URI (warcio reads every record back), once each.
    recs = warc_records(folder)
    responses = Counter(p for t, p, _, _ in recs if t == "response")
    assert responses == site_portal.expected_fetches() - Counter({"/robots.txt": 1}) + Counter({"/robots.txt": 1})
    roles = {p: r for t, p, _, r in recs if t == "response"}
    assert roles["/p/mirror/a1.html"] == "duplicate" and roles["/p/print/a3.html"] == "canonical_twin"
    assert roles["/p/a0.html?from=home"] == "canonical_twin" and roles["/p/sitemap-news.xml.gz"] == "sitemap"

    # `tibcpt corpus` on the crawl: exactly the article pages; no listing, trap, twin or noindex page.
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"sources": [entry]}, allow_unicode=True))
    m = run_corpus(sources, tmp_path / "corpus", workers=1)
    rows = [r for p in sorted((tmp_path / "corpus/data").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    kept = Counter(r["url"].removeprefix(site.base) for r in rows)
    assert kept == Counter(site_portal.article_paths())
    rejected = pq.read_table(tmp_path / "corpus" / "rejected.parquet").to_pylist()
    reasons = Counter(r["reason"] for r in rejected)
    noindex = {r["detail"].removeprefix(site.base) for r in rejected if r["reason"] == "robots_noindex"}
    assert noindex == {"/p/noindex.html", "/p/xrobots.html"}
    # home, tag page, session list, two news list pages and the ten calendar months are listings
    assert reasons == Counter(
        {
            "index_page": 5 + site_portal.PATTERN_CAP,
            "robots_noindex": 2,
            "warc_crawl_canonical_twin": 2,
            "warc_crawl_duplicate": 1,
            "warc_crawl_sitemap": 2,
            "warc_crawl_robots": 1,
        }
    )
    assert m["totals"]["docs_in"] == m["totals"]["docs_out"] + m["totals"]["rejected"]


def test_one_requests_session_per_worker_thread(tmp_path):
    """requests.Session is not thread-safe: each worker thread gets its own, reused for its requests."""
    import threading

    from tibcpt.pipeline.crawl.crawler import Crawler

    entry = {"name": "w", "kind": "web", "license": "unknown", "genre": "news", "seeds": ["http://h/"], "contact": "x"}
    crawler = Crawler(parse_source(entry, tmp_path), tmp_path / "c")
    seen = []
    threads = [threading.Thread(target=lambda: seen.append((crawler.session, crawler.session))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(a is b for a, b in seen) and len({id(a) for a, _ in seen}) == 3
    crawler.sink.close()
    crawler.frontier.close()


def test_decode_body_caps_a_decompression_bomb():
    """max_bytes limits what the server sends; the unpacked body is capped too (gzip and deflate)."""
    import gzip
    import zlib

    from tibcpt.pipeline.crawl.fetch import decode_body

    page = "བོད་ཀྱི་སྐད་ཡིག་".encode() * 100
    assert decode_body(gzip.compress(page), "gzip") == page
    assert decode_body(zlib.compress(page), "deflate") == page
    bomb = gzip.compress(b"\0" * (8 << 20))  # 8 MiB of zeros in ~8 kB
    assert len(bomb) < 20_000 and len(decode_body(bomb, "gzip", max_out=1 << 20)) == 1 << 20
    assert len(decode_body(zlib.compress(b"\0" * (8 << 20)), "deflate", max_out=1 << 20)) == 1 << 20
