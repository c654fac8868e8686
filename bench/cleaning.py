"""Noise that reaches the kept documents of `tibcpt corpus`, counted per kind, before and after cleaning.

Reads the shards of one or more corpus outputs (`make corpus OUT=...` writes <OUT>/corpus) and
counts, in the KEPT documents only, with definitions written here independently of the cleaning
code (so the bench does not grade the rules by themselves):

- page/PDF noise lines of childrens-stories: lines without any letter (any script) holding a digit
  or '/' ("5/8", "2016 40 2007 40", "///"), plus "N/M" page counters at the end of a text line;
  their share of the characters of those documents;
- old-tibetan-corpus: "(n)" line numbers and "[---]" lacunae;
- re-joined segmented text (nanhai-modern-writing, childrens-stories): affixes standing as syllables
  of their own ("བ་འི"): འི འམ འང are never words; free འོ/འུ are counted too (they are also words:
  "འོ་མ" milk, the pronoun འུ), and the syllables ས/ར for reference;
- all sources: ZWJ U+200D, ZWNJ U+200C, soft hyphen U+00AD;
- global-asp-stories: documents, Markdown marks left in the text (a line starting '#', '* ',
  "License:"), and documents without their credits in meta.

    make corpus OUT=/tmp/before   # (at the commit before cleaning) ...
    .venv/bin/python bench/cleaning.py before=/tmp/clean-base/corpus after=/tmp/clean-out/corpus
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SYL = "\u0f00\u0f40-\u0f6c\u0f71-\u0f84\u0f86-\u0fbc\u0f35\u0f37\u0f39\u0f3e\u0f3f\u0fc6"
_LETTER = re.compile(r"[^\W\d_]")
_PAGE_END = re.compile(r"(?<![\d/])\d{1,3} ?/ ?\d{1,3} *$")
_LINE_NO = re.compile(r"\(\d{1,4}\)")
_LACUNA = re.compile(r"\[ ?(?:-{2,}|\.{3,}|…) ?\]")
_FREE = {a: re.compile(f"(?<![{SYL}]){a}(?![{SYL}])") for a in ("འི", "འམ", "འང", "འོ", "འུ", "ས", "ར")}
_MD_LINE = re.compile(r"(?m)^(?:#|\* |- )|License:|Illustration:")


def load(corpus: Path) -> list[dict]:
    files = sorted((corpus / "data").glob("*.parquet"))
    if not files:
        raise SystemExit(f"{corpus}: no data/*.parquet (expected a `tibcpt corpus` output folder)")
    return pq.read_table(files, columns=["id", "text", "source", "meta"]).to_pylist()


def measure(rows: list[dict]) -> dict:
    out: dict = {"docs": Counter(r["source"] for r in rows)}
    kids = [r for r in rows if r["source"] == "childrens-stories"]
    noise_lines = noise_chars = docs_with = page_ends = 0
    for r in kids:
        found = False
        for line in r["text"].split("\n"):
            if line and not _LETTER.search(line) and re.search(r"[\d/]", line):
                noise_lines += 1
                noise_chars += len(line) + 1
                found = True
            elif _LETTER.search(line) and _PAGE_END.search(line):
                page_ends += 1
                noise_chars += len(_PAGE_END.search(line).group())
                found = True
        docs_with += found
    kid_chars = sum(len(r["text"]) for r in kids) or 1
    out["childrens_stories"] = {
        "docs": len(kids),
        "docs_with_noise": docs_with,
        "noise_lines": noise_lines,
        "page_markers_at_line_end": page_ends,
        "noise_char_share": round(noise_chars / kid_chars, 4),
    }
    old = [r for r in rows if r["source"] == "old-tibetan-corpus"]
    out["old_tibetan"] = {
        "docs": len(old),
        "line_numbers": sum(len(_LINE_NO.findall(r["text"])) for r in old),
        "lacunae": sum(len(_LACUNA.findall(r["text"])) for r in old),
        "lacunae_in_meta": sum(json.loads(r["meta"] or "{}").get("lacunae", 0) for r in old),
    }
    for src in ("nanhai-modern-writing", "childrens-stories"):
        docs = [r for r in rows if r["source"] == src]
        free = {a: sum(len(rx.findall(r["text"])) for r in docs) for a, rx in _FREE.items()}
        never = ("འི", "འམ", "འང")
        out[f"free_affixes_{src}"] = {
            "docs": len(docs),
            "docs_with_free_i_am_ang": sum(any(_FREE[a].search(r["text"]) for a in never) for r in docs),
            "free_i_am_ang": sum(free[a] for a in never),
            **{f"free_{a}": n for a, n in free.items()},
        }
    out["invisible"] = {
        name: sum(r["text"].count(ch) for r in rows)
        for name, ch in (("zwj", "\u200d"), ("zwnj", "\u200c"), ("soft_hyphen", "\u00ad"))
    }
    asp = [r for r in rows if r["source"] == "global-asp-stories"]
    out["global_asp_stories"] = {
        "docs": len(asp),
        "markdown_or_credit_lines_in_text": sum(len(_MD_LINE.findall(r["text"])) for r in asp),
        "docs_without_credits": sum("credits" not in json.loads(r["meta"] or "{}") for r in asp),
    }
    out["docs"] = dict(sorted(out["docs"].items()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="NAME=CORPUS_DIR (a `tibcpt corpus` output folder)")
    ap.add_argument("--out", default=str(ROOT / "bench/results/cleaning.json"))
    args = ap.parse_args()
    results = {}
    for run in args.runs:
        name, _, path = run.partition("=")
        results[name] = measure(load(Path(path)))
        print(name, json.dumps(results[name], ensure_ascii=False, indent=1))
    Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
