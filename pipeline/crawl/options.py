"""`kind: web` options: what a crawl of one source may fetch, how fast, and where it keeps it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tibcpt.pipeline.crawl.parse import normalize_url
from tibcpt.pipeline.sources.registry import SourceConfig


@dataclass
class WebOptions:
    seeds: list[str]
    """Start URLs (depth 0)."""
    contact: str
    """URL or e-mail site owners can reach us at; goes into the User-Agent (required: good citizenship)."""
    warc_dir: str = ""
    """Crawl folder (WARC files + frontier.sqlite), relative to sources.yaml; default out/crawl/<name>.
    `tibcpt crawl` writes there and `tibcpt corpus` reads there: the one place a crawl lives."""
    allowed_hosts: list[str] = field(default_factory=list)
    """host or host:port patterns (fnmatch, e.g. '*.tibet.cn'); default: the seeds' hosts."""
    include_patterns: list[str] = field(default_factory=list)
    """Regexes (re.search on the URL); if given, a URL must match one to be crawled."""
    exclude_patterns: list[str] = field(default_factory=list)
    """Regexes; a matching URL is never crawled (checked before include_patterns)."""
    sitemaps: list[str] = field(default_factory=list)
    """Extra sitemap URLs (sitemap indexes are followed)."""
    feeds: list[str] = field(default_factory=list)
    """RSS/Atom feed URLs whose entries are crawled at depth 0."""
    discover: bool = True
    """Also use robots.txt `Sitemap:` lines and feeds advertised by <link rel=alternate> in pages."""
    max_pages: int = 1000
    """Stop after this many page URLs handled, all runs together (fetched incl. redirect hops and 404s, failed, or robots-skipped)."""
    max_depth: int = 5
    """Link distance from a seed/sitemap/feed entry beyond which links are not followed."""
    max_bytes: int = 20_000_000
    """Bytes kept per response; a longer body is cut and marked WARC-Truncated: length."""
    delay: float | None = None
    """Seconds between request starts per host; default robots.txt Crawl-delay, else 1 s."""
    concurrency_per_host: int = 1
    concurrency: int = 8
    """Global worker threads."""
    user_agent: str = ""
    """Default 'tibcpt/<version> (+<contact>)'."""
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    """Seconds without a byte before a request fails (retried as 'timeout')."""
    total_timeout: float = 120.0
    """Seconds for one whole response; a slower body is cut and marked WARC-Truncated: time."""
    retries: int = 3
    """Retries after 429/5xx/transport errors (not after other 4xx)."""
    backoff: float = 1.0
    """First retry waits this many seconds, doubling each time (or Retry-After if longer)."""
    max_retry_after: float = 600.0
    """A Retry-After longer than this ends the retries (we do not stall a crawl for hours)."""
    max_redirects: int = 5
    min_tibetan_share: float = 0.3
    """Pages below this share of Tibetan letters are kept but not followed (FineWeb-2-style script share)."""
    follow_non_tibetan: bool = False
    allow_private_addresses: bool = False
    """Allow loopback/private/link-local targets (tests, intranet mirrors)."""
    warc_file_bytes: int = 100_000_000
    """Rotate WARC files at this size (Common Crawl uses ~1 GB; 100 MB keeps resume scans short)."""
    strip_session_params: bool = True
    """Drop session-id and tracking query parameters and sort the query (tibcpt.pipeline.crawl.urls),
    so `?PHPSESSID=...` and `?utm_source=...` variants are one URL."""
    respect_canonical: bool = True
    """A page whose <link rel=canonical> names another in-scope URL is archived as a `canonical_twin`
    (not a corpus document, links not followed) and the canonical URL is queued instead."""
    skip_duplicate_content: bool = True
    """A page whose main text was already stored under another URL is archived as `duplicate`
    (not a corpus document, links not followed): mirrors, print views, session variants."""
    max_requests_per_pattern: int = 2000
    """Requests per URL shape (host + path with digits as N + query keys; see urls.url_pattern);
    further URLs of that shape are skipped as `pattern_cap`. Stops calendar and faceted-search traps.
    2000: twice the default max_pages, so on an ordinary crawl only a trap reaches it; raise it with
    max_pages for archives whose articles all share one shape (/N/N/cN_N.html)."""

    def __post_init__(self) -> None:
        if not self.seeds and not self.sitemaps and not self.feeds:
            raise ValueError("seeds: give at least one seed, sitemap or feed URL")
        for key in ("seeds", "sitemaps", "feeds"):
            for u in getattr(self, key):
                if normalize_url(u) is None:
                    raise ValueError(f"{key}: {u!r} is not an absolute http(s) URL")
        if not self.contact:
            raise ValueError("contact: set a URL or e-mail for the User-Agent")
        for key in ("include_patterns", "exclude_patterns"):
            for p in getattr(self, key):
                try:
                    re.compile(p)
                except re.error as e:
                    raise ValueError(f"{key}: bad regex {p!r}: {e}") from e
        for key in ("max_pages", "max_bytes", "concurrency_per_host", "concurrency", "max_requests_per_pattern"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}: must be >= 1")
        for key in ("max_depth", "retries", "max_redirects"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key}: must be >= 0")
        if self.delay is not None and self.delay < 0:
            raise ValueError("delay: must be >= 0")
        for key in ("connect_timeout", "read_timeout", "total_timeout", "backoff"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key}: must be > 0")
        if not 0.0 <= self.min_tibetan_share <= 1.0:
            raise ValueError("min_tibetan_share: must be in [0, 1]")


def crawl_dir(source: SourceConfig) -> Path:
    """Where a web source's WARC files and frontier live, for `tibcpt crawl` and `tibcpt corpus`
    alike: its warc_dir (relative to sources.yaml), default out/crawl/<name>."""
    return source.resolve_path(source.options.warc_dir or f"out/crawl/{source.name}")
