"""PDF text extraction for Tibetan, with repairs for the text-layer faults Tibetan PDFs are known for.

Library choice: pypdfium2 over pdfminer.six. Both were tried on fpdf2-generated Tibetan PDFs
(TibetanMachineUni, HarfBuzz-shaped and unshaped): pypdfium2 returned the syllables intact in both
cases, while pdfminer.six split unshaped lines before vowel signs ("བྲ\\n\\nེ") because it groups
glyphs by position, and vowel glyphs sit outside the base glyph's box. pypdfium2 is also ~10x faster.

Failure modes handled (layout in `pdf_layout`, text repairs here; each a pure helper tests call):
1. spaces and line breaks inside syllables: pdfium generates them where a vowel glyph's box leaves
   a gap (Noto Serif Tibetan via LibreOffice/WeasyPrint: `སློ བ`); lines are rebuilt from the
   PDF's own characters (`pdf_layout.build_lines`), and `repair_pdf_spaces` still removes spaces
   before a mark or tsheg and letter-spaced lines in the text;
2. reading order (`pdf_layout.order_lines`): the content stream is kept (producers write columns
   and table rows in order) unless it zig-zags across a column gutter (`reading_boxes`);
3. running headers, footers, page numbers (`pdf_layout.running_lines`), dropped before they get
   glued into the text (`ངོས།3འབྱེད`);
4. PUA text layers (`pua_share`): PDFs made with legacy or badly embedded fonts store shaped glyph
   ids in the Private Use Area (U+E000-F8FF) instead of subjoined letters; that text cannot be
   repaired without the font's table, so the caller rejects it.
Measured by bench/pdf.py on the generated set of tests/pipeline/pdf_fixtures.py (README figures).
"""

from __future__ import annotations

import re

import pypdfium2 as pdfium
from tibcpt.pipeline.extract.pdf_layout import (
    Segment,
    build_lines,
    join_pieces,
    order_lines,
    page_chars,
    page_rules,
    reading_boxes,
    running_lines,
)

__all__ = ["Segment", "join_pages", "pdf_pages", "pua_share", "reading_boxes", "repair_pdf_spaces"]

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


def pdf_pages(
    data: bytes, join_wrapped: bool = True, drop_running: bool = True, stats: dict | None = None
) -> list[str]:
    """Text of each page of a PDF in reading order, running headers/footers/page numbers dropped
    (counted in `stats["running_lines_dropped"]`). Raises pdfium.PdfiumError on a corrupt file."""
    pdf = pdfium.PdfDocument(data)
    pages, heights, widths, rules = [], [], [], []
    try:
        for i in range(len(pdf)):
            page = pdf[i]
            textpage = page.get_textpage()
            pages.append(build_lines(page_chars(textpage)))
            widths.append(page.get_width())
            rules.append(page_rules(page))
            heights.append(page.get_height())
            textpage.close()
            page.close()
    finally:
        pdf.close()
    drop = running_lines(pages, heights) if drop_running else [set() for _ in pages]
    if stats is not None:
        stats["running_lines_dropped"] = sum(map(len, drop))
    out = []
    for lines, gone, w, (hs, vs) in zip(pages, drop, widths, rules):
        pieces = order_lines([ln for li, ln in enumerate(lines) if li not in gone], w, hs)
        if join_wrapped:
            text, dropped = join_pieces(pieces, vs)
        else:
            rendered = [p.render() for p in pieces]
            text, dropped = "\n".join(t for t, _ in rendered), sum(d for _, d in rendered)
        out.append(_CONTROL.sub("", text))
        if stats is not None:
            stats["spaces_dropped"] = stats.get("spaces_dropped", 0) + dropped
    return out


def join_pages(pages: list[str]) -> str:
    """Pages joined by a blank line, except where a page ends inside a sentence on a tsheg: the
    text goes on at the top of the next page (running headers are gone by then)."""
    out = ""
    for p in (p.strip() for p in pages):
        if p:
            # (or the page starts with a mark that fpdf2 wrapped away from its letter)
            out += ("" if not out or out.endswith("\u0f0b") or "\u0f71" <= p[0] <= "\u0fbc" else "\n\n") + p
    return out
