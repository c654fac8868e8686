"""Tibetan PDF test set: real gold text laid out by real producers, fonts and layouts.

    python tests/pipeline/pdf_fixtures.py OUT_DIR [--producers libreoffice,weasyprint,fpdf2] [--limit N]

Each case is one (producer, font, layout); the gold is the body text that a reader would copy
(headings, paragraphs, table cells row by row), never the running header, footer or page number.
- producers: LibreOffice (headless, from a flat ODT: page styles with header/footer and a page
  number field, sections with two columns, tables), WeasyPrint (HTML + CSS paged media: @page
  margin boxes, `column-count`, tables; Pango/HarfBuzz shaping, like a browser's print path) and
  fpdf2 (HarfBuzz shaping via uharfbuzz, header()/footer(), text_columns(), table()).
- fonts: Debian packages fonts-tibetan-machine, fonts-noto-extra (Noto Serif Tibetan),
  fonts-ddc-uchen, fonts-monlam (the README set-up installs them).
- layouts: `prose` (A5, one column, several pages), `columns` (A4, two columns), `table`
  (bordered three-column table of phrases, some cells wrapping) and, for fpdf2 only, `zigzag` (two
  columns whose content stream runs line by line across both, as some DTP exports write them),
  all with a running header and a "ཤོག་ངོས། N" footer. WeasyPrint pages alternate the header
  (book title on left pages, the chapter title, which is also the body's heading, on right pages)
  and number pages in Tibetan digits, like fpdf2; LibreOffice uses Arabic digits.
Gold text comes from ../shared/corpus (modern stories, the UDHR, classical prose, the Kangyur), a
different excerpt per case (seeded).
"""

from __future__ import annotations

import argparse
import html
import os
import random
import re
import shutil
import subprocess
import tempfile
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("TIBCPT_SHARED", ROOT.parent / "shared"))

FONTS = {
    # name as fontconfig knows it -> file (fpdf2 needs the file)
    "Tibetan Machine Uni": "/usr/share/fonts/truetype/tibetan-machine/TibetanMachineUni.ttf",
    "Noto Serif Tibetan": "/usr/share/fonts/truetype/noto/NotoSerifTibetan-Regular.ttf",
    "DDC Uchen": "/usr/share/fonts/truetype/tibetan/DDC_Uchen.ttf",
    "Monlam Uni OuChan2": "/usr/share/fonts/truetype/tibetan/Monlam Uni OuChan2.ttf",
}
PRODUCERS = ("libreoffice", "weasyprint", "fpdf2")
LAYOUTS = ("prose", "columns", "table", "zigzag")
SOURCES = (
    "corpus/modern/global-asp-stories",
    "corpus/modern/udhr/udhr_bod.txt",
    "corpus/classical/classical-tibetan-corpus/mila.txt",
    "corpus/classical/classical-tibetan-corpus/mdzangs_blun.txt",
    "corpus/classical/classical-tibetan-corpus/taranatha.txt",
    "corpus/classical/derge-kangyur/vol060_sutra_ma.txt",
)
HEADER = "བོད་ཀྱི་ཡིག་ཚགས་དཔེ་ཚོགས། དེབ་{n}"
FOOTER = "ཤོག་ངོས། "


@dataclass
class Case:
    """One PDF to generate: its gold blocks (("h"|"p", text) or ("table", rows))."""

    name: str
    producer: str
    font: str
    layout: str
    header: str
    blocks: list = field(default_factory=list)

    @property
    def gold(self) -> str:
        out = []
        for kind, content in self.blocks:
            out += [cell for row in content for cell in row] if kind == "table" else [content]
        return "\n".join(out)


def _source_text(rel: str) -> str:
    path = SHARED / rel
    if not path.exists():
        raise FileNotFoundError(f"gold source {path} missing: the PDF test set needs ../shared beside the repo")
    if path.is_dir():
        parts = []
        for f in sorted(path.glob("*.md")):
            # global-asp stories: `#` title, `##` page breaks, a credits footer after `---`/license
            body = f.read_text(encoding="utf-8").split("\n---", 1)[0]
            parts += [ln for ln in body.splitlines() if ln.strip() and not ln.startswith("#")]
        text = "\n".join(parts)
    else:
        text = path.read_text(encoding="utf-8-sig")
    # Drop the sources' own markup: Kangyur folio markers "[1b.2]" and "{D172}" / "{a,b}" notes.
    text = re.sub(r"\[[^\]\n]*\]|\{[^}\n]*\}", "", unicodedata.normalize("NFC", text))
    # Keep Tibetan lines only; a line ending in a tsheg continues on the next (folio line breaks).
    lines = [re.sub(r"[ \t\u00a0]+", " ", ln).strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and sum("\u0f00" <= c <= "\u0fff" for c in ln) > 0.9 * len(ln)]
    return re.sub("\u0f0b\n", "\u0f0b", "\n".join(lines))


_SOURCE_CACHE: dict[str, list[str]] = {}


def _sentences(rel: str) -> list[str]:
    """Shad-terminated pieces (a shad and the spaces after it stay with the piece)."""
    if rel not in _SOURCE_CACHE:
        text = _source_text(rel).replace("\n", " ")
        _SOURCE_CACHE[rel] = [s.strip() for s in re.findall(r"[^།]+།[།\s]*", text) if len(s.strip()) > 3]
    return _SOURCE_CACHE[rel]


def _excerpt(rng: random.Random, n_chars: int) -> list[str]:
    sents = _sentences(rng.choice(SOURCES))
    start = rng.randrange(max(1, len(sents) - 60))
    out, size = [], 0
    for s in sents[start:]:
        out.append(s)
        size += len(s)
        if size >= n_chars:
            break
    return out


def _paragraphs(sents: list[str], rng: random.Random) -> list[str]:
    paras, cur = [], []
    for s in sents:
        cur.append(s)
        if sum(map(len, cur)) > rng.randint(250, 700):
            paras.append(" ".join(cur))
            cur = []
    return paras + ([" ".join(cur)] if cur else [])


def _table_rows(sents: list[str], rng: random.Random, n_rows: int = 9) -> list[list[str]]:
    """Cells of 2-12 syllables cut at tshegs (a cell ends in a tsheg or a shad, like real tables)."""
    syls = re.findall(r"[^་།\s]+[་།]+\s*", " ".join(sents))
    rows, i = [], 0
    for _ in range(n_rows):
        row = []
        for col in range(3):
            k = rng.randint(2, 4) if col == 0 else rng.randint(3, 12)
            row.append("".join(syls[i : i + k]).strip())
            i += k
        rows.append(row)
    return rows


def build_cases(producers=PRODUCERS, fonts=tuple(FONTS), layouts=LAYOUTS, seed: int = 0) -> list[Case]:
    cases = []
    for p in producers:
        for fi, font in enumerate(fonts):
            for layout in layouts:
                if layout == "zigzag" and p != "fpdf2":
                    continue  # only fpdf2 lets us write the content stream in that order
                name = f"{p}-{font.split()[0].lower()}-{layout}"
                rng = random.Random(f"{seed}-{name}")
                case = Case(name, p, font, layout, HEADER.format(n=fi + 1))
                title = " ".join(_excerpt(rng, 20)[:1])[:60].rstrip(" །") + "།"
                case.blocks.append(("h", title))
                if layout == "table":
                    case.blocks.append(("p", " ".join(_excerpt(rng, 150))))
                    case.blocks.append(("table", _table_rows(_excerpt(rng, 1200), rng)))
                    case.blocks.append(("p", " ".join(_excerpt(rng, 200))))
                else:
                    n = 2600 if layout == "prose" else 5000 if layout == "columns" else 3500
                    case.blocks += [("p", t) for t in _paragraphs(_excerpt(rng, n), rng)]
                cases.append(case)
    return cases


# ------------------------------------------------------------------------------------- producers
def _html(case: Case) -> str:
    size, page = ("12pt", "A5") if case.layout != "columns" else ("11pt", "A4")
    css = f"""@page {{ size: {page}; margin: 2cm 1.6cm;
  @top-center {{ content: "{case.header}"; font-family: '{case.font}'; font-size: 9pt }}
  @bottom-center {{ content: "{FOOTER}" counter(page, tibetan); font-family: '{case.font}'; font-size: 9pt }} }}
@page :right {{ @top-center {{ content: "{case.blocks[0][1]}"; font-family: '{case.font}'; font-size: 9pt }} }}
body {{ font-family: '{case.font}'; font-size: {size}; line-height: 1.7 }}
h1 {{ font-size: 15pt }} .cols {{ column-count: 2; column-gap: 1cm }}
table {{ border-collapse: collapse; width: 100% }} td {{ border: 0.5pt solid #000; padding: 3pt; vertical-align: top }}"""
    body = []
    for kind, content in case.blocks:
        if kind == "h":
            body.append(f"<h1>{html.escape(content)}</h1>")
        elif kind == "p":
            body.append(f"<p>{html.escape(content)}</p>")
        else:
            rows = ("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in content)
            body.append("<table>" + "".join(rows) + "</table>")
    if case.layout == "columns":
        body = [body[0], '<div class="cols">', *body[1:], "</div>"]
    return (
        f'<!doctype html><html lang="bo"><meta charset="utf-8"><style>{css}</style><body>{"".join(body)}</body></html>'
    )


_NS = " ".join(
    f'xmlns:{k}="urn:oasis:names:tc:opendocument:xmlns:{v}"'
    for k, v in {
        "office": "office:1.0",
        "style": "style:1.0",
        "text": "text:1.0",
        "table": "table:1.0",
        "fo": "xsl-fo-compatible:1.0",
        "svg": "svg-compatible:1.0",
    }.items()
)


def _fodt(case: Case) -> str:
    """Flat ODT: LibreOffice's own format, so the page style carries the header/footer and page number."""
    e = html.escape
    size, (w, h) = ("12pt", ("14.8cm", "21cm")) if case.layout != "columns" else ("11pt", ("21cm", "29.7cm"))
    txt = (
        f'style:font-name="F" style:font-name-complex="F" style:font-name-asian="F" fo:font-size="{size}" '
        f'style:font-size-complex="{size}" style:language-complex="bo" style:country-complex="CN"'
    )
    body = []
    for kind, content in case.blocks:
        if kind == "h":
            body.append(f'<text:h text:style-name="H" text:outline-level="1">{e(content)}</text:h>')
        elif kind == "p":
            body.append(f'<text:p text:style-name="P">{e(content)}</text:p>')
        else:
            cells = (
                "<table:table-row>"
                + "".join(
                    f'<table:table-cell table:style-name="C" office:value-type="string"><text:p>{e(c)}</text:p></table:table-cell>'
                    for c in row
                )
                + "</table:table-row>"
                for row in content
            )
            body.append(
                '<table:table table:name="T1" table:style-name="T"><table:table-column table:number-columns-repeated="3"/>'
                + "".join(cells)
                + "</table:table>"
            )
    if case.layout == "columns":
        body = [body[0], '<text:section text:style-name="S" text:name="S1">', *body[1:], "</text:section>"]
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document {_NS} office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.text">
<office:font-face-decls><style:font-face style:name="F" svg:font-family="'{case.font}'"/></office:font-face-decls>
<office:styles><style:default-style style:family="paragraph"><style:text-properties {txt}/></style:default-style></office:styles>
<office:automatic-styles>
<style:page-layout style:name="pm"><style:page-layout-properties fo:page-width="{w}" fo:page-height="{h}" fo:margin-top="1.2cm" fo:margin-bottom="1.2cm" fo:margin-left="1.8cm" fo:margin-right="1.8cm"/>
<style:header-style><style:header-footer-properties fo:min-height="0cm" fo:margin-bottom="0.5cm"/></style:header-style>
<style:footer-style><style:header-footer-properties fo:min-height="0cm" fo:margin-top="0.5cm"/></style:footer-style></style:page-layout>
<style:style style:name="H" style:family="paragraph"><style:text-properties fo:font-size="15pt" style:font-size-complex="15pt"/></style:style>
<style:style style:name="P" style:family="paragraph"><style:paragraph-properties fo:line-height="150%" fo:margin-bottom="0.2cm" fo:text-align="justify"/></style:style>
<style:style style:name="HF" style:family="paragraph"><style:paragraph-properties fo:text-align="center"/><style:text-properties fo:font-size="9pt" style:font-size-complex="9pt"/></style:style>
<style:style style:name="S" style:family="section"><style:section-properties><style:columns fo:column-count="2" fo:column-gap="1cm"/></style:section-properties></style:style>
<style:style style:name="T" style:family="table"><style:table-properties style:width="11.2cm" table:align="margins"/></style:style>
<style:style style:name="C" style:family="table-cell"><style:table-cell-properties fo:padding="0.1cm" fo:border="0.5pt solid #000000"/></style:style>
</office:automatic-styles>
<office:master-styles><style:master-page style:name="Standard" style:page-layout-name="pm">
<style:header><text:p text:style-name="HF">{e(case.header)}</text:p></style:header>
<style:footer><text:p text:style-name="HF">{FOOTER}<text:page-number text:select-page="current">1</text:page-number></text:p></style:footer>
</style:master-page></office:master-styles>
<office:body><office:text>{"".join(body)}</office:text></office:body></office:document>
"""


def _fpdf2(case: Case) -> bytes:
    from fpdf import FPDF

    class Doc(FPDF):
        def header(self) -> None:
            self.set_font("tib", size=9)
            self.cell(0, 8, case.header, align="C", new_x="LMARGIN", new_y="NEXT")
            self.ln(3)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("tib", size=9)
            self.cell(0, 8, f"{FOOTER}{tibetan_digits(self.page_no())}", align="C")

    with warnings.catch_warnings():  # fpdf2 2.8.5 notice that its A5 size was corrected
        warnings.simplefilter("ignore")
        pdf = Doc(format="A5" if case.layout != "columns" else "A4")
    pdf.add_font("tib", fname=FONTS[case.font])
    pdf.set_text_shaping(True)
    pdf.add_page()
    size = 12 if case.layout != "columns" else 11
    for kind, content in case.blocks:
        pdf.set_font("tib", size=15 if kind == "h" else size)
        if kind == "table":
            with pdf.table(col_widths=(1, 2, 2), first_row_as_headings=False, line_height=7) as table:
                for row in content:
                    cells = table.row()
                    for c in row:
                        cells.cell(c)
            pdf.ln(4)
        elif case.layout in ("columns", "zigzag") and kind == "p":
            continue  # written below, all paragraphs in one column flow
        else:
            pdf.multi_cell(0, 9 if kind == "h" else size * 0.6, content, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    if case.layout == "zigzag":
        _zigzag(pdf, [content for kind, content in case.blocks if kind == "p"], size)
    if case.layout == "columns":
        pdf.set_font("tib", size=size)
        with pdf.text_columns(ncols=2, gutter=10, text_align="J", line_height=1.6) as cols:
            for kind, content in case.blocks:
                if kind == "p":
                    with cols.paragraph(bottom_margin=2) as par:
                        par.write(content)
    return bytes(pdf.output())


def tibetan_digits(n: int) -> str:
    return "".join(chr(0x0F20 + int(d)) for d in str(n))


def _zigzag(pdf, paras: list[str], size: float) -> None:
    """Two columns written row by row: left line, right line, next row (column text still flows
    left column first, then right, then the next page)."""
    gutter, lh = 10, size * 0.6
    col_w = (pdf.epw - gutter) / 2
    pdf.set_font("tib", size=size)
    lines: list[str] = []
    for t in paras:
        lines += [ln for ln in pdf.multi_cell(col_w, lh, t, dry_run=True, output="LINES")] + [""]
    top = pdf.get_y() + lh
    rows = int((pdf.h - pdf.b_margin - top) / lh)
    while lines:
        left, right, lines = lines[:rows], lines[rows : 2 * rows], lines[2 * rows :]
        for r in range(rows):
            y = top + r * lh
            # cell(), not text(): fpdf2's text() misplaces Noto's vowel glyphs (GPOS marks)
            for x, col in ((pdf.l_margin, left), (pdf.l_margin + col_w + gutter, right)):
                if r < len(col) and col[r]:
                    pdf.set_xy(x, y)
                    pdf.cell(col_w, lh, col[r])
        if lines:
            pdf.add_page()
            top = pdf.get_y() + lh
            rows = int((pdf.h - pdf.b_margin - top) / lh)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise RuntimeError(f"{tool} not found: install it with the apt-get line of README 'Set-up and tests'")
    return path


def generate(cases: list[Case], out: Path) -> dict[str, Path]:
    """Write `<name>.pdf` and `<name>.txt` (gold) for each case; return name -> pdf path."""
    out.mkdir(parents=True, exist_ok=True)
    for name in {*FONTS}:
        if not Path(FONTS[name]).exists():
            raise RuntimeError(f"font file {FONTS[name]} missing: run the apt-get line of README 'Set-up and tests'")
    paths = {}
    lo = [c for c in cases if c.producer == "libreoffice"]
    with tempfile.TemporaryDirectory() as tmp:
        for c in lo:
            (Path(tmp) / f"{c.name}.fodt").write_text(_fodt(c), encoding="utf-8")
        if lo:
            # One soffice process converts every file (start-up is most of the time); its own
            # profile dir so a user's running LibreOffice is not touched.
            cmd = [_need("soffice"), f"-env:UserInstallation=file://{tmp}/profile", "--headless"]
            cmd += ["--convert-to", "pdf", "--outdir", str(out), *(str(Path(tmp) / f"{c.name}.fodt") for c in lo)]
            subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        for c in cases:
            if c.producer == "weasyprint":
                src = Path(tmp) / f"{c.name}.html"
                src.write_text(_html(c), encoding="utf-8")
                subprocess.run(
                    [_need("weasyprint"), "-q", str(src), str(out / f"{c.name}.pdf")], check=True, timeout=300
                )
            elif c.producer == "fpdf2":
                (out / f"{c.name}.pdf").write_bytes(_fpdf2(c))
    for c in cases:
        pdf = out / f"{c.name}.pdf"
        if not pdf.exists():
            raise RuntimeError(f"{c.producer} produced no {pdf.name}")
        (out / f"{c.name}.txt").write_text(c.gold + "\n", encoding="utf-8")
        paths[c.name] = pdf
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--producers", default=",".join(PRODUCERS))
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    args = ap.parse_args()
    cases = build_cases(tuple(args.producers.split(",")), layouts=tuple(args.layouts.split(",")))
    for name, path in generate(cases, args.out).items():
        print(name, path.stat().st_size)


if __name__ == "__main__":
    main()


# --------------------------------------------------------------------------------------- scoring
def accuracy(gold: str, text: str) -> tuple[float, float]:
    """(syllable accuracy, character accuracy) of `text` against `gold`: 1 - Levenshtein distance /
    gold length (like 1 - WER/CER), floored at 0. Syllables are `syllables()` of the NFC text (tsheg,
    shad, spaces and non-Tibetan dropped: a page number glued into a syllable still counts as an
    error through the broken syllable); characters are every non-space character, so page numbers,
    running headers, lost or doubled vowel signs all count."""
    from rapidfuzz.distance import Levenshtein
    from tibcpt.pipeline.text.segment import syllables

    gold, text = unicodedata.normalize("NFC", gold), unicodedata.normalize("NFC", text)
    gs, ts = syllables(gold), syllables(text)
    gc, tc = re.sub(r"\s+", "", gold), re.sub(r"\s+", "", text)
    syl = 1 - Levenshtein.distance(gs, ts) / max(1, len(gs))
    char = 1 - Levenshtein.distance(gc, tc) / max(1, len(gc))
    return max(0.0, syl), max(0.0, char)


def token_accuracy(gold: str, text: str) -> float:
    """1 - edit distance over whitespace-separated tokens / gold tokens: the metric that sees spaces
    (a space inside a syllable splits a token, a lost space after a shad merges two), which the
    syllable and character scores ignore."""
    from rapidfuzz.distance import Levenshtein

    gt, tt = unicodedata.normalize("NFC", gold).split(), unicodedata.normalize("NFC", text).split()
    return max(0.0, 1 - Levenshtein.distance(gt, tt) / max(1, len(gt)))
