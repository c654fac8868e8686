"""PDF page layout for Tibetan: lines rebuilt from the PDF's characters, reading order, running
headers/footers. Pure functions over pypdfium2's character API; `pdf.pdf_pages` drives them.

pdfium's own text (get_text_range) decides spaces and line breaks from glyph positions, and that
goes wrong for Tibetan: a vowel sign is its own glyph, drawn over its letter, so the gap from the
vowel's box to the next letter makes pdfium *generate* a space inside the syllable (`སློ བ`:
LibreOffice and WeasyPrint with Noto Serif Tibetan), and a vowel drawn left of the pen position
makes it generate a line break (fpdf2 + Noto: "ཡ\nི"). So we rebuild lines from the characters
the PDF really has (pdfium marks its own additions with FPDFText_IsGenerated), attach every
combining mark to the letter its box overlaps, and decide spaces and breaks ourselves.
Multi-column pages: when the stream zig-zags across columns we re-order text by the whitespace
gutters between them (the "whitespace rectangle" idea of Breuel 2002, reduced to vertical gutters).
"""

from __future__ import annotations

import ctypes
import re
import unicodedata
from dataclasses import dataclass, field

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c


@dataclass(slots=True)
class Segment:
    """One run of text on a page, in PDF user space (points, y grows upwards)."""

    left: float
    bottom: float
    right: float
    top: float
    text: str = ""


def _gutters(segments: list[Segment], min_gap: float) -> list[float]:
    """x positions of vertical white gaps wider than `min_gap` that no segment crosses."""
    spans = sorted((s.left, s.right) for s in segments)
    gutters: list[float] = []
    cur_right = spans[0][1]
    for left, right in spans[1:]:
        if left - cur_right >= min_gap:
            gutters.append((left + cur_right) / 2)
        cur_right = max(cur_right, right)
    return gutters


Box = tuple[float, float, float, float]
"""(left, bottom, right, top) in PDF user space."""


def reading_boxes(segments: list[Segment], page_width: float) -> list[Box] | None:
    """Page regions in reading order: column by column, full-width blocks kept in place; None
    when the page has a single column (then pdfium's own line order is right).

    Gutters are found among segments narrower than 45% of the page (headings and full-width lines
    would bridge them); a gutter counts only if it has at least 3 segments on each side (so a
    page number or a marginal note does not make a column). Full-width segments split the page into
    horizontal bands, each read column by column.
    """
    if not segments:
        return None
    narrow = [s for s in segments if s.right - s.left < 0.45 * page_width] or segments
    gutters = [
        g
        for g in _gutters(narrow, min_gap=0.02 * page_width)
        if sum(s.right <= g for s in narrow) >= 3 and sum(s.left >= g for s in narrow) >= 3
    ]
    if not gutters:
        return None
    spanning = sorted((s for s in segments if any(s.left < g < s.right for g in gutters)), key=lambda s: -s.top)
    xs = [min(s.left for s in segments) - 1, *gutters, max(s.right for s in segments) + 1]
    top = max(s.top for s in segments) + 1
    boxes: list[Box] = []
    for span in [*spanning, None]:
        bottom = span.top if span is not None else min(s.bottom for s in segments) - 1
        if top > bottom:
            boxes += [(lo, bottom, hi, top) for lo, hi in zip(xs, xs[1:])]
        if span is not None:
            boxes.append((xs[0], span.bottom, xs[-1], span.top))
            top = span.bottom
    return boxes


# Why lines are rebuilt from the PDF's own characters: see the module docstring.
_COMBINING = frozenset(
    chr(c)
    for c in (*range(0x0F71, 0x0F85), 0x0F86, 0x0F87, *range(0x0F8D, 0x0FBD), 0x0F35, 0x0F37, 0x0F39, 0x0F3E, 0x0F3F)
)
_TIB_LETTER = frozenset(chr(c) for c in (*range(0x0F40, 0x0F6D), *range(0x0F71, 0x0FBD)))
_TIB_INNER = _TIB_LETTER | {"\u0f0b"}


def _mark_rank(c: str) -> int:
    """Order of marks inside a stack (Unicode ch. 13.4): subjoined letters, a-chung, vowels, signs."""
    o = ord(c)
    return 0 if 0x0F8D <= o <= 0x0FBC else 1 if o == 0x0F71 else 2 if o < 0x0F7E or 0x0F80 <= o <= 0x0F81 else 3


@dataclass(slots=True)
class Char:
    """One character of the PDF's text layer (not pdfium-generated), PDF user space."""

    text: str
    x: float  # origin (pen position) and baseline
    y: float
    left: float
    right: float
    size: float  # font size in points (1.0 when the PDF does not say)
    space_before: bool = False  # pdfium generated a space before this character (a gap it saw)
    combining: bool = field(init=False)  # set once: build_lines asks it several times per character

    def __post_init__(self) -> None:
        self.combining = self.text in _COMBINING or unicodedata.category(self.text) in ("Mn", "Mc")


@dataclass(slots=True)
class Line:
    """Characters on one baseline in reading order; `parts` are [base, *marks] clusters."""

    parts: list[list[Char]] = field(default_factory=list)
    y: float = 0.0
    size: float = 1.0

    @property
    def left(self) -> float:
        return min(c.left for p in self.parts for c in p)

    @property
    def right(self) -> float:
        return max(c.right for p in self.parts for c in p)

    @property
    def text(self) -> str:
        return self.render()[0]

    def render(self) -> tuple[str, int]:
        """(text, generated spaces dropped inside Tibetan). A space goes where the PDF has a space
        character; where pdfium only generated one (it saw a gap), we keep it if the gap between
        the two clusters' boxes is at least 0.2 em or either side is not Tibetan, and drop it
        otherwise: a vowel glyph's box ending early is not a space. Measured on the generated set:
        spurious gaps -0.16..0.09 em (Noto via LibreOffice/WeasyPrint), real ones (justified
        LibreOffice lines draw spaces as gaps) 0.6 em and up; a space glyph is 0.25-0.3 em.
        A gap over 0.8 em is a word or cell gap drawn without any space: it becomes one."""
        out, prev_base, prev_right, dropped = [], None, 0.0, 0
        for part in self.parts:
            base = part[0]
            if prev_base is not None and base.text != " " and out[-1] != " ":
                gap = base.left - prev_right
                tibetan = prev_base.text in _TIB_LETTER and (
                    base.text in _TIB_INNER or "\u0f0d" <= base.text <= "\u0f14"
                )
                # (never after a tsheg: a justified Tibetan line stretches the gaps after tshegs)
                wide = gap > 0.8 * self.size and prev_base.text != "\u0f0b"
                if wide or base.space_before and (gap >= 0.2 * self.size or not tibetan):
                    out.append(" ")
                elif base.space_before:
                    dropped += 1
            out.append(base.text + "".join(sorted((m.text for m in part[1:]), key=_mark_rank)))
            prev_base, prev_right = base, max(c.right for c in part)
        return "".join(out).strip(), dropped


def page_chars(textpage: pdfium.PdfTextPage) -> list[Char]:
    """The PDF's own characters in content-stream order, with positions (pdfium raw API);
    pdfium's generated spaces become `space_before` flags, its generated line breaks are dropped."""
    tp = textpage.raw
    chars, ox, oy = [], ctypes.c_double(), ctypes.c_double()
    box = [ctypes.c_double() for _ in range(4)]
    soft = False
    for i in range(pdfium_c.FPDFText_CountChars(tp)):
        code = pdfium_c.FPDFText_GetUnicode(tp, i)
        if pdfium_c.FPDFText_IsGenerated(tp, i) or code in (0, 0xFFFE, 0xFFFF) or code < 0x20 and code != 9:
            soft = soft or code == 32
            continue
        pdfium_c.FPDFText_GetCharOrigin(tp, i, ox, oy)
        pdfium_c.FPDFText_GetCharBox(tp, i, *box)
        left, right = box[0].value, box[1].value
        if right <= left:  # no ink (a space): its pen position is its box
            left, right = ox.value, ox.value
        size = pdfium_c.FPDFText_GetFontSize(tp, i) or 1.0
        chars.append(Char(chr(code) if code != 9 else " ", ox.value, oy.value, left, right, size, soft))
        soft = False
    return [c for i, c in enumerate(chars) if not _placeholder(chars, i)]


def _placeholder(chars: list[Char], i: int) -> bool:
    """An ASCII character drawn on a Tibetan mark next to it in the stream: a wrong ToUnicode entry
    for a stack piece or for the dotted-circle glyph a shaper puts under a lone mark (fpdf2 writes
    "Vྲ", "2ྒྱ", "ི)" where it wraps inside a stack). A real ")" after "ཡི" sits right of the vowel."""
    c = chars[i]
    if not ("!" <= c.text <= "~"):
        return False
    for j in (i - 1, i + 1):
        if 0 <= j < len(chars) and chars[j].text in _COMBINING and abs(chars[j].y - c.y) < 0.2 * c.size:
            m = chars[j]
            overlap = min(m.right, c.right) - max(m.left, c.left)
            if overlap > 0.5 * min(m.right - m.left, c.right - c.left):
                return True
    return False


def build_lines(chars: list[Char]) -> list[Line]:
    """Group characters (stream order) into lines: a base character more than 0.4 em off the
    line's baseline, or more than 1 em left of the line's last base, starts a new line; a mark
    only when it is 0.8 em off (its pen position may lie left of its letter, and a producer may
    shift it a little). Each mark then joins the letter before it in the stream when it sits on or
    just after that letter, else the base character of its line whose box it overlaps most (fpdf2
    + Noto writes "ོབ" for "བོ"; ReportLab + Noto draws vowels over the following letter). Marks that come before every letter of their
    line and hang left of its first letter were wrapped away from their letter (fpdf2 breaks
    inside stacks): they open the line on their own, and `join_pieces` puts them back after the
    last letter of the line they continue, once the reading order is known."""
    raw_lines: list[list[Char]] = []
    cur: list[Char] = []
    ref: Char | None = None
    for c in chars:
        if ref is not None:
            em = max(ref.size, c.size)
            off = abs(c.y - ref.y) > (0.8 if c.combining else 0.4) * em
            if off or (not c.combining and c.x < ref.x - em):
                raw_lines.append(cur)
                cur, ref = [], None
        cur.append(c)
        if not c.combining:
            ref = c
    raw_lines.append(cur)
    lines: list[Line] = []
    for chs in raw_lines:
        bases = [c for c in chs if not c.combining]
        first = min((b.left for b in bases), default=float("inf"))
        parts = {id(b): [b] for b in bases}
        orphans: list[Char] = []
        last = None
        for c in chs:
            if not c.combining:
                last = c
                continue
            if last is None and (c.left + c.right) / 2 < first:
                orphans.append(c)
                continue

            # The letter before it in the stream, if the mark sits on it or just after it: where
            # a producer misplaces mark glyphs (ReportLab + Noto draws vowels over the next letter)
            # the stream still has the author's order. Otherwise the letter it overlaps most.
            near = last is not None and c.right > last.left and c.left - last.right < 0.3 * c.size
            if near and last.text in _TIB_LETTER:
                parts[id(last)].append(c)
                continue

            def score(b: Char, c: Char = c, last: Char | None = last) -> tuple[float, bool, float]:
                overlap = min(b.right, c.right) - max(b.left, c.left)
                return overlap, b is last, -abs((b.left + b.right) - (c.left + c.right))

            parts[id(max(bases, key=score))].append(c)
        bases.sort(key=lambda b: b.x)  # stable: equal pen positions keep stream order
        ordered = ([orphans] if orphans else []) + [parts[id(b)] for b in bases]
        if not ordered:  # a page without text
            continue
        sizes = sorted(c.size for c in (bases or orphans))
        lines.append(Line(ordered, ordered[0][0].y, sizes[len(sizes) // 2]))
    return lines


def _split_gaps(line: Line) -> list[Line]:
    """Pieces of a line separated by more than 2 em of white (columns or cells on one baseline).
    Not at a space character the PDF has: that is a justified line's stretched word space
    (ReportLab), which would otherwise pass for a column gutter."""
    out = [Line([line.parts[0]], line.y, line.size)]
    for part in line.parts[1:]:
        prev = out[-1].parts[-1][0]
        if part[0].text != " " and prev.text != " " and part[0].left - prev.right > 2 * line.size:
            out.append(Line([], line.y, line.size))
        out[-1].parts.append(part)
    # (`ln.text` is empty iff every character is whitespace: checked without rendering the line)
    return [ln for ln in out if any(not c.text.isspace() for p in ln.parts for c in p)]


def _path_lines(obj: pdfium.PdfObject) -> list[tuple[float, float, float, float]]:
    """Straight segments (x0, y0, x1, y1) of a path object, in page space."""
    raw = obj.raw
    m = pdfium_c.FS_MATRIX()
    pdfium_c.FPDFPageObj_GetMatrix(raw, m)
    fx, fy = ctypes.c_float(), ctypes.c_float()
    out: list[tuple[float, float, float, float]] = []
    start = prev = None
    for i in range(pdfium_c.FPDFPath_CountSegments(raw)):
        seg = pdfium_c.FPDFPath_GetPathSegment(raw, i)
        pdfium_c.FPDFPathSegment_GetPoint(seg, fx, fy)
        pt = (m.a * fx.value + m.c * fy.value + m.e, m.b * fx.value + m.d * fy.value + m.f)
        kind = pdfium_c.FPDFPathSegment_GetType(seg)
        if kind == pdfium_c.FPDF_SEGMENT_MOVETO:
            start = pt
        elif kind == pdfium_c.FPDF_SEGMENT_LINETO and prev is not None:
            out.append((*prev, *pt))
        prev = pt
        if pdfium_c.FPDFPathSegment_GetClose(seg) and start is not None:
            out.append((*pt, *start))
            prev = start
    return out


def page_rules(page: pdfium.PdfPage) -> tuple[list[float], list[tuple[float, float, float]]]:
    """The page's rules: y of horizontal ones (over 20 pt long), (x, bottom, top) of vertical ones
    (over 5 pt), from the straight segments of its paths: table borders, whether a producer draws
    them as lines (LibreOffice, WeasyPrint), as one rectangle per cell (fpdf2) or as one path
    for the whole grid (ReportLab)."""
    hs: list[float] = []
    vs: list[tuple[float, float, float]] = []
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH], max_depth=3):
        for x0, y0, x1, y1 in _path_lines(obj):
            if abs(y1 - y0) < 1 and abs(x1 - x0) > 20:
                hs.append((y0 + y1) / 2)
            elif abs(x1 - x0) < 1 and abs(y1 - y0) > 5:
                vs.append(((x0 + x1) / 2, min(y0, y1), max(y0, y1)))
    return hs, vs


def order_lines(lines: list[Line], page_width: float, rules: list[float] = ()) -> list[Line]:
    """Reading order. The content stream is kept when it already reads column by column (what
    LibreOffice, browsers/WeasyPrint and fpdf2 write, and the only right order for table rows);
    only a stream that zig-zags across a column gutter on most lines is re-ordered column by
    column (`reading_boxes`), unless horizontal rules separate those lines: then it is a ruled
    table read row by row, which looks the same geometrically. A borderless table whose cells are
    all one line is read column by column: a known limit."""
    pieces = [p for ln in lines for p in _split_gaps(ln)]
    segs = [Segment(p.left, p.y, p.right, p.y + p.size) for p in pieces]
    boxes = reading_boxes(segs, page_width) if len(segs) > 5 else None
    if boxes is None:
        return pieces

    def box_of(s: Segment) -> int:
        cx, cy = (s.left + s.right) / 2, (s.bottom + s.top) / 2
        hits = [i for i, (lo, bo, hi, to) in enumerate(boxes) if lo <= cx <= hi and bo <= cy <= to]
        return hits[0] if hits else -1

    idx = [box_of(s) for s in segs]
    # zig-zag: of the steps from one box to another, many go back (left column after right);
    # a stream in reading order only goes back at a new band of columns
    steps = [(a, b, i, j) for a, b, i, j in zip(segs, segs[1:], idx, idx[1:]) if i != j]
    jumps = [(a, b) for a, b, i, j in steps if j < i]
    if len(jumps) < 2 or len(jumps) < 0.4 * len(steps):
        return pieces
    # a rule between the two lines of a back-jump (row n's last cell, row n+1's first) = table
    ruled = sum(1 for a, b in jumps if any(b.top < y < a.bottom + 0.5 * (a.top - a.bottom) for y in rules))
    if ruled >= 0.5 * len(jumps):
        return pieces
    return [p for _, _, p in sorted(zip(idx, range(len(pieces)), pieces), key=lambda t: (t[0], t[1]))]


_NUMBERISH = re.compile(r"[0-9\u0f20-\u0f29]+")
_PAGE_NUMBER = re.compile(
    r"^[\s\-–—|/.()\[\]0-9\u0f20-\u0f29ivxlcIVXLC]*[0-9\u0f20-\u0f29ivxIVX][\s\-–—|/.()\[\]0-9\u0f20-\u0f29]*$"
)


def running_lines(pages: list[list[Line]], heights: list[float], zone: float = 0.15) -> list[set[int]]:
    """Per page, the indices of running headers, footers and page numbers to drop.

    A line counts when it lies in the top or bottom `zone` of its page and either is a bare page
    number ("3", "- 3 -", "༣", "3/8") or, digits masked, repeats at about the same height on at least
    half of the pages (two at least): "ཤོག་ངོས། 3", a book title; or is the top-most or bottom-most
    line of its page in small print (under 0.85 of the document's median text size: headers and
    footers are set smaller, and that is all there is to go on for a one-page document). Body
    lines inside the zone differ from page to page and are set at body size.
    """
    sizes = sorted(ln.size for lines in pages for ln in lines for _ in ln.parts)
    body = sizes[len(sizes) // 2] if sizes else 0.0

    def key(ln: Line, h: float) -> tuple[str, int]:
        return _NUMBERISH.sub("#", re.sub(r"\s+", "", ln.text)), round(ln.y / 6) if ln.y > h / 2 else -round(
            (h - ln.y) / 6
        )

    # zone lines of each page, index -> key (rendering a line walks all its characters: once)
    zoned = [{li: key(ln, h) for li, ln in enumerate(lines) if ln.y < zone * h or ln.y > (1 - zone) * h}
             for lines, h in zip(pages, heights)]  # fmt: skip
    counts: dict[str, set[int]] = {}
    for pi, keys in enumerate(zoned):
        for text, band in keys.values():
            for b in (band - 1, band, band + 1):  # same height within ~6 pt
                counts.setdefault(f"{b}|{text}", set()).add(pi)
    drop: list[set[int]] = []
    for lines, keys in zip(pages, zoned):
        out = set()
        extreme = {max(lines, key=lambda ln: ln.y).y, min(lines, key=lambda ln: ln.y).y} if lines else set()
        for li, (text, band) in keys.items():
            ln = lines[li]
            repeated = len(pages) >= 2 and len(counts.get(f"{band}|{text}", ())) >= max(2, len(pages) / 2)
            small = ln.y in extreme and ln.size < 0.85 * body
            if repeated or small or _PAGE_NUMBER.match(ln.text):
                out.add(li)
        drop.append(out)
    return drop


def join_pieces(pieces: list[Line], verticals: list[tuple[float, float, float]] = ()) -> tuple[str, int]:
    """Lines of a page joined; (text, generated spaces dropped).

    Tibetan wraps after a tsheg with no hyphen: such a line continues on the next line of its block
    (below it, starting at its left edge). A line that ends inside a syllable (on a letter or
    vowel) and fills its column was wrapped inside the syllable (fpdf2 breaks anywhere): it
    continues too. A piece further along the same baseline (a justified line that `_split_gaps`
    cut at a wide gap) continues the line unless a vertical rule separates them (table cells).
    Otherwise a line break."""
    out, dropped, row_left = "", 0, 0.0
    edges = [(q.left, q.right) for q in pieces]  # (properties walk every character: once)
    for i, p in enumerate(pieces):
        text, d = p.render()
        dropped += d
        if not text:
            continue
        if out:
            prev = pieces[i - 1]
            (p_left, _), (prev_left, prev_right) = edges[i], edges[i - 1]
            # the next line of the same block starts at its left edge (or left of an indent);
            # a table's next cell starts right of it, the next row's first cell far left
            # (`row_left`: where the previous line began, when it was cut into pieces)
            below = -4 * prev.size < p_left - row_left < prev.size and p.y < prev.y
            # or the top of the next column: right of this line and far above it
            below = below or (p_left > prev_right - prev.size and p.y > prev.y + 8 * prev.size)
            # the column's right edge: most lines of a block are full, a heading may be wider
            rights = sorted(r for lft, r in edges if abs(lft - prev_left) < 2 * prev.size)
            col_right = rights[int(0.8 * (len(rights) - 1))]
            full = prev_right >= col_right - 1.5 * prev.size
            # inside a ruled table cell the cell's right border is the edge
            cell_right = min((x for x, b, t in verticals if x > prev_right - 1 and b <= prev.y <= t), default=None)
            full = full or cell_right is not None and prev_right >= cell_right - 2 * prev.size
            wrapped = out[-1] in _TIB_LETTER and text[0] in _TIB_INNER and full
            # a piece further along the same baseline (a justified line split at a wide gap)
            # (not across a vertical rule: that is the next table cell)
            same = abs(p.y - prev.y) < 0.2 * prev.size and p_left >= prev_right - prev.size
            same = same and not any(prev_right - 1 < x < p_left + 1 and b <= p.y <= t for x, b, t in verticals)
            # a line that starts with a mark continues its letter (see build_lines)
            if text[0] in _COMBINING or (below or same) and (out.endswith("\u0f0b") or wrapped):
                out += ""
            else:
                out += " " if same else "\n"
            if not same:
                row_left = edges[i][0]
        else:
            row_left = edges[i][0]
        out += text
    return out, dropped
