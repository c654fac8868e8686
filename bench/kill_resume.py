"""Kill `tibcpt corpus` with SIGKILL at random points, resume it, and check the output is the uninterrupted one.

    python bench/kill_resume.py                 # 12 trials -> bench/results/kill_resume.json
    python bench/kill_resume.py --trials 20 --seed 1

Input: a slice of the real sample corpus in ../shared/corpus (a Derge Kangyur volume head, children's
stories, nanhai prose, the UDHR plus a copy of it, and a jsonl of records), with `items_per_task=1`
so the text phase has many resumable tasks. Each trial starts from an empty output folder, runs the
user's command (`python -m tibcpt.cli corpus ...`) in a subprocess, kills it with SIGKILL after a
random delay (up to two kills per trial, the second during the resumed run), then runs it to the end.
The result must equal the uninterrupted reference byte for byte: every `data/shard-*.parquet` and
`rejected.parquet` (sha256), and the manifest's counts (`totals`, `stages`, `sources`, `shards`).
Each kill records what the run had reached (text tasks done, dedup done, manifest present, temp
files left) so the results show the kills spread over the phases.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "corpus"
RESULTS = REPO / "bench" / "results" / "kill_resume.json"


def make_inputs(root: Path, shared: Path = SHARED) -> Path:
    """A small, varied slice of the real sample corpus and its sources.yaml."""
    ket = root / "in" / "kangyur"
    ket.mkdir(parents=True)
    lines = (shared / "classical/derge-kangyur/vol060_sutra_ma.txt").read_text(encoding="utf-8").splitlines()
    (ket / "vol060_head.txt").write_text("\n".join(lines[:300]) + "\n", encoding="utf-8")
    mod = root / "in" / "modern"
    mod.mkdir()
    for f in sorted((shared / "modern/childrens-stories").glob("L3-*.txt"))[:8]:
        shutil.copy(f, mod / f.name)
    for f in sorted((shared / "modern/nanhai-modern-writing").glob("*.txt"))[:4]:
        shutil.copy(f, mod / f.name)
    shutil.copy(shared / "modern/udhr/udhr_bod.txt", mod / "udhr.txt")
    shutil.copy(shared / "modern/udhr/udhr_bod.txt", mod / "udhr_copy.txt")  # an exact duplicate
    texts = [
        f.read_text(encoding="utf-8") for f in sorted((shared / "modern/nanhai-modern-writing").glob("*.txt"))[4:8]
    ]
    recs = "".join(json.dumps({"id": f"r{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts))
    (mod / "records.jsonl").write_text(recs, encoding="utf-8")
    y = root / "sources.yaml"
    y.write_text(
        "sources:\n"
        f"  - {{name: kangyur, kind: etext, license: LicenseRef-public-domain, genre: religious, path: {ket}}}\n"
        f"  - {{name: modern, kind: local, license: CC-BY-NC-4.0, genre: literature, path: {mod}}}\n"
    )
    return y


def command(sources: Path, out: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "tibcpt.cli", "corpus", "--sources", str(sources), "--out", str(out),
            "--workers", str(workers), "items_per_task=1"]  # fmt: skip


MARKERS = {"text": "text phase:", "dedup": "exact dedup", "write": "write:"}


def run_to_end(cmd: list[str]) -> float:
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"corpus run failed:\n{r.stderr[-3000:]}")
    return time.time() - t0


def timeline(cmd: list[str]) -> dict[str, float]:
    """Seconds from start at which an uninterrupted run enters each phase (from its progress output)."""
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: dict[str, float] = {}
    buf = b""
    while chunk := proc.stderr.read1(4096):
        buf += chunk
        for phase, marker in MARKERS.items():
            if phase not in seen and marker.encode() in buf:
                seen[phase] = time.time() - t0
    if proc.wait() != 0:
        raise RuntimeError(f"corpus run failed:\n{buf[-3000:].decode(errors='replace')}")
    seen["end"] = time.time() - t0
    return seen


def kill_delay(rng: random.Random, tl: dict[str, float]) -> tuple[str, float]:
    """A phase drawn at random, then a moment drawn uniformly inside it, so short phases get kills too."""
    bounds = [
        ("text", tl["text"], tl["dedup"]),
        ("dedup", tl["dedup"], tl["write"]),
        ("write+manifest", tl["write"], tl["end"]),
    ]
    phase, lo, hi = rng.choice(bounds)
    return phase, rng.uniform(lo, hi)


def state(out: Path) -> dict[str, Any]:
    """What a killed run had reached."""
    work = out / "_work"
    return {
        "text_tasks_done": len(list((work / "text").rglob("stats-*.json"))) if work.exists() else 0,
        "dedup_done": (work / "dedup" / "info.json").exists(),
        "shards": len(list((out / "data").glob("shard-*.parquet"))) if (out / "data").exists() else 0,
        "manifest": (out / "manifest.json").exists(),
        "temp_files": len(list(out.rglob(".tmp-*"))) if out.exists() else 0,
    }


def kill_after(cmd: list[str], delay: float) -> dict[str, Any]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    try:
        rc = proc.wait(timeout=delay)
        return {"delay_s": round(delay, 2), "killed": False, "rc": rc, "finished_in_s": round(time.time() - t0, 2)}
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)  # the runner only: its pool workers must die with it
        proc.wait()
        return {"delay_s": round(delay, 2), "killed": True}


def fingerprint(out: Path) -> dict[str, Any]:
    files = sorted((out / "data").glob("shard-*.parquet")) + [out / "rejected.parquet"]
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {
        "sha256": {f.relative_to(out).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest() for f in files},
        "manifest": {k: m[k] for k in ("totals", "stages", "sources", "shards")},
    }


def trials(n: int, seed: int, workers: int, root: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    sources = make_inputs(root)
    ref_out = root / "ref"
    tl = timeline(command(sources, ref_out, workers))
    t_ref = tl["end"]
    ref = fingerprint(ref_out)
    rows = []
    for i in range(n):
        out = root / f"trial{i:02d}"
        cmd = command(sources, out, workers)
        kills = []
        for j in range(rng.choice((1, 2))):
            # First kill: inside a phase of a fresh run. Second: anywhere in the resumed run.
            phase, delay = kill_delay(rng, tl) if j == 0 else ("resume", rng.uniform(tl["text"] * 0.8, t_ref))
            k = kill_after(cmd, delay) | {"aimed_at": phase}
            k["state_after"] = state(out)
            kills.append(k)
        resume_s = run_to_end(cmd)
        got = fingerprint(out)
        rows.append({"trial": i, "kills": kills, "resume_s": round(resume_s, 2),
                     "identical": got == ref, "leftover_temp_files": len(list(out.rglob(".tmp-*")))})  # fmt: skip
        print(f"trial {i}: kills at {[(k['aimed_at'], k['delay_s']) for k in kills]} -> {[k['state_after'] for k in kills]}; "
              f"identical={got == ref}")  # fmt: skip
        shutil.rmtree(out)
    n_kills = sum(k["killed"] for r in rows for k in r["kills"])
    return {
        "input": "slice of ../shared/corpus: Kangyur vol060 head (300 lines), 8 children's stories, 4+4 nanhai, UDHR x2",
        "workers": workers,
        "seed": seed,
        "reference_seconds": round(t_ref, 2),
        "reference_phase_start_s": {k: round(v, 2) for k, v in tl.items()},
        "reference": {
            "docs_out": ref["manifest"]["totals"]["docs_out"],
            "rejected": ref["manifest"]["totals"]["rejected"],
        },
        "trials": rows,
        "kills": n_kills,
        "kills_by_phase": {
            p: sum(1 for r in rows for k in r["kills"] if k["killed"] and k["aimed_at"] == p)
            for p in ("text", "dedup", "write+manifest", "resume")
        },
        "kills_leaving_shards_without_manifest": sum(
            1
            for r in rows
            for k in r["kills"]
            if k["killed"] and k["state_after"]["shards"] and not k["state_after"]["manifest"]
        ),
        "all_identical": all(r["identical"] for r in rows),
        "no_leftover_temp_files": all(r["leftover_temp_files"] == 0 for r in rows),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kill-resume-") as td:
        res = trials(args.trials, args.seed, args.workers, Path(td))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(f"{res['kills']} kills over {args.trials} trials: all identical = {res['all_identical']}")
    return 0 if res["all_identical"] else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
