"""A small mixed Tibetan/Chinese news site served on loopback, for the crawler tests.

Article text is real Tibetan from ../shared/corpus (Milarepa's biography, CC-BY-4.0); every page has
navigation boilerplate. The site exercises each crawler rule: robots.txt (a disallowed folder,
a fractional Crawl-delay, a Sitemap line), a sitemap and an RSS feed with pages reachable only
through them, a Chinese-only section whose links must not be followed, a redirect chain, a redirect
to another host (a second server on another port), a 404, a 500 that succeeds on retry, a 429 with
Retry-After, a page slower than the read timeout, an oversize page and a binary. Every request is
logged server-side as (time, server, path) so tests assert exactly what was fetched and when.
Under /p/ it serves the portal cases of tests/pipeline/site_portal.py (Tibetan IRIs, gzipped
sitemap index, robots meta, session-id and calendar traps, tracking parameters, canonical twins,
pagination).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import site_portal

N_ARTICLES = 8
LINKED_ARTICLES = range(0, 4)  # linked from the home page (and chained)
SITEMAP_ARTICLES = (4, 5)  # reachable only through the sitemap
FEED_ARTICLES = (6, 7)  # reachable only through the RSS feed
SLOW_SECONDS = 1.5
BIG_BYTES = 300_000

CHINESE = (
    "西藏自治区位于中国西南部，平均海拔四千米以上，被称为世界屋脊。"
    "本栏目刊登汉文新闻报道，内容包括经济、教育、文化和旅游等方面的消息。"
)


def tibetan_articles(corpus: Path, n: int = N_ARTICLES, size: int = 1500) -> list[str]:
    """`n` consecutive passages of about `size` characters, cut after a shad."""
    text = (corpus / "classical" / "classical-tibetan-corpus" / "mila.txt").read_text(encoding="utf-8")
    out, pos = [], 0
    for _ in range(n):
        end = text.find("།", pos + size)
        end = len(text) if end < 0 else end + 1
        out.append(text[pos:end].strip())
        pos = end
    return out


def _page(title: str, body: str, links: list[tuple[str, str]] = (), head: str = "") -> bytes:
    nav = (
        '<nav><ul><li><a href="/">ཐོག་ངོས།</a></li><li><a href="/bo/a0.html">གསར་འགྱུར།</a></li>'
        '<li><a href="/zh/index.html">中文</a></li><li><a href="/private/admin.html">Admin</a></li></ul></nav>'
    )
    items = "".join(f'<li><a href="{href}">{text}</a></li>' for href, text in links)
    footer = "<footer><p>Copyright Test Site. All rights reserved. Contact | About | Privacy</p></footer>"
    html = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>{head}</head>'
        f"<body><header>{nav}</header><main><article><h1>{title}</h1>"
        + "".join(f"<p>{p}</p>" for p in body.split("\n") if p.strip())
        + f"</article><aside><ul>{items}</ul></aside></main>{footer}</body></html>"
    )
    return html.encode("utf-8")


@dataclass
class Site:
    """The two servers and what they saw."""

    base: str
    other_base: str
    articles: list[str]
    portal_texts: list[str] = field(default_factory=list)
    """Real Tibetan passages for the /p/ pages (after the ones `articles` uses)."""
    log: list[tuple[float, str, str]] = field(default_factory=list)
    """(monotonic time, 'main'|'other', path) per request, in arrival order."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    hits: Counter = field(default_factory=Counter)

    def paths(self, server: str = "main") -> Counter:
        with self.lock:
            return Counter(p for _, s, p in self.log if s == server)

    def times(self, server: str = "main") -> list[float]:
        with self.lock:
            return [t for t, s, _ in self.log if s == server]


# Paths a complete crawl fetches, with how many requests each gets (retries included), given
# options retries=1, read_timeout < SLOW_SECONDS, max_bytes < BIG_BYTES, min_tibetan_share 0.3.
def expected_fetches() -> Counter:
    c = Counter(
        {
            "/robots.txt": 1,
            "/": 1,
            "/sitemap.xml": 1,
            "/feed.xml": 1,
            "/zh/index.html": 1,  # fetched (linked from a Tibetan page) but not followed
            "/redirect/1": 1,
            "/redirect/2": 1,
            "/bo/target.html": 1,
            "/offsite": 1,  # its target on the other host is never fetched
            "/missing.html": 1,  # 404: no retry
            "/flaky.html": 2,  # 500, then 200
            "/busy.html": 2,  # 429 Retry-After: 1, then 200
            "/slow.html": 2,  # read timeout, retried once, then given up
            "/big.html": 1,
            "/image.png": 1,
        }
    )
    for i in range(N_ARTICLES):
        c[f"/bo/a{i}.html"] = 1
    return c


def start_site(corpus: Path) -> tuple[Site, list[ThreadingHTTPServer]]:
    texts = tibetan_articles(corpus, n=N_ARTICLES + 40)
    articles = texts[:N_ARTICLES]
    other = _serve(None, "other")
    site = Site(base="", other_base=f"http://127.0.0.1:{other.server_address[1]}", articles=articles)
    site.portal_texts = texts[N_ARTICLES:]
    other.site = site  # type: ignore[attr-defined]
    main = _serve(site, "main")
    site.base = f"http://127.0.0.1:{main.server_address[1]}"
    return site, [main, other]


def stop_site(servers: list[ThreadingHTTPServer]) -> None:
    for s in servers:
        s.shutdown()
        s.server_close()


def _serve(site: Site | None, name: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.site = site  # type: ignore[attr-defined]
    server.name = name  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep test output quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8", headers=()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # crawler hung up on purpose
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        site: Site = self.server.site  # type: ignore[attr-defined]
        name: str = self.server.name  # type: ignore[attr-defined]
        path = self.path
        with site.lock:
            site.log.append((time.monotonic(), name, path))
            site.hits[(name, path)] += 1
            nth = site.hits[(name, path)]
        if name == "other":
            return self._send(200, _page("Other host", site.articles[0]))
        a = site.articles
        if path.startswith("/p/"):
            raw_path, _, query = path.partition("?")
            res = site_portal.respond(site.base, unquote(raw_path), query, site.portal_texts)
            return self._send(*res) if res else self._send(404, b"not found", "text/plain")
        if path == "/robots.txt":
            body = f"User-agent: *\nDisallow: /private/\nCrawl-delay: 0.2\nSitemap: {site.base}/sitemap.xml\n"
            return self._send(200, body.encode(), "text/plain")
        if path == "/":
            links = [(f"/bo/a{i}.html", f"ཤོག་ངོས་{i}") for i in LINKED_ARTICLES]
            links += [
                ("/redirect/1", "r"),
                ("/offsite", "o"),
                ("/missing.html", "m"),
                ("/flaky.html", "f"),
                ("/busy.html", "b"),
                ("/slow.html", "s"),
                ("/big.html", "g"),
                ("/image.png", "i"),
                (f"{site.other_base}/direct.html", "x"),
                ("mailto:editor@example.org", "mail"),
            ]
            feed = f'<link rel="alternate" type="application/rss+xml" href="{site.base}/feed.xml">'
            return self._send(200, _page("བོད་ཀྱི་གསར་འགྱུར།", a[0][:400], links, head=feed))
        if path.startswith("/bo/a") and path.endswith(".html"):
            i = int(path[5:-5])
            links = [(f"/bo/a{i + 1}.html", "རྗེས་མ།")] if i + 1 in LINKED_ARTICLES else []
            return self._send(200, _page(f"རྩོམ་ཡིག་{i}", a[i], links))
        if path == "/sitemap.xml":
            urls = "".join(f"<url><loc>{site.base}/bo/a{i}.html</loc></url>" for i in SITEMAP_ARTICLES)
            xml = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
            return self._send(200, xml.encode(), "application/xml")
        if path == "/feed.xml":
            items = "".join(
                f"<item><title>{i}</title><link>{site.base}/bo/a{i}.html</link></item>" for i in FEED_ARTICLES
            )
            rss = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
            return self._send(200, rss.encode(), "application/rss+xml")
        if path == "/zh/index.html":
            return self._send(200, _page("新闻", CHINESE * 5, [("/zh/deep.html", "更多")]))
        if path == "/redirect/1":
            return self._send(301, b"", headers=[("Location", "/redirect/2")])
        if path == "/redirect/2":
            return self._send(302, b"", headers=[("Location", f"{site.base}/bo/target.html")])
        if path == "/offsite":
            return self._send(302, b"", headers=[("Location", f"{site.other_base}/landing.html")])
        if path == "/bo/target.html":
            return self._send(200, _page("དམིགས་ཡུལ།", a[1]))
        if path == "/flaky.html":
            if nth == 1:
                return self._send(500, b"internal error", "text/plain")
            return self._send(200, _page("flaky", a[2]))
        if path == "/busy.html":
            if nth == 1:
                return self._send(429, b"slow down", "text/plain", headers=[("Retry-After", "1")])
            return self._send(200, _page("busy", a[3]))
        if path == "/slow.html":
            time.sleep(SLOW_SECONDS)
            return self._send(200, _page("slow", a[4]))
        if path == "/big.html":
            return self._send(200, _page("big", (a[5] + "\n") * (BIG_BYTES // len(a[5].encode()) + 1)))
        if path == "/image.png":
            return self._send(200, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "image/png")
        return self._send(404, b"not found", "text/plain")
