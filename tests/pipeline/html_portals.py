"""Tibetan portal pages with gold text, for the HTML extraction bench and tests.

Four template families modelled on the portals Tibetan web text comes from (markup patterns, not
copied pages): `gov` (div/class layout of Chinese government portals such as xizang.gov.cn /
tb.tibet.cn: no semantic tags, TRS_Editor body, "related news" list, ICP footer), `portal`
(yongzin/tibet3-style news portal: menu, hot-news sidebar, tags, related teasers with excerpts),
`wp` (WordPress exile news sites: HTML5 article/aside, related posts, comments) and `table`
(older CMS: nested tables, paragraphs as <br><br> runs with &nbsp; indents).

Page kinds: `article` (4-9 paragraphs), `short` (one paragraph of 150-400 characters: notices,
briefs), `related` (an article followed by 20-30 related headlines), and listings that must yield
no document: `news_list`, `tag`, `category` (teasers with excerpts, some with an intro line),
`paginated`, `home`. Text is real Tibetan: modern prose from ../shared/corpus (nanhai, re-joined
from its word segmentation; UDHR) for bodies, headlines and excerpts.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

ARTICLE_KINDS = ("article", "short", "related", "linked", "paged_article", "short_teasers")
LISTING_KINDS = ("news_list", "tag", "category", "paginated", "home", "home_lead", "long_intro", "oddeven", "gallery")
STYLES = ("gov", "portal", "wp", "table")
PLAN = {"article": 8, "short": 6, "related": 6, "news_list": 3, "tag": 2, "category": 2, "paginated": 2, "home": 1}
"""Pages per style: 20 articles and 10 listings; 4 styles = 120 pages."""
HARD_STYLES = ("gov", "portal", "wp", "table", "plain")
HARD_PLAN = {
    "short": 2,
    "short_teasers": 1,
    "related": 1,
    "linked": 2,
    "paged_article": 1,
    "home_lead": 1,
    "long_intro": 1,
    "oddeven": 1,
    "gallery": 1,
}
"""The hard set: cases the main set leaves out (an unclassed-div layout `plain`, articles with inline
keyword links or an in-article pager, a short article above six related teasers with excerpts, a home page led by a top story's lead paragraph, a category page
with a long introduction, list items with alternating classes, a photo gallery): 11 per style, 55 pages."""


@dataclass
class Page:
    name: str
    style: str
    kind: str
    html: str
    gold: str
    """The article's body text, paragraphs separated by newlines; empty for a listing."""

    @property
    def listing(self) -> bool:
        return self.kind in LISTING_KINDS


def rejoin(seg: str) -> str:
    """nanhai's word segmentation back to running text: '-' joins affixes, spaces between syllables
    are tshegs (a word-final tsheg was dropped), no space before a shad."""
    s = seg.replace("-", "")
    s = re.sub(r"(?<=[\u0f40-\u0fbc]) +(?=[\u0f40-\u0fbc])", "\u0f0b", s)
    s = re.sub(r"\s+།", "།", s)
    return re.sub(r"[ \t]+", " ", s).strip()


def sentences(shared: Path) -> list[str]:
    """Real modern Tibetan sentences (ending in a shad), in corpus order."""
    out: list[str] = []
    nanhai = sorted((shared / "corpus" / "modern" / "nanhai-modern-writing").glob("*.txt"))
    for f in nanhai[:60]:
        text = rejoin(f.read_text(encoding="utf-8"))
        out += [s.strip() + "།" for s in re.split(r"།\s*", text) if len(s.strip()) > 20]
    udhr = (shared / "corpus" / "modern" / "udhr" / "udhr_bod.txt").read_text(encoding="utf-8")
    out += [s.strip() + "།" for s in re.split(r"།+\s*", udhr) if len(s.strip()) > 20]
    return out


class _Text:
    def __init__(self, shared: Path, seed: int):
        self.sents = sentences(shared)
        self.pos = 0
        self.rng = random.Random(seed)

    def sent(self) -> str:
        self.pos = (self.pos + 1) % len(self.sents)
        return self.sents[self.pos]

    def para(self, lo: int, hi: int) -> str:
        target = self.rng.randint(lo, hi)
        out = self.sent()
        while len(out) < target:
            out += " " + self.sent()
        return out

    def headline(self) -> str:
        s = self.sent()
        cut = s.find("\u0f0b", self.rng.randint(12, 30))
        return s[: cut if cut > 0 else 40]

    def date(self) -> str:
        return f"2024-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"


NAV = ["ཐོག་ངོས།", "གསར་འགྱུར།", "སྲིད་ཇུས།", "དཔལ་འབྱོར།", "རིག་གནས།", "སློབ་གསོ།", "འཕྲོད་བསྟེན།", "པར་རིས།", "བརྙན་ཟློས།", "中文"]


def _nav(tag: str, cls: str) -> str:
    items = "".join(f'<li><a href="/c{i}/">{t}</a></li>' for i, t in enumerate(NAV))
    return f'<{tag} class="{cls}"><ul>{items}</ul></{tag}>'


def _links(t: _Text, n: int, excerpt: bool, item: str, style: str) -> str:
    out = []
    for i in range(n):
        h, d = t.headline(), t.date()
        href = f"/{t.rng.randint(2015, 2024)}/{t.rng.randint(100000, 999999)}.html"
        ex = t.para(70, 140) if excerpt else ""
        if style == "table":
            cell = f'<td><a href="{href}">{h}</a>' + (f"<br>{ex}" if ex else "") + f'</td><td class="date">{d}</td>'
            out.append(f"<tr>{cell}</tr>")
        elif excerpt:
            img = f'<img src="/img/{i}.jpg" alt="">' if i % 2 else ""
            out.append(
                f'<{item} class="item">{img}<h3><a href="{href}">{h}</a></h3><p>{ex}</p><span>{d}</span></{item}>'
            )
        else:
            out.append(f'<{item}><a href="{href}" title="{h}">{h}</a><span class="time">{d}</span></{item}>')
    if style == "table":
        return f'<table class="list" width="100%">{"".join(out)}</table>'
    return f'<ul class="list">{"".join(out)}</ul>' if item == "li" else f'<div class="list">{"".join(out)}</div>'


def _pager(n: int) -> str:
    nums = "".join(f'<a href="?page={i}">{i}</a>' for i in range(1, n + 1))
    return f'<div class="page">{nums}<a href="?page=2">ཤོག་ངོས་རྗེས་མ།</a><a href="?page={n}">མཇུག</a></div>'


def _body(style: str, paras: list[str]) -> str:
    if style == "table":
        return "<br><br>".join(f"&nbsp;&nbsp;&nbsp;&nbsp;{p}" for p in paras)
    if style == "gov":
        return "".join(f'<p style="text-indent:2em;">{p}</p>' for p in paras)
    return "".join(f"<p>{p}</p>" for p in paras)


def _wrap(style: str, t: _Text, title: str, main: str, sidebar: bool = True) -> str:
    hot = _links(t, 10, False, "li", "portal") if sidebar else ""
    foot_zh = "主办：西藏自治区人民政府办公厅 版权所有 藏ICP备05000001号 藏公网安备54010202000001号"
    head = f'<!DOCTYPE html><html lang="bo"><head><meta charset="utf-8"><title>{title} - བོད་ལྗོངས།</title></head><body>'
    if style == "gov":
        return (
            f'{head}<div class="top"><img src="/logo.png" alt="logo"><div class="search"><form action="/s">'
            f'<input name="q"></form></div></div><div class="nav">{"".join(f"<a href=/c{i}/>{x}</a>" for i, x in enumerate(NAV))}</div>'
            f'<div class="position">ད་ཡོད་གནས་ས། <a href="/">ཐོག་ངོས།</a> &gt; <a href="/c1/">གསར་འགྱུར།</a></div>'
            f'<div class="main">{main}</div><div class="foot"><p>{foot_zh}</p><p>ཁ་བྱང་། ལྷ་ས་གྲོང་ཁྱེར།</p></div></body></html>'
        )
    if style == "portal":
        return (
            f'{head}<div class="header"><div class="logo"><a href="/">ཡོངས་འཛིན།</a></div>{_nav("div", "menu")}</div>'
            f'<div class="container"><div class="left">{main}</div><div class="right"><div class="box"><h3>ཚ་བའི་གསར་འགྱུར།</h3>'
            f'{hot}</div></div></div><div class="footer"><p>{foot_zh}</p></div></body></html>'
        )
    if style == "wp":
        return (
            f'{head}<header class="site-header"><p class="site-title"><a href="/">བོད་ཀྱི་དུས་བབ།</a></p>{_nav("nav", "main-navigation")}</header>'
            f'<div id="content"><main id="main">{main}</main><aside id="secondary"><section class="widget"><h2>གསར་ཤོས།</h2>{hot}'
            f'</section></aside></div><footer class="site-footer"><p>© 2024 Tibet Times. All rights reserved.</p></footer></body></html>'
        )
    if style == "plain":  # old hand-made sites: every block an unclassed div, most of them with links
        return (
            f'{head}<div><img src="/logo.gif"></div><div>{" ".join(f"<a href=/c{i}/>{x}</a>" for i, x in enumerate(NAV))}</div>'
            f'<div><a href="/">ཐོག་ངོས།</a> &gt; <a href="/c1/">གསར་འགྱུར།</a></div><div>{main}</div>'
            f'<div>{hot}</div><div><a href="/about">ང་ཚོའི་སྐོར།</a> {foot_zh}</div></body></html>'
        )
    return (  # table
        f'{head}<table width="980" align="center"><tr><td colspan="2"><img src="/banner.gif"></td></tr>'
        f'<tr><td colspan="2">{" | ".join(f"<a href=/c{i}/>{x}</a>" for i, x in enumerate(NAV))}</td></tr>'
        f'<tr><td width="700" valign="top">{main}</td><td width="280" valign="top">{hot}</td></tr>'
        f'<tr><td colspan="2" align="center">{foot_zh}</td></tr></table></body></html>'
    )


def _article(style: str, t: _Text, kind: str) -> tuple[str, str]:
    title = t.headline()
    if kind in ("short", "short_teasers"):
        paras = [t.para(150, 400)]
    else:
        paras = [t.para(200, 600) for _ in range(t.rng.randint(4, 9))]
    shown = list(paras)
    if kind == "linked":  # keywords in every paragraph linked to tag pages (the text stays the text)
        for i, p in enumerate(paras):
            words = p.split("\u0f0b")
            for j in (2, 7):
                if j < len(words) - 1:
                    words[j] = f'<a href="/tag/{j}">{words[j]}</a>'
            shown[i] = "\u0f0b".join(words)
    info = f"དུས་ཚོད། {t.date()} ཁུངས། བོད་ལྗོངས་ཉིན་རེའི་ཚགས་པར། ལྟ་ཀློག {t.rng.randint(10, 9999)}"
    n_rel = t.rng.randint(20, 30) if kind == "related" else (6 if kind == "short_teasers" else t.rng.randint(4, 8))
    excerpt = (style in ("portal", "wp") and kind == "related") or kind == "short_teasers"
    related = f'<div class="related"><h3>འབྲེལ་ཡོད་གསར་འགྱུར།</h3>{_links(t, n_rel, excerpt, "li" if not excerpt else "div", style)}</div>'
    share = '<div class="share">མཉམ་སྤྱོད། <a href="#">WeChat</a> <a href="#">Weibo</a> <a href="#">QQ</a></div>'
    editor = "<div class='editor'>རྩོམ་སྒྲིག་པ། བཀྲ་ཤིས།</div>"
    if style == "wp":
        main = (
            f'<article class="post"><header><h1 class="entry-title">{title}</h1><div class="entry-meta">{info}</div></header>'
            f'<div class="entry-content">{_body(style, shown)}</div><footer class="entry-footer">{share}</footer></article>'
            f'{related}<div id="comments" class="comments-area"><h2>བསམ་ཚུལ།</h2><ol class="comment-list"><li class="comment">'
            f"<p>ཡག་པོ་འདུག</p></li></ol></div>"
        )
    else:
        body_cls = {"gov": "TRS_Editor", "portal": "article-content", "table": "content", "plain": ""}[style]
        tags = (
            '<div class="tags">ཁ་ཡིག <a href="/tag/1">བོད།</a> <a href="/tag/2">སློབ་གསོ།</a></div>'
            if style == "portal"
            else ""
        )
        main = (
            f'<div class="article"><h1>{title}</h1><div class="info">{info}</div><div class="{body_cls}" id="content">'
            f"{_body(style, shown)}</div>{editor}{tags}{share}</div>{related}"
        )
    if kind == "paged_article":
        prev_next = f'<div class="prenext"><a href="/p1.html">སྔོན་མ། {t.headline()}</a><a href="/n1.html">རྗེས་མ། {t.headline()}</a></div>'
        main = main.replace(related, _pager(3) + prev_next + related)
    return _wrap(style, t, title, main), "\n".join(paras)


def _listing(style: str, t: _Text, kind: str) -> str:
    title = {"news_list": "གསར་འགྱུར།", "tag": "ཁ་ཡིག བོད་ལྗོངས།", "category": "རིག་གནས།", "paginated": "གསར་འགྱུར།"}.get(
        kind, "ཐོག་ངོས།"
    )
    item = "article" if style == "wp" else ("li" if kind in ("news_list", "paginated") else "div")
    if kind == "gallery":
        pics = "".join(
            f'<li><a href="/pic/{i}.html"><img src="/img/{i}.jpg"><span>{t.headline()[:18]}</span></a></li>'
            for i in range(12)
        )
        return _wrap(
            style, t, "པར་རིས།", f'<div class="column"><h1>པར་རིས།</h1><ul class="pics">{pics}</ul>{_pager(9)}</div>'
        )
    if kind == "oddeven":
        rows = "".join(
            f'<li class="{"odd" if i % 2 else "even"}"><a href="/n/{i}.html">{t.headline()}</a><p>{t.para(70, 140)}</p></li>'
            for i in range(6)
        )
        return _wrap(style, t, title, f'<div class="column"><h1>{title}</h1><ul>{rows}</ul>{_pager(12)}</div>')
    if kind == "home_lead":
        focus = f'<div class="focus"><h2><a href="/top.html">{t.headline()}</a></h2><p>{t.para(250, 350)}</p></div>'
        blocks = "".join(f'<div class="block"><h2>{x}</h2>{_links(t, 8, False, "li", style)}</div>' for x in NAV[1:5])
        return _wrap(style, t, title, focus + blocks)
    if kind == "long_intro":
        intro = f'<div class="intro"><p>{t.para(300, 600)}</p></div>'
        lst = _links(t, 12, True, "div", style)
        return _wrap(style, t, title, f'<div class="column"><h1>{title}</h1>{intro}{lst}{_pager(7)}</div>')
    if kind == "home":
        blocks = "".join(
            f'<div class="block"><h2>{x}</h2>{_links(t, 8, i == 0, "li" if i else "div", style)}</div>'
            for i, x in enumerate(NAV[1:6])
        )
        return _wrap(style, t, title, blocks)
    excerpt = kind in ("tag", "category")
    intro = f'<div class="intro"><p>{t.para(60, 200)}</p></div>' if kind == "category" else ""
    n = 20 if kind in ("news_list", "paginated") else 12
    lst = _links(t, n, excerpt, item, style)
    pager = _pager(t.rng.randint(5, 30)) if kind in ("paginated", "news_list", "tag") else ""
    return _wrap(style, t, title, f'<div class="column"><h1>{title}</h1>{intro}{lst}{pager}</div>')


def portal_pages(shared: Path, seed: int = 0, hard: bool = False) -> list[Page]:
    """The bench set: PLAN pages per style (or the hard set: HARD_PLAN), deterministic for a seed."""
    t = _Text(shared, seed + 1000 * hard)
    if hard:
        t.pos = len(t.sents) // 2  # other text than the main set
    pages = []
    for style in HARD_STYLES if hard else STYLES:
        for kind, n in (HARD_PLAN if hard else PLAN).items():
            for i in range(n):
                if kind in ARTICLE_KINDS:
                    html, gold = _article(style, t, kind)
                else:
                    html, gold = _listing(style, t, kind), ""
                pages.append(Page(f"{style}-{kind}-{i}", style, kind, html, gold))
    return pages
