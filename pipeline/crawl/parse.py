"""Pure helpers the crawler applies to fetched bytes: URL normalisation and scope, links, sitemap
and feed entries, and the Tibetan share that decides whether a page's links are followed."""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from urllib.parse import urljoin, urlsplit, urlunsplit

import lxml.etree
import lxml.html
import trafilatura

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SKIP_SCHEMES = ("mailto:", "javascript:", "tel:", "data:", "#")


def normalize_url(url: str, base: str | None = None) -> str | None:
    """Absolute http(s) URL without fragment, lower-case scheme/host, no default port; else None."""
    url = url.strip()
    if not url or url.lower().startswith(_SKIP_SCHEMES):
        return None
    if base:
        url = urljoin(base, url)
    try:
        p = urlsplit(url)
        port = p.port
    except ValueError:
        return None
    scheme = p.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not p.hostname:
        return None
    host = p.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, p.path or "/", p.query, ""))


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


def extract_links(html: bytes, base_url: str) -> list[str]:
    """Normalised out-links (a/area href) in document order, without duplicates; honours <base>."""
    tree = _html_tree(html)
    if tree is None:
        return []
    base = tree.xpath("string(//base/@href)") or base_url
    base = urljoin(base_url, base)
    out: dict[str, None] = {}
    for href in tree.xpath("//a/@href | //area/@href"):
        u = normalize_url(str(href), base)
        if u:
            out.setdefault(u, None)
    return list(out)


def feed_links(html: bytes, base_url: str) -> list[str]:
    """RSS/Atom feeds a page advertises with <link rel="alternate" type="application/rss+xml">."""
    tree = _html_tree(html)
    if tree is None:
        return []
    hrefs = tree.xpath("//link[contains(@rel,'alternate')][contains(@type,'rss') or contains(@type,'atom')]/@href")
    return [u for u in (normalize_url(str(h), base_url) for h in hrefs) if u]


def _xml_root(data: bytes) -> lxml.etree._Element | None:
    parser = lxml.etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    try:
        return lxml.etree.fromstring(data.strip(), parser)
    except lxml.etree.XMLSyntaxError:
        return None


# Hand-rolled rather than trafilatura.sitemaps / trafilatura.feeds: those validate every link with
# courlan, which rejects IP-literal hosts and explicit ports (so the loopback test site and intranet
# mirrors yield nothing) and silently drops cross-domain links; our own scope check decides instead.
def parse_sitemap(data: bytes, base_url: str) -> tuple[list[str], list[str]]:
    """(page URLs, nested sitemap URLs) of a sitemap or sitemap index (any namespace)."""
    root = _xml_root(data)
    if root is None:
        return [], []
    locs = [normalize_url(str(t).strip(), base_url) for t in root.xpath("//*[local-name()='loc']/text()")]
    locs = [u for u in locs if u]
    if lxml.etree.QName(root).localname == "sitemapindex":
        return [], locs
    return locs, []


def parse_feed(data: bytes, base_url: str) -> list[str]:
    """Entry links of an RSS 2.0 (<item><link>) or Atom (<entry><link href>) feed."""
    root = _xml_root(data)
    if root is None:
        return []
    raw = root.xpath("//*[local-name()='item']/*[local-name()='link']/text()")
    raw += root.xpath("//*[local-name()='entry']/*[local-name()='link'][not(@rel) or @rel='alternate']/@href")
    out: dict[str, None] = {}
    for r in raw:
        u = normalize_url(str(r), base_url)
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
