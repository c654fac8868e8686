"""PDF text extraction for Tibetan, with repairs for the text-layer faults Tibetan PDFs are known for.

Library choice: pypdfium2 over pdfminer.six. Both were tried on fpdf2-generated Tibetan PDFs
(TibetanMachineUni, HarfBuzz-shaped and unshaped): pypdfium2 returned the syllables intact in both
cases, while pdfminer.six split unshaped lines before vowel signs ("བྲ\\n\\nེ") because it groups
glyphs by position, and vowel glyphs sit outside the base glyph's box. pypdfium2 is also ~10x faster.

Failure modes handled here (each a pure helper that tests call directly):
1. spaces inside syllables (`repair_pdf_spaces`): PDF producers that position glyphs one by one,
   or letter-space a line, make pdfium insert spaces between a letter and its vowel sign;
2. multi-column pages (`reading_boxes`): pdfium returns text in content-stream order, which for
   many layout tools is line by line across columns; we re-order text segments by column using the
   whitespace gutters between them (the "whitespace rectangle" idea of Breuel 2002, reduced to
   vertical gutters);
3. PUA text layers (`pua_share`): PDFs made with legacy or badly embedded fonts store shaped glyph
   ids in the Private Use Area (U+E000-F8FF) instead of subjoined letters; that text cannot be
   repaired without the font's table, so the caller rejects it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pypdfium2 as pdfium

# Tibetan letters, subjoined letters and marks that attach to a preceding letter: a space before
# them is never real text (Unicode Standard ch. 13.4: they are all combining, category Mn/Mc).
_TIB_BASE = "\u0f40-\u0f6c\u0f90-\u0fbc"
_TIB_COMBINING = "\u0f71-\u0f84\u0f86\u0f87\u0f90-\u0fbc\u0f35\u0f37\u0f39"
# A line break there is not real either (a producer wrapped inside a stack).
_SPACE_BEFORE_COMBINING = re.compile(rf"(?<=[{_TIB_BASE}{_TIB_COMBINING}])\s+(?=[{_TIB_COMBINING}])")
# A space before a tsheg is never real either (NORMALIZATION.md rule 7: spaces next to a tsheg go).
_SPACE_BEFORE_TSHEG = re.compile(rf"(?<=[{_TIB_BASE}{_TIB_COMBINING}])[ \t]+(?=\u0f0b)")
# Letter-spaced lines: gaps between grapheme clusters (before a base letter, a tsheg or a shad)
# that hold spaces. Real Tibetan has none there (spaces follow shads); word-segmented text has one
# per word, ~20% of the gaps; a letter-spaced line has nearly all.
_TIB_ANY = rf"{_TIB_BASE}{_TIB_COMBINING}\u0f0b"
_CLUSTER_GAP = re.compile(rf"(?<=[{_TIB_ANY}])([ \t]*)(?=[\u0f40-\u0f6c\u0f0b\u0f0d-\u0f14])")
_SPACE_BETWEEN_TIB = re.compile(rf"(?<=[{_TIB_ANY}])[ \t]+(?=[{_TIB_ANY}\u0f0d-\u0f14])")
_TIB_CHAR = re.compile(r"[\u0f00-\u0fff]")
_PUA_CHAR = re.compile(r"[\ue000-\uf8ff]")
# pdfium marks soft hyphens / generated breaks with C0 controls (e.g. \x02, \x1a); not text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def repair_pdf_spaces(text: str, letter_spaced_share: float = 0.5) -> tuple[str, int]:
    """Remove spaces that a PDF text layer put inside Tibetan syllables; return (text, repairs).

    Always: a space between a Tibetan letter and a following vowel sign / subjoined letter / tsheg.
    Per line, when the line is letter-spaced (more than `letter_spaced_share` of the gaps between
    Tibetan grapheme clusters hold a space), every space between Tibetan characters, or before a
    shad, goes: real Tibetan puts spaces only after a shad (word-segmented corpora one per word,
    ~20% of the gaps), so such a line is a rendering artifact.
    """
    text, n1 = _SPACE_BEFORE_COMBINING.subn("", text)
    text, n2 = _SPACE_BEFORE_TSHEG.subn("", text)
    repairs = n1 + n2
    if letter_spaced_share >= 1.0:
        return text, repairs
    out_lines = []
    for line in text.split("\n"):
        gaps = _CLUSTER_GAP.findall(line)
        if gaps and sum(1 for g in gaps if g) / len(gaps) > letter_spaced_share:
            line, n = _SPACE_BETWEEN_TIB.subn("", line)
            repairs += n
        out_lines.append(line)
    return "\n".join(out_lines), repairs


def pua_share(text: str) -> float:
    """Share of private-use code points among Tibetan + private-use characters (0.0 if neither)."""
    pua = len(_PUA_CHAR.findall(text))
    tib = len(_TIB_CHAR.findall(text))
    return pua / (pua + tib) if pua + tib else 0.0


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


def _join_wrapped(text: str) -> str:
    """Tibetan wraps lines after a tsheg with no hyphen: such a line continues on the next one."""
    return re.sub(r"\u0f0b[ \t]*\r?\n[ \t]*", "\u0f0b", text)


def pdf_pages(data: bytes, join_wrapped: bool = True) -> list[str]:
    """Text of each page of a PDF, column-ordered. Raises pdfium.PdfiumError on a corrupt file."""
    pdf = pdfium.PdfDocument(data)
    pages: list[str] = []
    try:
        for i in range(len(pdf)):
            page = pdf[i]
            textpage = page.get_textpage()
            segments = [Segment(*textpage.get_rect(r), "") for r in range(textpage.count_rects())]
            boxes = reading_boxes(segments, page.get_width())
            if boxes is None:
                text = textpage.get_text_range()
            else:
                parts = (textpage.get_text_bounded(*box) for box in boxes)
                text = "\n".join(p.strip() for p in parts if p.strip())
            text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
            pages.append(_join_wrapped(text) if join_wrapped else text)
            textpage.close()
            page.close()
    finally:
        pdf.close()
    return pages
