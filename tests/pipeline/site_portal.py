"""The `/p/` part of the loopback test site: what real Tibetan portals do to crawlers (issue 13).

Served by site_fixture's handler for paths under /p/; everything is reachable from the seed /p/ or
the gzipped sitemap index /p/sitemap_index.xml.gz:

- a tag page linked in three spellings (raw Tibetan IRI, lower-case and upper-case %xx);
- a gzipped sitemap index (application/x-gzip) naming a gzipped sitemap whose pages, one with a
  Tibetan path, are linked nowhere else;
- a noindex page (meta robots), an X-Robots-Tag: noindex page, a nofollow page whose link must not
  be fetched, and a rel=nofollow link;
- a session-id trap: a list whose every link carries a fresh PHPSESSID (5 distinct items);
- tracking-parameter variants of article URLs (utm_*, fbclid);
- canonical twins (a print view and a `?from=` variant naming the article as rel=canonical) and a
  mirror with the same text and no canonical (content hash);
- a paginated news index (teaser lists) and an endless calendar (one URL shape, capped).
Article text is real Tibetan (Milarepa's biography, after the part the rest of the site uses).
"""

from __future__ import annotations

import gzip
import secrets
from collections import Counter
from urllib.parse import quote

TAG = "/p/tag/བོད་ལྗོངས།"
IRI_ARTICLE = "/p/bo/རྩོམ་ཡིག.html"
N_NEWS = 8  # /p/news/N.html, four per list page
N_ITEMS = 5  # /p/item?id=N behind the session trap
GZ_ARTICLES = ("/p/gz/0.html", "/p/gz/1.html", IRI_ARTICLE)
PATTERN_CAP = 10  # the test's max_requests_per_pattern: the calendar gets exactly this many requests


def article_paths() -> list[str]:
    """Every page that is an article: what `tibcpt corpus` must yield from the /p/ crawl."""
    out = [f"/p/a{i}.html" for i in range(4)] + ["/p/nofollow.html"]
    out += [f"/p/news/{i}.html" for i in range(N_NEWS)] + [f"/p/item?id={i}" for i in range(N_ITEMS)]
    return out + [quote(p) for p in GZ_ARTICLES]


def expected_fetches() -> Counter:
    """Request paths (as the server sees them) of a complete crawl of /p/, each fetched once."""
    c = Counter(article_paths())
    for p in ("/p/", quote(TAG), "/p/noindex.html", "/p/xrobots.html", "/p/print/a3.html", "/p/a0.html?from=home"):
        c[p] = 1
    c["/p/mirror/a1.html"] = 1
    c["/p/list"] = 1
    c.update({"/p/news/list_1.html": 1, "/p/news/list_2.html": 1, "/robots.txt": 1})
    c.update({"/p/sitemap_index.xml.gz": 1, "/p/sitemap-news.xml.gz": 1})
    c.update({f"/p/cal/2024/{m}": 1 for m in range(1, PATTERN_CAP + 1)})
    return c


def _page(title: str, paras: list[str], links: list[tuple[str, str]] = (), head: str = "", teasers=()) -> bytes:
    nav = '<nav><a href="/p/">ཐོག་ངོས།</a> <a href="/p/news/list_1.html">གསར་འགྱུར།</a></nav>'
    items = "".join(f'<li><a href="{h}">{t}</a></li>' for h, t in links)
    teaser = "".join(
        f'<div class="item"><h3><a href="{h}">{t}</a></h3><p>{ex}</p><span>2024-03-0{i + 1}</span></div>'
        for i, (h, t, ex) in enumerate(teasers)
    )
    body = "".join(f"<p>{p}</p>" for p in paras)
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>{head}</head><body>'
        f'<header>{nav}</header><main><h1>{title}</h1>{body}<div class="list">{teaser}</div></main>'
        f"<aside><ul>{items}</ul></aside><footer><p>Copyright Test Portal</p></footer></body></html>"
    ).encode()


def _canonical(path: str) -> str:
    return f'<link rel="canonical" href="{path}">'


def respond(base: str, path: str, raw_query: str, texts: list[str]) -> tuple[int, bytes, str, list] | None:
    """(status, body, content type, headers) for a /p/ path (percent-decoded), or None (404)."""
    html = "text/html; charset=utf-8"
    sid = secrets.token_hex(16)

    def art(i: int) -> str:
        return texts[i % len(texts)]

    if path == "/p/":
        enc = quote(TAG)
        links = [(f"/p/a{i}.html", f"རྩོམ་ཡིག་{i}") for i in range(4)]
        links += [(TAG, "ཁ་ཡིག"), (enc.lower(), "ཁ་ཡིག ༢"), (enc, "ཁ་ཡིག ༣")]
        links += [("/p/a1.html?utm_source=weibo&utm_medium=share", "t1"), ("/p/a2.html?fbclid=IwAR0xyz", "t2")]
        links += [("/p/noindex.html", "n"), ("/p/xrobots.html", "x"), ("/p/nofollow.html", "f")]
        links += [("/p/print/a3.html", "print"), ("/p/a0.html?from=home", "home")]
        links += [(f"/p/list?PHPSESSID={sid}", "list"), ("/p/news/list_1.html", "news"), ("/p/cal/2024/1", "cal")]
        links += [("/p/mirror/a1.html", "mirror")]  # last: a1 is stored first, the mirror is the duplicate
        teasers = [(f"/p/a{i}.html", f"རྩོམ་ཡིག་{i}", art(i)[:200]) for i in range(4)]  # a portal home: top stories
        body = _page("བོད་ཀྱི་དྲ་ཚིགས།", [], links, teasers=teasers)
        return 200, body.replace(b"<main>", b'<main><a rel="nofollow" href="/p/hidden2.html">h</a>'), html, []
    if path.startswith("/p/a") and path.endswith(".html"):  # /p/aN.html (and its ?from= twin)
        i = int(path[4:-5])
        return 200, _page(f"རྩོམ་ཡིག་{i}", [art(i)], head=_canonical(f"{base}/p/a{i}.html")), html, []
    if path == "/p/print/a3.html":
        return 200, _page("རྩོམ་ཡིག་3", [art(3)], head=_canonical("/p/a3.html")), html, []
    if path == "/p/mirror/a1.html":
        return 200, _page("རྩོམ་ཡིག་1", [art(1)]), html, []
    if path == TAG:
        teasers = [(f"/p/a{i}.html", f"རྩོམ་ཡིག་{i}", art(i)[:150]) for i in range(4)]
        return 200, _page("ཁ་ཡིག བོད་ལྗོངས།", [], teasers=teasers), html, []
    if path == "/p/noindex.html":
        return 200, _page("noindex", [art(4)], head='<meta name="robots" content="noindex, follow">'), html, []
    if path == "/p/xrobots.html":
        return 200, _page("xrobots", [art(5)]), html, [("X-Robots-Tag", "noindex")]
    if path == "/p/nofollow.html":
        head = '<meta name="robots" content="nofollow">'
        return 200, _page("nofollow", [art(6)], [("/p/hidden1.html", "h")], head=head), html, []
    if path == "/p/list":  # session trap: fresh ids in every link, on every visit
        teasers = [(f"/p/item?id={k}&PHPSESSID={sid}", f"དངོས་པོ་{k}", art(10 + k)[:150]) for k in range(N_ITEMS)]
        return 200, _page("ཐོ་གཞུང་།", [], [(f"/p/list?PHPSESSID={sid}", "རྗེས་མ།")], teasers=teasers), html, []
    if path == "/p/item":
        k = int(raw_query.split("id=")[1].split("&")[0])
        return 200, _page(f"དངོས་པོ་{k}", [art(10 + k)], [(f"/p/list?PHPSESSID={sid}", "ཕྱིར་ལོག")]), html, []
    if path.startswith("/p/news/list_"):
        n = int(path[13:-5])
        teasers = [(f"/p/news/{i}.html", f"གསར་འགྱུར་{i}", art(20 + i)[:150]) for i in range(4 * (n - 1), 4 * n)]
        pager = [("/p/news/list_1.html", "1"), ("/p/news/list_2.html", "2")]
        return 200, _page("གསར་འགྱུར།", [], pager, teasers=teasers), html, []
    if path.startswith("/p/news/"):
        i = int(path[8:-5])
        return 200, _page(f"གསར་འགྱུར་{i}", [art(20 + i)]), html, []
    if path.startswith("/p/cal/2024/"):  # endless: every month links the next
        m = int(path.rsplit("/", 1)[1])
        days = [(f"/p/cal/2024/{m}#d{d}", f"ཚེས་{d} ཉིན་གྱི་ལས་རིམ།") for d in range(1, 6)]
        teasers = [(h, t, "") for h, t in days]
        return 200, _page(f"ཟླ་བ་{m}", [], [(f"/p/cal/2024/{m + 1}", "ཟླ་རྗེས་མ།")], teasers=teasers), html, []
    if path in GZ_ARTICLES:
        i = GZ_ARTICLES.index(path)
        return 200, _page(f"སྦུག་{i}", [art(30 + i)]), html, []
    if path == "/p/sitemap_index.xml.gz":
        xml = f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>{base}/p/sitemap-news.xml.gz</loc></sitemap></sitemapindex>'
        return 200, gzip.compress(xml.encode()), "application/x-gzip", []
    if path == "/p/sitemap-news.xml.gz":
        locs = [f"{base}{quote(p).lower() if 'html' in p and not p.isascii() else p}" for p in GZ_ARTICLES]
        urls = "".join(f"<url><loc>{u}</loc></url>" for u in locs)
        xml = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        return 200, gzip.compress(xml.encode()), "application/x-gzip", []
    return None
