"""Tibetan PDF test set: real gold text laid out by real producers, fonts and layouts.

    python tests/pipeline/pdf_fixtures.py OUT_DIR [--producers libreoffice,weasyprint,fpdf2,reportlab] [--layouts ...]

Each case is one (producer, font, layout); the gold is the body text that a reader would copy
(headings, paragraphs, table cells row by row), never the running header, footer or page number.
- producers: LibreOffice (headless, from a flat ODT: page styles with header/footer and a page
  number field, sections with two columns, tables), WeasyPrint (HTML + CSS paged media: @page
  margin boxes, `column-count`, tables; Pango/HarfBuzz shaping, like a browser's print path),
  fpdf2 (HarfBuzz shaping via uharfbuzz, header()/footer(), text_columns(), table()) and ReportLab
  (platypus frames, onPage header/footer, Table; uharfbuzz shaping). Producers in pdf_producers.py.
- fonts: Debian packages fonts-tibetan-machine, fonts-noto-core (Noto Serif Tibetan),
  fonts-ddc-uchen, fonts-monlam (the README set-up installs them).
- layouts: `prose` (A5, one column, several pages), `columns` (A4, two columns), `table`
  (bordered three-column table of phrases, some cells wrapping) and, for fpdf2 only, `zigzag` (two
  columns whose content stream runs line by line across both, as some DTP exports write them),
  all with a running header and a "ཤོག་ངོས། N" footer. WeasyPrint pages alternate the header
  (book title on left pages, the chapter title, which is also the body's heading, on right pages)
  and number pages in Tibetan digits, like fpdf2; LibreOffice and ReportLab use Arabic digits.
Gold text comes from ../shared/corpus (modern stories, the UDHR, classical prose, the Kangyur), a
different excerpt per case (seeded).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from pdf_producers import FONTS, FOOTER, fodt_doc, fpdf2_pdf, html_doc, reportlab_pdf  # noqa: F401 (FOOTER: for tests)

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("TIBCPT_SHARED", ROOT.parent / "shared"))

PRODUCERS = ("libreoffice", "weasyprint", "fpdf2", "reportlab")
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
            (Path(tmp) / f"{c.name}.fodt").write_text(fodt_doc(c), encoding="utf-8")
        if lo:
            # One soffice process converts every file (start-up is most of the time); its own
            # profile dir so a user's running LibreOffice is not touched.
            cmd = [_need("soffice"), f"-env:UserInstallation=file://{tmp}/profile", "--headless"]
            cmd += ["--convert-to", "pdf", "--outdir", str(out), *(str(Path(tmp) / f"{c.name}.fodt") for c in lo)]
            subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        for c in cases:
            if c.producer == "weasyprint":
                src = Path(tmp) / f"{c.name}.html"
                src.write_text(html_doc(c), encoding="utf-8")
                subprocess.run(
                    [_need("weasyprint"), "-q", str(src), str(out / f"{c.name}.pdf")], check=True, timeout=300
                )
            elif c.producer == "fpdf2":
                (out / f"{c.name}.pdf").write_bytes(fpdf2_pdf(c))
            elif c.producer == "reportlab":
                (out / f"{c.name}.pdf").write_bytes(reportlab_pdf(c))
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
def raw_pdfium(data: bytes) -> str:
    """The baseline: PdfTextPage.get_text_range() per page, pages joined by a newline (what a user gets)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()


def _prep(text: str) -> str:
    """NFC, zero-width spaces dropped: ReportLab's line-break hints (not written, not shown), which
    the text layer keeps and the normalize stage removes."""
    return unicodedata.normalize("NFC", text).replace("\u200b", "")


def accuracy(gold: str, text: str) -> tuple[float, float]:
    """(syllable accuracy, character accuracy) of `text` against `gold`: 1 - Levenshtein distance /
    gold length (like 1 - WER/CER), floored at 0. Syllables are `syllables()` of the NFC text (tsheg,
    shad, spaces and non-Tibetan dropped: a page number glued into a syllable still counts as an
    error through the broken syllable); characters are every non-space character, so page numbers,
    running headers, lost or doubled vowel signs all count."""
    from rapidfuzz.distance import Levenshtein
    from tibcpt.pipeline.text.segment import syllables

    gold, text = _prep(gold), _prep(text)
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

    gt, tt = _prep(gold).split(), _prep(text).split()
    return max(0.0, 1 - Levenshtein.distance(gt, tt) / max(1, len(gt)))
