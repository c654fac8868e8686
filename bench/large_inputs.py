"""Peak memory of `tibcpt corpus` on one large .txt file, read whole vs cut at `max_doc_chars`.

    python bench/large_inputs.py            # -> bench/results/large_inputs.json

Input: every Derge Kangyur volume and every classical-tibetan-corpus book of ../shared/corpus,
concatenated three times into one ~39 MB UTF-8 .txt (`split: file`, the default), the shape of a
large digitised collection delivered as one file. Each configuration runs the user's command
(`python -m tibcpt.cli corpus --workers 1`, so the whole text path runs in one process) in a fresh
subprocess; the peak is that process's maximum resident set size (getrusage RUSAGE_CHILDREN).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "corpus"
CUTS = (2_000_000, 500_000, 200_000, 50_000)
RESULTS = REPO / "bench" / "results" / "large_inputs.json"


def make_input(folder: Path, copies: int = 3) -> Path:
    books = sorted((SHARED / "classical/derge-kangyur").glob("vol*.txt"))
    books += sorted((SHARED / "classical/classical-tibetan-corpus").glob("*.txt"))
    texts = [b.read_text(encoding="utf-8").lstrip("\ufeff") for b in books]  # read once, written `copies` times
    out = folder / "collection.txt"
    with open(out, "w", encoding="utf-8") as f:
        for i in range(copies):
            for t in texts:
                f.write(t)
                f.write(f"\n{i}\n")
    return out


_WRAPPER = """
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
if rc:
    sys.exit(rc)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def run(folder: Path, big: Path, name: str, max_doc_chars: int | None) -> dict:
    y = folder / f"{name}.yaml"
    extra = f", max_doc_chars: {max_doc_chars}" if max_doc_chars else ""
    y.write_text(f"sources:\n  - {{name: big, kind: local, license: MIT, genre: history, path: {big}{extra}}}\n")
    out = folder / name
    cmd = [sys.executable, "-m", "tibcpt.cli", "corpus", "--sources", str(y), "--out", str(out), "--workers", "1"]
    t0 = time.time()
    # A fresh wrapper per run: RUSAGE_CHILDREN is a maximum over every child a process ever had.
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True, timeout=1800)
    seconds = time.time() - t0
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    peak_kb = int(proc.stdout.strip().splitlines()[-1])
    m = json.loads((out / "manifest.json").read_text())
    return {
        "max_doc_chars": max_doc_chars or "default",
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "seconds": round(seconds, 1),
        "docs_in": m["totals"]["docs_in"],
        "docs_out": m["totals"]["docs_out"],
        "syllables_kept": m["totals"]["syllables"],
        "dropped_by_reason": m["totals"]["dropped_by_reason"],
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="large-inputs-") as td:
        folder = Path(td)
        big = make_input(folder)
        size = big.stat().st_size
        runs = [run(folder, big, f"cut{n}", n) for n in CUTS] + [run(folder, big, "whole", 10**12)]
    res = {"input_bytes": size, "input": "Derge Kangyur vols + classical-tibetan-corpus books x3, one .txt",
           "runs": runs}  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
