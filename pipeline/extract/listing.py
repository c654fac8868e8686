"""Listing/teaser pages vs articles, judged on the main text trafilatura extracted, not on the page.

Portal list pages (news lists, tag and category pages, paginated indexes) and articles with a big
"related news" block cannot be told apart by one page-wide link share: on our bench list pages
measure 0.38-0.43 and articles up to 0.61 (see bench/html_extract.py). What does separate them is
where the extracted text lives (Kohlschütter et al. 2010 judge link density per block, not per page;
jusText classifies blocks too):

- teaser items: sibling elements of one shape (same tag and class, >= `min_group` of them under one
  parent: `li`, `div.item`, `dd`, `tr`) of which most carry a link: headline lists, teaser lists,
  related-news blocks, menus;
- own text: the extracted lines that are neither inside a teaser item nor the text of a link.

A page whose own text is shorter than `min_own_chars`, or whose extracted text is mostly teaser text
and whose own text is short (< `max_own_chars`), is a listing. On an article, extracted lines that
sit in teaser items (a related-news block trafilatura kept) are dropped from the text.
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
    """Extracted text outside teaser items and links shorter than this: a listing (the shortest real
    article on the bench has 150 characters of its own; list pages have 0-80: a heading, a date)."""
    max_own_chars: int = 400
    """... and with at least `teaser_ratio` times as much teaser text as own text, a page with less own
    text than this is still a listing (a tag page with a short intro above its teasers)."""
    teaser_ratio: float = 3.0
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
    n_teasers: int
    text: str
    """The extracted text without lines that sit in teaser items (only meaningful for an article)."""

    @property
    def detail(self) -> str:
        return f"own text {self.own_chars} chars, teaser text {self.teaser_chars} chars, {self.n_teasers} teaser items"


def _norm(s: str) -> str:
    return " ".join(s.split())


def teaser_items(tree: lxml.html.HtmlElement, cfg: ListingConfig) -> list[lxml.html.HtmlElement]:
    """Members of repeated, mostly linked sibling groups (see module docstring)."""
    out = []
    for parent in tree.iter():
        if not isinstance(parent.tag, str):
            continue
        groups: dict[tuple[str, str], list] = {}
        for child in parent:
            if isinstance(child.tag, str) and child.tag not in ("p", "br", "span", "a", "img", "h1"):
                groups.setdefault((child.tag, child.get("class") or ""), []).append(child)
        for members in groups.values():
            if len(members) < cfg.min_group:
                continue
            linked = sum(1 for m in members if m.tag == "a" or m.find(".//a") is not None)
            if linked >= cfg.min_linked_share * len(members):
                out += members
    return out


# Byline / metadata lines portals put above or below the body: source, editor, date and view
# counts ("ཁུངས།" source, "རྩོམ་སྒྲིག" editor, "ལྟ་ཀློག" views; 来源 / 责任编辑 / 浏览 on Chinese templates),
# and the copyright / ICP licence line every site hosted in China must show (MIIT rules).
_META_LINE = re.compile(
    r"^(?:དུས་ཚོད|ཁུངས|རྩོམ་སྒྲིག|འགན་འཛིན་རྩོམ་སྒྲིག|ལྟ་ཀློག|来源|责任编辑|编辑|发布时间|浏览)|"
    r"\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}|版权所有|ICP备|公网安备|Copyright|©|All rights reserved"
)
_META_MAX = 160
_RESIDUE = re.compile(r"[\s|\\\-•*>:,.;/]+")


def _segments(line: str) -> list[str]:
    """trafilatura renders table rows as `| cell | cell |`: judge each cell on its own."""
    if line.lstrip().startswith("|"):
        return [c for c in re.split(r"(?<!\\)\|", line) if c.strip()]
    return [line]


def _is_link_text(seg: str, anchors: list[str]) -> bool:
    """A segment that is (almost) all link text once every anchor text in it is removed."""
    rest = seg
    for a in anchors:
        if a in rest:
            rest = rest.replace(a, "")
    return len(_RESIDUE.sub("", rest)) < 0.3 * len(_RESIDUE.sub("", seg))


def judge(html: str, text: str, cfg: ListingConfig) -> Verdict:
    """Is this page a listing? `text` is trafilatura's extraction of `html` (lines = blocks)."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    try:
        tree = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        own = sum(len(_norm(ln)) for ln in lines)
        return Verdict(False, own, 0, 0, text)
    for el in tree.xpath(_SKIP):
        if el.getparent() is not None:
            el.drop_tree()
    items = teaser_items(tree, cfg)
    teaser_blob = "\x00".join(_norm(" ".join(el.itertext())) for el in items)
    anchors = sorted({n for a in tree.iter("a") if len(n := _norm(a.text_content())) >= 2}, key=len, reverse=True)
    own_lines, own, teaser = [], 0, 0
    for ln in lines:
        segs = [_norm(sg).lstrip("-•* ") for sg in _segments(ln)]  # "- item": trafilatura's <li>
        own_segs = []
        for n in segs:
            if n and ((len(n) >= 4 and n in teaser_blob) or _is_link_text(n, anchors)):
                teaser += len(n)
            elif len(n) < _META_MAX and _META_LINE.search(n):
                continue  # byline: neither the article's text nor evidence of a listing
            else:
                own_segs.append(n)
        if own_segs:
            own += sum(len(n) for n in own_segs)
            own_lines.append(ln if len(own_segs) == len(segs) else " ".join(own_segs))
    # Without any repeated linked structure or link lines a short page is a short text, not a listing
    # (the length filters judge it later).
    listing = bool(items or teaser) and (
        own < cfg.min_own_chars or (own < cfg.max_own_chars and teaser >= cfg.teaser_ratio * own)
    )
    return Verdict(listing, own, teaser, len(items), "\n".join(own_lines))
