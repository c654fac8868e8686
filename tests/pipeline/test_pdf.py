"""PDF extraction on real producers' Tibetan PDFs (tests/pipeline/pdf_fixtures.py): accuracy floor,
no spaces inside syllables, running headers/footers gone, table rows in order; layout helpers."""

from __future__ import annotations

import re

import pypdfium2 as pdfium
import pytest
from pdf_fixtures import FOOTER, accuracy, build_cases, generate, raw_pdfium
from tibcpt.pipeline.extract.extractor import ExtractConfig, extract_pdf
from tibcpt.pipeline.extract.pdf_layout import Char, Line, build_lines, join_pieces, running_lines

TARGET = 0.95  # issue 12: syllable accuracy on the project's own PDF test set

# The hard corners, one per producer: Noto Serif Tibetan is the font whose vowel glyphs make pdfium
# put spaces inside syllables (LibreOffice, WeasyPrint) and line breaks inside stacks (fpdf2).
# fpdf2-tibetan-zigzag: a content stream that runs across both columns line by line.
SMALL = {
    "libreoffice-noto-prose",
    "weasyprint-noto-table",
    "fpdf2-noto-columns",
    "fpdf2-tibetan-table",
    "fpdf2-tibetan-zigzag",
    "reportlab-noto-table",  # draws Noto's vowels over the next letter; the stream order is right
}


def _extract(path) -> str:
    return extract_pdf(path.read_bytes(), ExtractConfig())[0]


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    cases = [c for c in build_cases() if c.name in SMALL]
    assert len(cases) == len(SMALL)
    paths = generate(cases, tmp_path_factory.mktemp("pdfs"))
    return [(c, paths[c.name]) for c in cases]


def test_small_set_meets_target_and_beats_raw_pdfium(small_set) -> None:
    for case, path in small_set:
        syl, char = accuracy(case.gold, _extract(path))
        assert syl >= TARGET and char >= TARGET, (case.name, syl, char)
    # the set is not easy: plain pypdfium2 text breaks the Noto syllables
    lo = next(p for c, p in small_set if c.name == "libreoffice-noto-prose")
    gold = next(c.gold for c, _ in small_set if c.name == "libreoffice-noto-prose")
    assert accuracy(gold, raw_pdfium(lo.read_bytes()))[0] < 0.8


def test_no_space_inside_syllables(small_set) -> None:
    """`སློ བ` faults: a space between two Tibetan letters where the gold has none."""
    inner = re.compile(r"[\u0f40-\u0fbc] (?=[\u0f40-\u0fbc])")
    for case, path in small_set:
        text = _extract(path)
        assert len(inner.findall(text)) <= len(inner.findall(case.gold)), case.name


def test_running_header_footer_and_page_numbers_dropped(small_set) -> None:
    for case, path in small_set:
        text = _extract(path)
        assert len(pdfium.PdfDocument(path.read_bytes())) >= 1
        assert FOOTER.strip() not in text, case.name
        assert case.header not in text, case.name
        # no page number left, alone or glued to the text (`ངོས།3འབྱེད`). fpdf2 maps one Noto stack
        # glyph to "2" in its ToUnicode table ("ར2ྒྱས", pdfium's raw text has it too): a digit before
        # a subjoined letter is that producer fault, not a page number.
        assert not re.search(r"[0-9](?![\u0f90-\u0fbc])", text), case.name
        # WeasyPrint and fpdf2 number pages in Tibetan digits
        tib_digits = re.compile(r"[\u0f20-\u0f29]")
        assert len(tib_digits.findall(text)) <= len(tib_digits.findall(case.gold)), case.name


def test_table_cells_read_row_by_row(small_set) -> None:
    squash = lambda s: re.sub(r"[\s\u200b]+", "", s)  # noqa: E731  (ReportLab keeps its ZWSP break hints)
    for case, path in small_set:
        if case.layout != "table":
            continue
        body = squash(_extract(path))
        cells = [squash(c) for kind, rows in case.blocks if kind == "table" for row in rows for c in row]
        found = [body.find(c) for c in cells]
        assert sum(f >= 0 for f in found) >= 0.8 * len(cells), case.name
        hits = [f for f in found if f >= 0]
        assert sum(a < b for a, b in zip(hits, hits[1:])) >= 0.9 * (len(hits) - 1), case.name


@pytest.mark.slow
def test_whole_set_per_producer_font_layout(tmp_path) -> None:
    """All 52 PDFs (about a minute): every producer, font and layout group meets the target."""
    cases = build_cases()
    paths = generate(cases, tmp_path)
    groups: dict[str, list[float]] = {}
    for c in cases:
        syl, _ = accuracy(c.gold, _extract(paths[c.name]))
        assert syl >= 0.9, (c.name, syl)
        for key in (c.producer, c.font, c.layout, "all"):
            groups.setdefault(key, []).append(syl)
    means = {k: sum(v) / len(v) for k, v in groups.items()}
    assert all(m >= TARGET for m in means.values()), means


# ------------------------------------------------------------------------------ layout helpers
def _ch(text: str, x: float, y: float = 700.0, w: float = 8.0) -> Char:
    return Char(text, x, y, x, x + w, 12.0)


def test_build_lines_attaches_marks_to_their_letter() -> None:
    # fpdf2 + Noto: the vowel comes first in the stream, left of its letter's pen position;
    # LibreOffice: the vowel follows with a pen position past the letter.
    chars = [_ch("\u0f7c", 99.5, w=7), _ch("བ", 100), _ch("ད", 108), _ch("\u0f0b", 116, w=2)]
    chars += [_ch("ཀ", 118), _ch("\u0fb1", 118), _ch("\u0f72", 125, w=6)]
    (line,) = build_lines(chars)
    assert line.text == "བོད་ཀྱི"
    # a mark wrapped onto the next line, hanging left of its first letter, opens that line on its
    # own; joining the lines puts it back on the letter it belongs to
    wrapped = [_ch("ས", 100), _ch("\u0f74", 30, y=680), _ch("ང", 40, y=680)]
    lines = build_lines(wrapped)
    assert [ln.text for ln in lines] == ["ས", "\u0f74ང"]
    assert join_pieces(lines)[0] == "སུང"


def test_running_lines_repeat_or_page_number() -> None:
    def page(n: int, body: str) -> list[Line]:
        return [
            Line([[_ch(c, 50 + 9 * i, 800)] for i, c in enumerate("དེབ་དང་པོ།")], 800, 12),
            Line([[_ch(c, 50 + 9 * i, 400)] for i, c in enumerate(body)], 400, 12),
            Line([[_ch(c, 200 + 9 * i, 30)] for i, c in enumerate(f"{FOOTER.strip()}{n}")], 30, 12),
        ]

    pages = [page(1, "ཀ་ཁ་ག"), page(2, "ང་ཅ་ཆ"), page(3, "ཇ་ཉ་ཏ")]
    assert running_lines(pages, [842.0] * 3) == [{0, 2}] * 3
    # one page: a bare page number goes, and a top/bottom line in small print; a body-size
    # line at the top (a heading) stays
    one = [[*page(1, "ཀ་ཁ")[:2], Line([[_ch("7", 300, 30)]], 30, 12)]]
    assert running_lines(one, [842.0]) == [{2}]
    one[0][0].size = 9
    one[0][1].parts *= 3  # the body is most of the text
    assert running_lines(one, [842.0]) == [{0, 2}]


def test_generated_spaces_kept_only_at_real_gaps() -> None:
    """pdfium generates a space wherever it sees a gap; inside a syllable the gap is a vowel
    glyph's box ending early (Noto: <= 0.09 em), a real word space is >= 0.25 em."""
    ka, vowel = _ch("ཀ", 100), _ch("\u0f7c", 100.5, w=6)
    ba = Char("བ", 109, 700, 109.2, 117, 12.0, space_before=True)  # 0.1 em after ཀ's box
    text, dropped = Line([[ka, vowel], [ba]], 700, 12).render()
    assert (text, dropped) == ("ཀོབ", 1)
    far = Char("བ", 112, 700, 112.5, 120, 12.0, space_before=True)  # 0.375 em: a space
    assert Line([[ka], [far]], 700, 12).render() == ("ཀ བ", 0)
    shad, nga = _ch("།", 108, w=2), Char("ང", 111, 700, 111, 119, 12.0, space_before=True)
    assert Line([[ka], [shad], [nga]], 700, 12).text == "ཀ། ང"  # after a shad: always


def test_latin_words_and_mixed_lines_keep_their_spaces() -> None:
    """Spaces pdfium generates between Latin words (PDFs often draw none) are real: kept."""
    from fpdf import FPDF
    from pdf_fixtures import FONTS

    english = "The Universal Declaration of Human Rights was adopted in 1948 and translated into Tibetan. " * 3
    mixed = "བོད་ཀྱི་ཡིག་ཆ་ UDHR 1948 ལོར་བཏོན། མི་རྣམས་ཐམས་ཅད་རང་དབང་ལྡན་པ་ཡིན།"
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.multi_cell(0, 6, english, new_x="LMARGIN", new_y="NEXT")
    pdf.add_font("tib", fname=FONTS["Tibetan Machine Uni"])
    pdf.set_font("tib", size=12)
    pdf.set_text_shaping(True)
    pdf.multi_cell(0, 8, mixed)
    text = extract_pdf(bytes(pdf.output()), ExtractConfig())[0]
    assert text.split() == english.split() + mixed.split()
