"""`kind: web` sources and `tibcpt crawl`: a polite, resumable crawler that keeps everything in WARC.

`tibcpt crawl --sources sources.yaml` fetches each enabled `kind: web` source into its crawl folder
(`warc_dir`): gzip WARC files with a request and a response record per exchange, plus
`frontier.sqlite` (frontier + seen set). `tibcpt corpus` then reads that folder's finished WARC files
exactly as `kind: warc` does, so the corpus can always be rebuilt and audited without re-crawling.

Politeness: robots.txt is obeyed (disallow rules and Crawl-delay); successive requests to one host
start at least `delay` seconds apart; at most `concurrency_per_host` requests per host at once;
429/5xx and transport errors are retried with exponential backoff (Retry-After honoured), other 4xx
are not; redirects are followed only within the allowed hosts; loopback/private/link-local
addresses are refused unless `allow_private_addresses`. Tibetan-first: a page whose text is less
than `min_tibetan_share` Tibetan is kept in WARC but its links are not followed.

One page, one fetch: URLs are canonicalised (tibcpt.pipeline.crawl.urls: IRIs percent-encoded, session
and tracking parameters dropped, query sorted); meta robots / X-Robots-Tag `nofollow` and
rel=nofollow links are not followed (`noindex` pages are archived but never become documents);
a page naming another canonical URL, or whose text was already stored under another URL, is
archived with WARC role `canonical_twin` / `duplicate` and its links are not followed; at most
`max_requests_per_pattern` requests go to one URL shape. Every such request is counted as wasted.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from tibcpt.pipeline.crawl.fetch import (
    FetchError,
    HostGate,
    Response,
    check_address,
    fetch_once,
    parse_retry_after,
    parse_robots,
)
from tibcpt.pipeline.crawl.frontier import Frontier, Item
from tibcpt.pipeline.crawl.options import WebOptions, crawl_dir
from tibcpt.pipeline.crawl.parse import (
    normalize_url,
    page_text,
    parse_feed,
    parse_page,
    parse_sitemap,
    scope_reason,
    tibetan_share,
    url_host,
)
from tibcpt.pipeline.crawl.report import recover, summarize, summary_line
from tibcpt.pipeline.crawl.urls import url_pattern
from tibcpt.pipeline.crawl.warc import WarcSink, content_format, iter_warc
from tibcpt.pipeline.document import RawDoc, Rejection
from tibcpt.pipeline.sources.registry import SourceConfig, expand_vars, load_sources, register_kind
from tqdm import tqdm

from tibcpt.errors import InputError
from tibcpt.io import write_json_atomic

log = logging.getLogger(__name__)

Child = tuple[str, str, int, int, str]  # url, host, depth, hops, role


class Crawler:
    """One source's crawl. `run()` resumes whatever `frontier.sqlite` in `folder` holds."""

    def __init__(self, source: SourceConfig, folder: Path, stop_after: int | None = None):
        self.src = source
        self.o: WebOptions = source.options
        self.folder = folder
        self.stop_after = stop_after
        """Test/ops hook: stop dispatching after this many completed URLs in this run (graceful)."""
        self.ua = self.o.user_agent or f"tibcpt/{_version()} (+{expand_vars(self.o.contact)})"
        seed_hosts = [url_host(normalize_url(u) or u) for u in self.o.seeds + self.o.sitemaps + self.o.feeds]
        self.allowed = self.o.allowed_hosts or sorted(set(seed_hosts))
        self.include = [re.compile(p) for p in self.o.include_patterns]
        self.exclude = [re.compile(p) for p in self.o.exclude_patterns]
        self.frontier = Frontier(folder / "frontier.sqlite")
        self.sink = WarcSink(folder, prefix=source.name, max_file_bytes=self.o.warc_file_bytes, software=self.ua)
        self._local = threading.local()  # one requests.Session per worker thread (not thread-safe)
        self._lock = threading.Lock()
        self._hosts: dict[str, tuple[HostGate, Any, str]] = {}  # host -> (gate, robots parser, ip)
        self._host_locks: dict[str, threading.Lock] = {}
        self.errors: Counter = Counter()
        self.wasted: Counter = Counter()
        """Requests whose response added nothing (duplicate, canonical twin) and skips (pattern cap)."""
        self.requests = 0
        self.bytes = 0
        self.completed = 0
        self.patterns: Counter = Counter(url_pattern(u) for u in self.frontier.fetched_page_urls())

    @property
    def session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def _norm(self, url: str, base: str | None = None) -> str | None:
        return normalize_url(url, base, self.o.strip_session_params)

    # ----------------------------------------------------------------------------------- decisions

    def _child(self, url: str, depth: int, hops: int, role: str) -> Child | None:
        reason = scope_reason(url, self.allowed, self.include, self.exclude)
        if reason:
            with self._lock:
                self.errors[f"link_{reason}"] += 1
            return None
        return (url, url_host(url), depth, hops, role)

    def analyze(self, item: Item, resp: Response) -> tuple[list[Child], str | None, str]:
        """Out-links to enqueue, a note (why nothing was followed) and the WARC role for one final
        response: the item's role, or `canonical_twin` / `duplicate` for a page not to use twice."""
        kids: list[Child | None] = []
        role = item.role
        if 300 <= resp.status < 400 and resp.header("Location"):
            target = self._norm(resp.header("Location") or "", resp.url)
            if target is None:
                return [], "redirect_invalid", role
            if item.hops >= self.o.max_redirects:
                return [], "too_many_redirects", role
            if reason := scope_reason(target, self.allowed, self.include, self.exclude):
                return [], f"redirect_{reason}", role
            return [(target, url_host(target), item.depth, item.hops + 1, item.role)], None, role
        if resp.status != 200:
            return [], f"http_{resp.status}", role
        if resp.truncated:
            return [], f"truncated_{resp.truncated}", role
        body = resp.decoded_body()
        strip = self.o.strip_session_params
        if item.role == "sitemap":
            pages, nested = parse_sitemap(body, resp.url, strip)
            kids += [self._child(u, item.depth, 0, "page") for u in pages]
            kids += [self._child(u, item.depth, 0, "sitemap") for u in nested]
            return [k for k in kids if k], None, role
        if item.role == "feed":
            kids += [self._child(u, item.depth, 0, "page") for u in parse_feed(body, resp.url, strip)]
            return [k for k in kids if k], None, role
        if content_format(resp.header("Content-Type")) != "html":
            return [], "not_html", role
        page = parse_page(body, resp.url, resp.header("X-Robots-Tag"), strip)
        if page.nofollow_links:
            with self._lock:
                self.errors["link_rel_nofollow"] += page.nofollow_links
        if (
            self.o.respect_canonical
            and page.canonical
            and page.canonical != resp.url
            and not scope_reason(page.canonical, self.allowed, self.include, self.exclude)
        ):
            # The site says this page is a copy of another URL: fetch that one (the frontier ignores
            # it if already known) and use neither this page's text nor its links.
            return (
                [(page.canonical, url_host(page.canonical), item.depth, 0, "page")],
                "canonical_twin",
                "canonical_twin",
            )
        text = page_text(body)
        if self.o.skip_duplicate_content:
            key = " ".join(text.split()) or body.decode("utf-8", "replace")
            first = self.frontier.claim_content(hashlib.sha1(key.encode()).hexdigest(), item.url)
            if first is not None:
                return [], "duplicate", "duplicate"
        if self.o.discover:
            kids += [self._child(u, 0, 0, "feed") for u in page.feeds]
        share = tibetan_share(text)
        if share < self.o.min_tibetan_share and not self.o.follow_non_tibetan:
            return [k for k in kids if k], f"low_tibetan_{share:.2f}", role
        if page.nofollow:
            return [k for k in kids if k], "nofollow", role
        if item.depth < self.o.max_depth:
            kids += [self._child(u, item.depth + 1, 0, "page") for u in page.links]
        return [k for k in kids if k], ("noindex" if page.noindex else None), role

    # ----------------------------------------------------------------------------------- fetching

    def _host(self, host: str, scheme: str) -> tuple[HostGate, Any, str]:
        """Per-host gate, robots.txt and address, set up once (robots fetched through the gate)."""
        with self._lock:
            hl = self._host_locks.setdefault(host, threading.Lock())
        with hl:
            if host in self._hosts:
                return self._hosts[host]
            ip = check_address(f"{scheme}://{host}/", self.o.allow_private_addresses)
            gate = HostGate(self.o.delay if self.o.delay is not None else 1.0)
            robots_url = f"{scheme}://{host}/robots.txt"
            text, note = "", None
            try:
                gate.wait_turn()
                with self._lock:
                    self.requests += 1
                r = fetch_once(self.session, robots_url, **self._fetch_kw(), ip=ip)
                self.sink.write_exchange(*_record_args(r), role="robots", ip=ip)
                if r.status == 200:
                    text = r.decoded_body().decode("utf-8", "replace")
                elif r.status >= 500:
                    note = f"robots_http_{r.status}"
            except FetchError as e:
                note = f"robots_{e.kind}"
            # RFC 9309 §2.3.1: 4xx means no rules; an unreachable/5xx robots.txt means disallow all.
            rp, crawl_delay = parse_robots("User-agent: *\nDisallow: /\n" if note else text, self.ua)
            if note:
                with self._lock:
                    self.errors[note] += 1
            if self.o.delay is None and crawl_delay is not None:
                gate.delay = crawl_delay
            if self.o.discover and not note:
                self.frontier.add([c for c in (self._child(u, 0, 0, "sitemap") for u in rp.site_maps() or []) if c])
            self._hosts[host] = (gate, rp, ip)
            return self._hosts[host]

    def _fetch_kw(self) -> dict[str, Any]:
        o = self.o
        return dict(
            user_agent=self.ua,
            connect_timeout=o.connect_timeout,
            read_timeout=o.read_timeout,
            total_timeout=o.total_timeout,
            max_bytes=o.max_bytes,
        )

    def process(self, item: Item) -> None:
        """Fetch one URL (with retries), write every response to WARC, mark it in the frontier."""
        parts = urlsplit(item.url)
        try:
            gate, rp, ip = self._host(item.host, parts.scheme)
        except FetchError as e:
            return self._finish_failed(item, e.kind)
        if not rp.can_fetch(self.ua, item.url):
            with self._lock:
                self.errors["robots_disallowed"] += 1
            self.frontier.complete(item.url, "skipped", reason="robots_disallowed")
            return None
        if item.role == "page" and item.hops == 0:
            pattern = url_pattern(item.url)
            with self._lock:
                capped = self.patterns[pattern] >= self.o.max_requests_per_pattern
                if capped:
                    self.wasted["pattern_cap_skipped"] += 1
                else:
                    self.patterns[pattern] += 1
            if capped:
                self.frontier.complete(item.url, "skipped", reason="pattern_cap")
                return None
        attempt = 0
        while True:
            gate.wait_turn()
            with self._lock:
                self.requests += 1
            try:
                resp = fetch_once(self.session, item.url, **self._fetch_kw(), ip=ip)
            except FetchError as e:
                with self._lock:
                    self.errors[e.kind] += 1
                if attempt >= self.o.retries:
                    return self._finish_failed(item, e.kind)
                time.sleep(self.o.backoff * 2**attempt)
                attempt += 1
                continue
            retryable = resp.status == 429 or 500 <= resp.status < 600
            if retryable and attempt < self.o.retries:
                wait_s = self.o.backoff * 2**attempt
                retry_after = parse_retry_after(resp.header("Retry-After"))
                if retry_after is not None and retry_after <= self.o.max_retry_after:
                    wait_s = max(wait_s, retry_after)
                    gate.push_back(retry_after)
                if retry_after is None or retry_after <= self.o.max_retry_after:
                    with self._lock:
                        self.errors[f"http_{resp.status}"] += 1
                        self.bytes += len(resp.body)
                    self.sink.write_exchange(*_record_args(resp), role=item.role, truncated=resp.truncated, ip=ip)
                    time.sleep(wait_s)
                    attempt += 1
                    continue
            break
        children, note, role = self.analyze(item, resp)
        with self.sink.lock:  # record + "done" atomically w.r.t. rotation: see WarcSink
            name, offset = self.sink.write_exchange(*_record_args(resp), role=role, truncated=resp.truncated, ip=ip)
            self.frontier.complete(
                item.url,
                "done",
                reason=note,
                http_status=resp.status,
                warc_file=name,
                warc_offset=offset,
                n_bytes=len(resp.body),
                children=children,
            )
        with self._lock:
            self.bytes += len(resp.body)
            if role != item.role:
                self.wasted[role] += 1
            elif note:  # http_404, redirect_offhost, not_html, low_tibetan, noindex (kept, not followed)
                self.errors["low_tibetan" if note.startswith("low_tibetan") else note] += 1
        return None

    def _finish_failed(self, item: Item, kind: str) -> None:
        self.frontier.complete(item.url, "failed", reason=kind)

    # ----------------------------------------------------------------------------------- main loop

    def run(self) -> dict[str, Any]:
        o = self.o
        recover(self)
        seeds = [(u, "page") for u in o.seeds] + [(u, "sitemap") for u in o.sitemaps] + [(u, "feed") for u in o.feeds]
        self.frontier.add([(n, url_host(n), 0, 0, r) for u, r in seeds if (n := self._norm(u))])
        t0 = time.monotonic()
        pages_done = self.frontier.counts().get("pages_done", 0)
        pages_at_start = pages_done
        futures: dict[Future, Item] = {}
        per_host: Counter = Counter()
        bar = tqdm(total=o.max_pages, initial=min(pages_done, o.max_pages), desc=self.src.name, unit="page")
        stopping = False
        with ThreadPoolExecutor(max_workers=o.concurrency, thread_name_prefix="crawl") as pool:
            while True:
                for fut in [f for f in futures if f.done()]:
                    item = futures.pop(fut)
                    per_host[item.host] -= 1
                    self.completed += 1
                    if fut.exception() is not None:  # a bug, not a site problem: record and go on
                        log.error("crawl of %s failed: %r", item.url, fut.exception())
                        self._finish_failed(item, "crawler_error")
                    if item.role == "page":
                        pages_done += 1
                        bar.update(1)
                    errs = ",".join(f"{k}={v}" for k, v in self.errors.most_common(4))
                    bar.set_postfix_str(f"{self.bytes / 1e6:.1f}MB {errs}", refresh=False)
                if self.stop_after is not None and self.completed >= self.stop_after:
                    stopping = True
                inflight_pages = sum(1 for i in futures.values() if i.role == "page")
                free = o.concurrency - len(futures)
                submitted = 0
                if not stopping and free > 0:
                    for item in self.frontier.queued(free * 4, {i.url for i in futures.values()}):
                        if free == 0:
                            break
                        if per_host[item.host] >= o.concurrency_per_host:
                            continue
                        if item.role == "page" and pages_done + inflight_pages >= o.max_pages:
                            continue
                        futures[pool.submit(self.process, item)] = item
                        per_host[item.host] += 1
                        inflight_pages += item.role == "page"
                        free -= 1
                        submitted += 1
                if not futures:
                    break
                wait(list(futures), timeout=0.05, return_when=FIRST_COMPLETED)
        bar.close()
        self.sink.close()
        summary = summarize(self, time.monotonic() - t0, pages_done - pages_at_start)
        self.frontier.close()
        write_json_atomic(self.folder / "crawl_summary.json", summary)
        return summary


def _version() -> str:
    try:
        return importlib.metadata.version("tibcpt")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _record_args(r: Response) -> tuple:
    return (r.url, r.request_line, r.request_headers, f"{r.status} {r.reason}".strip(), r.headers, r.body)


def crawl_source(source: SourceConfig, stop_after: int | None = None) -> dict[str, Any]:
    """Crawl (or resume) one `kind: web` source into its warc_dir (where `tibcpt corpus` reads it);
    return the summary also written to crawl_summary.json."""
    folder = crawl_dir(source)
    folder.mkdir(parents=True, exist_ok=True)
    return Crawler(source, folder, stop_after=stop_after).run()


class WebKind:
    """`kind: web` for `tibcpt corpus`: the finished WARC files of the source's crawl folder."""

    options_cls = WebOptions

    def list_items(self, source: SourceConfig) -> list[str]:
        folder = crawl_dir(source)
        files = sorted(folder.glob("*.warc.gz"))
        if not files:
            raise InputError(f"source {source.name}: no WARC files in {folder}; run `tibcpt crawl` first")
        return [str(p) for p in files]

    def read_item(self, source: SourceConfig, item: str) -> Iterator[RawDoc | Rejection]:
        yield from iter_warc(Path(item), source.name)


register_kind("web", WebKind())


def add_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sources", required=True, help="sources.yaml")
    parser.add_argument("--source", action="append", help="crawl only this source (repeatable; may be disabled)")
    parser.add_argument("--max-pages", type=int, default=None, help="override max_pages for this run")


def cli(args: argparse.Namespace) -> int:
    sources = [s for s in load_sources(args.sources, only=args.source) if s.kind == "web"]
    if not sources:
        log.warning("no enabled `kind: web` sources in %s", args.sources)
        return 0
    for src in sources:
        if args.max_pages is not None:
            src.options.max_pages = args.max_pages
        s = crawl_source(src)
        print(f"{src.name}: {summary_line(s)}")  # the run's result, on stdout (progress is on stderr)
    return 0
