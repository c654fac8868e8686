"""Pure helpers the crawler applies to fetched bytes: URL normalisation and scope, links, sitemap
and feed entries, and the Tibetan share that decides whether a page's links are followed."""

from __future__ import annotations

import fnmatch
import gzip
import io
import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html
import trafilatura
from tibcpt.pipeline.crawl.urls import normalize_url

__all__ = ["normalize_url", "url_host", "scope_reason", "parse_page", "parse_sitemap", "parse_feed", "tibetan_share"]


def url_host(url: str) -> str:
    """host[:port] as normalised by `normalize_url` — the unit of politeness and of scope."""
    return urlsplit(url).netloc


def scope_reason(
    url: str, allowed_hosts: list[str], include: list[re.Pattern], exclude: list[re.Pattern]
) -> str | None:
    """None if `url` is in scope; else why not ('offhost', 'excluded', 'not_included')."""
    host = url_host(url)
    bare = urlsplit(url).hostname or ""
    if not any(fnmatch.fnmatchcase(host, pat) or fnmatch.fnmatchcase(bare, pat) for pat in allowed_hosts):
        return "offhost"
    if any(p.search(url) for p in exclude):
        return "excluded"
    if include and not any(p.search(url) for p in include):
        return "not_included"
    return None


def _html_tree(html: bytes) -> lxml.html.HtmlElement | None:
    try:
        return lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return None


@dataclass
class PageInfo:
    """What the crawler needs from one HTML page, from a single parse."""

    links: list[str] = field(default_factory=list)
    """Normalised out-links (a/area href) in document order, no duplicates, none marked rel=nofollow."""
    feeds: list[str] = field(default_factory=list)
    """RSS/Atom feeds advertised with <link rel="alternate" type="application/rss+xml">."""
    canonical: str | None = None
    """<link rel="canonical"> target, normalised."""
    noindex: bool = False
    nofollow: bool = False
    nofollow_links: int = 0
    """Links skipped for rel=nofollow."""


_DIRECTIVES = ("all", "noindex", "nofollow", "none", "noarchive", "nosnippet", "unavailable_after", "max-")
_SCOPED = re.compile(r"^\s*([A-Za-z][\w-]*)\s*:\s*(.*)$")


def robots_directives(meta_contents: list[str], x_robots_tag: str | None) -> tuple[bool, bool]:
    """(noindex, nofollow) from <meta name="robots"> contents and an X-Robots-Tag header value.

    Google's robots meta spec: `none` = noindex + nofollow; a header value may be scoped to one
    crawler (`otherbot: noindex`): scoped to another bot, it does not apply to us."""
    values = list(meta_contents)
    if x_robots_tag:
        m = _SCOPED.match(x_robots_tag)
        if m and not m.group(1).lower().startswith(_DIRECTIVES):
            if m.group(1).lower() == "tibcpt":
                values.append(m.group(2))
        else:
            values.append(x_robots_tag)
    tokens = {t.strip().lower() for v in values for t in v.split(",")}
    return ("noindex" in tokens or "none" in tokens), ("nofollow" in tokens or "none" in tokens)


_META_TAG = re.compile(rb"<meta\b[^>]*>", re.I)
_ATTR = re.compile(rb"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")


def meta_robots(html: bytes) -> list[str]:
    """Contents of <meta name="robots"> / <meta name="tibcpt"> tags in the first 64 KiB (the head),
    found with a regex: the corpus reader runs this on every archived page without a full parse."""
    out = []
    for tag in _META_TAG.findall(html[:65536]):
        attrs = {m[0].lower(): (m[1] or m[2] or m[3]) for m in _ATTR.findall(tag)}
        if attrs.get(b"name", b"").strip().lower() in (b"robots", b"tibcpt"):
            out.append(attrs.get(b"content", b"").decode("utf-8", "replace"))
    return out


def is_noindex(html: bytes, x_robots_tag: str | None) -> bool:
    """True if the page asks not to be indexed (meta robots or X-Robots-Tag): it stays in the WARC
    archive, but never becomes a corpus document."""
    return robots_directives(meta_robots(html), x_robots_tag)[0]


def parse_page(html: bytes, base_url: str, x_robots_tag: str | None = None, strip_params: bool = True) -> PageInfo:
    """Links, feeds, canonical URL and robots directives of one HTML page; honours <base>."""
    info = PageInfo()
    tree = _html_tree(html)
    info.noindex, info.nofollow = robots_directives(meta_robots(html), x_robots_tag)
    if tree is None:
        return info
    base = urljoin(base_url, tree.xpath("string(//base/@href)") or base_url)
    out: dict[str, None] = {}
    for a in tree.xpath("//a[@href] | //area[@href]"):
        if "nofollow" in (a.get("rel") or "").lower().split():
            info.nofollow_links += 1
            continue
        u = normalize_url(str(a.get("href")), base, strip_params)
        if u:
            out.setdefault(u, None)
    info.links = list(out)
    hrefs = tree.xpath("//link[contains(@rel,'alternate')][contains(@type,'rss') or contains(@type,'atom')]/@href")
    info.feeds = [u for u in (normalize_url(str(h), base_url, strip_params) for h in hrefs) if u]
    canon = tree.xpath("//head/link[translate(@rel,'CANOICL','canoicl')='canonical']/@href")
    if canon:
        info.canonical = normalize_url(str(canon[0]), base, strip_params)
    return info


def _xml_root(data: bytes) -> lxml.etree._Element | None:
    parser = lxml.etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    try:
        return lxml.etree.fromstring(data.strip(), parser)
    except lxml.etree.XMLSyntaxError:
        return None


SITEMAP_MAX_BYTES = 50 * 1024 * 1024
"""sitemaps.org protocol: a sitemap file is at most 50 MB uncompressed; more is a gzip bomb or junk."""


def gunzip_sitemap(data: bytes) -> bytes:
    """Unpack a gzipped sitemap (`.xml.gz` served as application/x-gzip, i.e. the file itself is
    gzip, not a Content-Encoding), capped at SITEMAP_MAX_BYTES; other bytes are returned as they are."""
    if not data.startswith(b"\x1f\x8b"):
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            return gz.read(SITEMAP_MAX_BYTES)
    except (OSError, EOFError):
        return b""


# Hand-rolled rather than trafilatura.sitemaps / trafilatura.feeds: those validate every link with
# courlan, which rejects IP-literal hosts and explicit ports (so the loopback test site and intranet
# mirrors yield nothing) and silently drops cross-domain links; our own scope check decides instead.
def parse_sitemap(data: bytes, base_url: str, strip_params: bool = True) -> tuple[list[str], list[str]]:
    """(page URLs, nested sitemap URLs) of a sitemap or sitemap index (any namespace, gzipped or not)."""
    root = _xml_root(gunzip_sitemap(data))
    if root is None:
        return [], []
    locs = [normalize_url(str(t).strip(), base_url, strip_params) for t in root.xpath("//*[local-name()='loc']/text()")]
    locs = [u for u in locs if u]
    if lxml.etree.QName(root).localname == "sitemapindex":
        return [], locs
    return locs, []


def parse_feed(data: bytes, base_url: str, strip_params: bool = True) -> list[str]:
    """Entry links of an RSS 2.0 (<item><link>) or Atom (<entry><link href>) feed."""
    root = _xml_root(data)
    if root is None:
        return []
    raw = root.xpath("//*[local-name()='item']/*[local-name()='link']/text()")
    raw += root.xpath("//*[local-name()='entry']/*[local-name()='link'][not(@rel) or @rel='alternate']/@href")
    out: dict[str, None] = {}
    for r in raw:
        u = normalize_url(str(r), base_url, strip_params)
        if u:
            out.setdefault(u, None)
    return list(out)


def is_tibetan(ch: str) -> bool:
    return "\u0f00" <= ch <= "\u0fff"


def tibetan_share(text: str) -> float:
    """Share of Tibetan-block characters (U+0F00–0FFF) among letters and combining marks.

    Marks count because Tibetan vowel signs and subjoined letters are Mn; counting only L* would
    make a Tibetan page look less Tibetan than a Chinese one of the same length.
    """
    letters = tib = 0
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] in "LM":
            letters += 1
            tib += is_tibetan(ch)
    return tib / letters if letters else 0.0


def page_text(html: bytes) -> str:
    """Main text for the Tibetan-first decision: trafilatura's article text, or (hub pages where it
    finds no article) all visible text, so a Tibetan index page still counts as Tibetan."""
    text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True) or ""
    if len(text) < 50:
        tree = _html_tree(html)
        if tree is not None:
            for bad in tree.xpath("//script | //style | //noscript"):
                bad.drop_tree()
            text = " ".join(tree.text_content().split())
    return text
