"""Listing/teaser pages vs articles, judged on the main text trafilatura extracted, not on the page.

Portal list pages (news lists, tag and category pages, paginated indexes, portal homes) and articles
with a big "related news" block cannot be told apart by one page-wide link share: on the bench
(bench/html_extract.py) articles measure 0.02-0.43 and listings 0.10-0.90. What does separate them
is where the extracted text lives (Kohlschütter et al. 2010 and jusText judge link density per
block, not per page):

- teaser items: siblings of one shape (tag, class without `odd`/`even`/`item-3` tokens, child tag
  sequence; >= `min_group` under one parent) of which most carry a link: headline and teaser lists,
  related-news blocks, menus; a member that contains another group's members is a layout container,
  not a teaser. Also a lone small block whose h2-h6 heading links elsewhere above an excerpt (a
  portal home's top story);
- own text: the extracted lines (table cells one by one) that are neither teaser text, nor (almost)
  all link text, nor a byline/copyright line; whole teaser items inside a line are cut out of it.

Listing: own text < `min_own_chars`, or < `max_own_chars` with `teaser_ratio` times as much teaser
text (extracted, or non-link excerpt text on the page, whichever is larger). On an article the
teaser, link and byline lines are dropped from the text. Thresholds: bench/html_extract.py "chosen".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import lxml.etree
import lxml.html

_SKIP = "//script|//style|//noscript|//template"


@dataclass
class ListingConfig:
    min_own_chars: int = 100
    """Own text shorter than this: a listing (the shortest article on the bench has 150 characters
    of its own; most listings have 0-80: a heading, a date). Flat from 60 to 150 on the bench."""
    max_own_chars: int = 600
    """... and with at least `teaser_ratio` times as much teaser text as own text, a page with less own
    text than this is still a listing (a tag page with a short intro above its teasers)."""
    teaser_ratio: float = 4.0
    """3 rejects 3 more listings on the bench but loses 2 of 35 short articles above teaser blocks;
    6 loses none and rejects 2 fewer; 4 loses 1 (the <= 1 % rule of the bench)."""
    min_group: int = 4
    """Siblings of one shape that make a repeated structure (a 3-item list is often just a list)."""
    min_linked_share: float = 0.75
    """Share of a group's items that must contain a link for it to be a teaser/headline group."""

    def __post_init__(self) -> None:
        if self.min_own_chars < 0 or self.max_own_chars < self.min_own_chars:
            raise ValueError("listing: need 0 <= min_own_chars <= max_own_chars")
        if self.min_group < 2 or not 0.0 < self.min_linked_share <= 1.0 or self.teaser_ratio <= 0:
            raise ValueError("listing: min_group >= 2, min_linked_share in (0, 1], teaser_ratio > 0")


@dataclass
class Verdict:
    listing: bool
    own_chars: int
    teaser_chars: int
    """Extracted characters found in teaser items or link text."""
    excerpt_chars: int
    """Letters of non-link text in the page's teaser items (excerpts)."""
    n_teasers: int
    text: str
    """The extracted text without lines that sit in teaser items (only meaningful for an article)."""

    @property
    def detail(self) -> str:
        return (
            f"own text {self.own_chars} chars, teaser text {self.teaser_chars} chars extracted + "
            f"{self.excerpt_chars} in excerpts, {self.n_teasers} teaser items"
        )


def _norm(s: str) -> str:
    return " ".join(s.split())


_STATE_CLASSES = re.compile(r"\b(?:odd|even|first|last|active|current|on|cur|hover|selected|clearfix)\b|\d+")
_SKIP_INNER = frozenset({"img", "br", "span", "i", "em", "b", "strong", "font"})


def _signature(el: lxml.html.HtmlElement) -> tuple:
    """Shape of a sibling for grouping: tag, class without state/position tokens (`odd`/`even`,
    `item-3`), and the sequence of its child tags (runs collapsed, inline tags ignored). Teasers of
    one list share it; the unclassed layout divs of a hand-made page (logo, menu, article, footer) don't."""
    cls = " ".join(_STATE_CLASSES.sub(" ", el.get("class") or "").split())
    inner: list[str] = []
    for c in el:
        if isinstance(c.tag, str) and c.tag not in _SKIP_INNER and (not inner or inner[-1] != c.tag):
            inner.append(c.tag)
    return el.tag, cls, tuple(inner)


def teaser_items(tree: lxml.html.HtmlElement, cfg: ListingConfig) -> list[lxml.html.HtmlElement]:
    """Members of repeated, mostly linked sibling groups of one shape (see module docstring); a
    member that contains another group's members is a container (a layout block), not a teaser."""
    found: list[lxml.html.HtmlElement] = []
    for parent in tree.iter():
        if not isinstance(parent.tag, str):
            continue
        groups: dict[tuple, list] = {}
        for child in parent:
            if isinstance(child.tag, str) and child.tag not in ("p", "br", "span", "a", "img", "h1"):
                groups.setdefault(_signature(child), []).append(child)
        for members in groups.values():
            if len(members) < cfg.min_group:
                continue
            linked = sum(1 for m in members if m.tag == "a" or m.find(".//a") is not None)
            if linked >= cfg.min_linked_share * len(members):
                found += members
    members = set(found)
    containers = {anc for m in found for anc in m.iterancestors() if anc in members}
    return [m for m in found if m not in containers]


def excerpt_chars(items: list[lxml.html.HtmlElement]) -> int:
    """Letters of teaser text that is not link text (excerpts under teaser headlines); dates and
    counts are not letters, so a headline list has none."""
    n = 0
    for el in items:
        link = sum(len(_letters(a.text_content())) for a in el.iter("a"))
        n += max(len(_letters(el.text_content())) - link, 0)
    return n


def _letters(s: str) -> str:
    return "".join(ch for ch in s if ch.isalpha() or "\u0f40" <= ch <= "\u0fbc")


# Byline / metadata lines portals put above or below the body: source, editor, date and view
# counts ("ཁུངས།" source, "རྩོམ་སྒྲིག" editor, "ལྟ་ཀློག" views; 来源 / 责任编辑 / 浏览 on Chinese templates),
# and the copyright / ICP licence line every site hosted in China must show (MIIT rules).
_META_LINE = re.compile(
    r"^(?:དུས་ཚོད|ཁུངས|རྩོམ་སྒྲིག|འགན་འཛིན་རྩོམ་སྒྲིག|ལྟ་ཀློག|来源|责任编辑|编辑|发布时间|浏览)|"
    r"\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}|版权所有|ICP备|公网安备|Copyright|©|All rights reserved"
)
_META_MAX = 160
_HEADING_MAX = 40
_RESIDUE = re.compile(r"[\s|\\\-•*>:,.;/]+")


def _segments(line: str) -> list[str]:
    """trafilatura renders table rows as `| cell | cell |`: judge each cell on its own."""
    if line.lstrip().startswith("|"):
        return [c for c in re.split(r"(?<!\\)\|", line) if c.strip()]
    return [line]


def _is_link_text(seg: str, anchors: list[str]) -> bool:
    """A segment that is (almost) all link text once every anchor text in it is removed (a menu or
    headline row rendered as one line); inline keyword links in a paragraph leave most of it."""
    rest = seg
    for a in anchors:
        if a in rest:
            rest = rest.replace(a, "")
    return len(_RESIDUE.sub("", rest)) < 0.3 * len(_RESIDUE.sub("", seg))


def _squash(s: str) -> str:
    return "".join(s.split())


def _remove(seg: str, piece: str) -> str:
    """`seg` without `piece`, whitespace-insensitively (trafilatura joins `<a>` and `<span>` text
    without the space the DOM has, and vice versa)."""
    pattern = r"\s*".join(re.escape(ch) for ch in piece)
    return re.sub(pattern, " ", seg)


def lead_teasers(tree: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    """A single teaser outside any list: a small block (<= 800 characters) whose heading (h2-h6) links
    elsewhere, above an excerpt: a portal home's top story. An article's own title is not a link."""
    out = []
    for h in tree.xpath(
        "//h2[.//a[@href]] | //h3[.//a[@href]] | //h4[.//a[@href]] | //h5[.//a[@href]] | //h6[.//a[@href]]"
    ):
        block = h.getparent()
        if block is not None and block.find("p") is not None and len(_norm(block.text_content())) <= 800:
            out.append(block)
    return out


def judge(html: str, text: str, cfg: ListingConfig) -> Verdict:
    """Is this page a listing? `text` is trafilatura's extraction of `html` (lines = blocks)."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    try:
        tree = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        own = sum(len(_norm(ln)) for ln in lines)
        return Verdict(False, own, 0, 0, 0, text)
    for el in tree.xpath(_SKIP):
        if el.getparent() is not None:
            el.drop_tree()
    items = teaser_items(tree, cfg)
    known = set(items)
    items += [b for b in lead_teasers(tree) if b not in known and not any(a in known for a in b.iterancestors())]
    texts = sorted({t for el in items if len(t := _squash(" ".join(el.itertext()))) >= 4}, key=len, reverse=True)
    blob = "\x00".join(texts)
    anchors = sorted({n for a in tree.iter("a") if len(n := _norm(a.text_content())) >= 2}, key=len, reverse=True)
    excerpts = excerpt_chars(items)
    kept: list[tuple[str, int] | None] = []  # (own line, its length), None for a teaser line
    own, teaser = 0, 0
    for ln in lines:
        segs = [_norm(sg).lstrip("-•* ") for sg in _segments(ln)]  # "- item": trafilatura's <li>
        own_segs = []
        for n in segs:
            sq = _squash(n)
            if not sq:
                continue
            if (len(sq) >= 4 and sq in blob) or _is_link_text(n, anchors):
                teaser += len(n)
                continue
            if len(n) < _META_MAX and _META_LINE.search(n):
                continue  # byline: neither the article's text nor evidence of a listing
            # A table cell or div that holds whole teaser items besides other text (table layouts):
            # the items go, the rest is judged as text.
            before = len(sq)
            for t in texts:
                if len(t) >= 20 and t in sq:
                    n = _norm(_remove(n, t))
                    sq = _squash(n)
            teaser += before - len(sq)
            if sq:
                own_segs.append(n)
        if own_segs:
            kept.append((ln if own_segs == segs else " ".join(own_segs), sum(len(n) for n in own_segs)))
        elif any(_squash(n) for n in segs):
            kept.append(None)
    # A short line right above teaser lines is that block's heading ("འབྲེལ་ཡོད་གསར་འགྱུར།", related news).
    own_lines = []
    for i, k in enumerate(kept):
        if k is None or (k[1] < _HEADING_MAX and i + 1 < len(kept) and kept[i + 1] is None):
            continue
        own_lines.append(k[0])
        own += k[1]
    # Without any repeated linked structure or link lines a short page is a short text, not a listing
    # (the length filters judge it later). Extracted teaser text and excerpts on the page measure the
    # same thing two ways (trafilatura keeps some teaser lists, drops others): the larger counts.
    listing = bool(items or teaser) and (
        own < cfg.min_own_chars or (own < cfg.max_own_chars and max(teaser, excerpts) >= cfg.teaser_ratio * own)
    )
    return Verdict(listing, own, teaser, excerpts, len(items), "\n".join(own_lines))
