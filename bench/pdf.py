"""Tibetan PDF extraction accuracy on the generated test set: tibcpt vs raw pypdfium2 (vs pdfminer.six).

    python bench/pdf.py [--set DIR] [--out bench/results/pdf.json] [--show N]

The set (tests/pipeline/pdf_fixtures.py, producers in pdf_producers.py) is 4 producers (LibreOffice,
WeasyPrint, fpdf2, ReportLab) x 4 Debian Tibetan fonts x 3 layouts (prose, two columns, table), plus
fpdf2 pages whose stream zig-zags across two columns: 52 PDFs, every page with a running header and
a "ཤོག་ངོས། N" footer; gold is the body text from ../shared/corpus. Rows:
  tibcpt      tibcpt.pipeline.extract.extractor.extract_pdf with the default ExtractConfig
  pypdfium2   PdfTextPage.get_text_range() per page, pages joined by a newline (what a user gets)
  pdfminer    pdfminer.six extract_text, only when importable (MIT, the candidate alternative; it is
              not a dependency: `pip install --target /tmp/pdfminer pdfminer.six` and run with
              PYTHONPATH=/tmp/pdfminer, as for bench/results/pdf.json)
Syllable and character accuracy (1 - edit distance / gold length; see pdf_fixtures.accuracy) and
whitespace-token accuracy (sees spaces, which the other two ignore), by producer, font and layout, plus seconds per page. `--show N` prints the N worst tibcpt cases' text.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import pypdfium2 as pdfium

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "pipeline")]

from pdf_fixtures import accuracy, build_cases, generate, raw_pdfium, token_accuracy  # noqa: E402
from tibcpt.pipeline.extract.extractor import ExtractConfig, extract_pdf  # noqa: E402

from tibcpt.io import write_json_atomic  # noqa: E402


def methods() -> dict:
    cfg = ExtractConfig()
    out = {"tibcpt": lambda data: extract_pdf(data, cfg)[0], "pypdfium2": raw_pdfium}
    try:
        import io

        from pdfminer.high_level import extract_text

        out["pdfminer"] = lambda data: extract_text(io.BytesIO(data))
    except ImportError:
        pass
    return out


def summarize(rows: list[dict], key: str) -> dict:
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["method"], r[key]), []).append(r)
    return {
        f"{m}/{k}": {
            "syllable": round(statistics.mean(r["syllable"] for r in rs), 4),
            "char": round(statistics.mean(r["char"] for r in rs), 4),
            "token": round(statistics.mean(r["token"] for r in rs), 4),
            "n": len(rs),
        }
        for (m, k), rs in sorted(groups.items())
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", type=Path, default=None, help="existing set dir (default: generate into a temp dir)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/pdf.json")
    ap.add_argument("--show", type=int, default=0)
    args = ap.parse_args()
    cases = build_cases()
    if args.set is None:
        import atexit
        import shutil
        import tempfile

        args.set = Path(tempfile.mkdtemp(prefix="pdfset-"))
        atexit.register(shutil.rmtree, args.set, True)  # our own temp set; --set DIR keeps it
    if not all((args.set / f"{c.name}.pdf").exists() for c in cases):
        t0 = time.time()
        generate(cases, args.set)
        print(f"generated {len(cases)} PDFs in {time.time() - t0:.1f} s -> {args.set}")
    rows, seconds, pages = [], {}, 0
    for c in cases:
        data = (args.set / f"{c.name}.pdf").read_bytes()
        pages += len(pdfium.PdfDocument(data))
        for m, fn in methods().items():
            t0 = time.perf_counter()
            text = fn(data)
            seconds[m] = seconds.get(m, 0.0) + time.perf_counter() - t0
            syl, char = accuracy(c.gold, text)
            rows.append(dict(case=c.name, producer=c.producer, font=c.font, layout=c.layout, method=m,
                             syllable=round(syl, 4), char=round(char, 4),
                             token=round(token_accuracy(c.gold, text), 4), text=text))  # fmt: skip
    result = {
        "set": f"tests/pipeline/pdf_fixtures.py build_cases(): {len(cases)} PDFs, {pages} pages",
        "overall": summarize([{**r, "all": "all"} for r in rows], "all"),
        "by_producer": summarize(rows, "producer"),
        "by_font": summarize(rows, "font"),
        "by_layout": summarize(rows, "layout"),
        "seconds_per_page": {m: round(s / pages, 4) for m, s in seconds.items()},
        "cases": [{k: v for k, v in r.items() if k != "text"} for r in rows],
    }
    write_json_atomic(args.out, result)
    for section in ("overall", "by_producer", "by_font", "by_layout"):
        for k, v in result[section].items():
            print(
                f"{section:12s} {k:32s} syllable {v['syllable']:.3f}  char {v['char']:.3f}  token {v['token']:.3f}  (n={v['n']})"
            )
    print("seconds/page", result["seconds_per_page"])
    ours = sorted((r for r in rows if r["method"] == "tibcpt"), key=lambda r: r["syllable"])
    for r in ours[: args.show]:
        print(f"\n=== {r['case']} syllable {r['syllable']} char {r['char']}\n{r['text'][:1500]}")


if __name__ == "__main__":
    main()
