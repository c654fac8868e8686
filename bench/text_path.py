"""Benchmark the per-document text path on the real sample: normalize -> clean -> segment -> filter, one core.

Reads every *.txt under ../shared/corpus (or --corpus), one document per file; files longer than
--chunk-chars are split at blank lines (or lines, or shads when a file has no line breaks) into
documents of about that size, as a crawler or e-text ingester would hand them over. Prints MB/s
per core, keep/drop counts per folder and by reason, and writes bench/results/text_path.json.
botok word segmentation stays off (the default SegmentConfig): the corpus path only needs syllables.

    python bench/text_path.py [--corpus DIR] [--out bench/results/text_path.json] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tibcpt.pipeline.document import Document, Rejection, StageStats  # noqa: E402
from tibcpt.pipeline.sources.registry import load_sources  # noqa: E402
from tibcpt.pipeline.text.clean import CleanConfig, Cleaner  # noqa: E402
from tibcpt.pipeline.text.filters import FilterConfig, QualityFilter  # noqa: E402
from tibcpt.pipeline.text.normalize import NormalizeConfig, Normalizer  # noqa: E402
from tibcpt.pipeline.text.segment import SegmentConfig, Segmenter  # noqa: E402

from tibcpt.io import write_json_atomic  # noqa: E402

_SHAD_BREAK = re.compile("(?<=[\u0f0d\u0f0e]) ")


def chunk_text(text: str, target: int = 20_000) -> list[str]:
    """Split `text` into pieces of about `target` characters at the coarsest available boundary:
    blank lines, else line breaks, else "shad + space". Pieces are joined back with their separator,
    so nothing is lost; a file shorter than 2 * target stays whole."""
    if len(text) < 2 * target:
        return [text]
    sep, parts = " ", _SHAD_BREAK.split(text)
    for cand_sep, splitter in (("\n\n", re.compile(r"\n\s*\n")), ("\n", re.compile("\n"))):
        cand = splitter.split(text)
        if len(cand) > 1 and max(map(len, cand)) < 2 * target:
            sep, parts = cand_sep, cand
            break
    chunks, cur, size = [], [], 0
    for p in parts:
        cur.append(p)
        size += len(p) + len(sep)
        if size >= target:
            chunks.append(sep.join(cur))
            cur, size = [], 0
    if cur:
        chunks.append(sep.join(cur))
    return chunks


def source_settings(corpus: Path) -> dict[str, dict]:
    """Folder (relative to corpus) -> the genre and `segmented` flag sources.yaml gives it, so the
    bench sees documents as `make corpus` does (segmented sources re-joined, genre-aware rules)."""
    out: dict[str, dict] = {}
    try:
        sources = load_sources(REPO / "sources.yaml")
    except Exception as e:  # the bench still runs without sources.yaml, just without these hints
        print(f"sources.yaml not used ({e})")
        return out
    for src in sources:
        path = getattr(src.options, "path", None)
        if not path:
            continue
        p = src.resolve_path(path).resolve()
        if p.is_relative_to(corpus.resolve()):
            meta = {"genre": src.genre}
            if getattr(src.options, "segmented", False):
                meta["segmented"] = True
            out[str(p.relative_to(corpus.resolve()))] = meta
    return out


def load_docs(corpus: Path, target: int) -> list[Document]:
    settings = source_settings(corpus)
    docs = []
    for f in sorted(corpus.rglob("*.txt")):
        rel = f.relative_to(corpus)
        folder = str(rel.parent)
        text = f.read_bytes().decode("utf-8", errors="replace")
        for i, chunk in enumerate(chunk_text(text, target)):
            docs.append(Document(id=f"{rel}#{i}", text=chunk, source=folder, meta=dict(settings.get(folder, {}))))
    return docs


def run(docs: list[Document]) -> tuple[dict[str, StageStats], dict[str, float], list[Rejection], list[Document]]:
    """The runner's text path after extract, one stage after another; returns per-stage seconds."""
    # The runner's order (pipeline/corpus/runner.py): normalize -> clean -> segment -> filter.
    stages = [
        Normalizer(NormalizeConfig()),
        Cleaner(CleanConfig()),
        Segmenter(SegmentConfig()),
        QualityFilter(FilterConfig()),
    ]
    stats = {s.name: StageStats() for s in stages}
    seconds: dict[str, float] = {}
    rejects: list[Rejection] = []
    out = docs
    for s in stages:
        t0 = time.process_time()
        out = s(out, stats[s.name], rejects)
        seconds[s.name] = round(time.process_time() - t0, 3)
    return stats, seconds, rejects, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "text_path.json")
    ap.add_argument("--chunk-chars", type=int, default=20_000)
    ap.add_argument("--profile", action="store_true", help="print the top cProfile entries")
    args = ap.parse_args()

    docs = load_docs(args.corpus, args.chunk_chars)
    n_bytes = sum(len(d.text.encode("utf-8")) for d in docs)
    per_folder_in = Counter(d.source for d in docs)
    bytes_in = Counter()
    for d in docs:
        bytes_in[d.source] += len(d.text.encode("utf-8"))

    prof = cProfile.Profile() if args.profile else None
    t0, c0 = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    stats, stage_seconds, rejects, kept = run([Document(d.id, d.text, d.source, dict(d.meta)) for d in docs])
    if prof:
        prof.disable()
    wall = time.perf_counter() - t0
    # CPU seconds of this (single-threaded) process = seconds on one core; wall time on a shared
    # machine also counts the time other processes held the core.
    seconds = time.process_time() - c0

    mb = n_bytes / 1e6
    by_reason = Counter(r.reason for r in rejects)
    folders: dict[str, dict] = defaultdict(dict)
    kept_by = Counter(d.source for d in kept)
    in_bytes = {d.id: len(d.text.encode("utf-8")) for d in docs}  # input bytes: text changes on the way
    kept_bytes = Counter()
    for d in kept:
        kept_bytes[d.source] += in_bytes[d.id]
    drop_by = defaultdict(Counter)
    for r in rejects:
        drop_by[r.source][r.reason] += 1
    for folder in sorted(per_folder_in):
        folders[folder] = {
            "docs": per_folder_in[folder],
            "kept": kept_by[folder],
            "kept_doc_rate": round(kept_by[folder] / per_folder_in[folder], 4),
            "kept_byte_rate": round(kept_bytes[folder] / max(1, bytes_in[folder]), 4),
            "dropped": dict(drop_by[folder].most_common()),
        }

    result = {
        "bench": "text_path (normalize -> clean -> segment -> filter, one process)",
        "corpus": str(args.corpus),
        "documents": len(docs),
        "chunk_chars": args.chunk_chars,
        "mb": round(mb, 3),
        "cpu_seconds": round(seconds, 3),
        "wall_seconds": round(wall, 3),
        "mb_per_s_per_core": round(mb / seconds, 3),
        "target_mb_per_s_per_core": 2.0,
        "stage_cpu_seconds": stage_seconds,
        "stage_mb_per_s": {k: round(mb / v, 2) for k, v in stage_seconds.items() if v > 0},
        "kept": len(kept),
        "dropped": dict(by_reason.most_common()),
        "stages": {k: v.to_dict() for k, v in stats.items()},
        "folders": folders,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    write_json_atomic(args.out, result)

    print(
        f"{len(docs)} docs, {mb:.1f} MB in {seconds:.2f} CPU s ({wall:.2f} s wall) = {mb / seconds:.2f} MB/s per core"
    )
    print(f"stage CPU seconds: {stage_seconds}")
    print(f"kept {len(kept)}, dropped {dict(by_reason.most_common())}")
    for folder, f in folders.items():
        print(f"  {folder:40s} kept {f['kept']:4d}/{f['docs']:<4d} bytes {f['kept_byte_rate']:.1%}  {f['dropped']}")
    if prof:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(25)
        print(s.getvalue())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
