"""Running one trainer process for the GPU benches (train_speed.py, train_fsdp.py), and merging a
device call's results into the stored ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def merge_results(out_path: Path, files: list[str], summarize) -> dict:
    """Add the runs of each results JSON in `files` (a device call's) to `out_path`'s, recompute its
    summary with `summarize(results)`, write it atomically and return the summary."""
    from tibcpt.io import write_json_atomic

    results = json.loads(out_path.read_text()) if out_path.is_file() else {}
    results.setdefault("runs", {})
    for f in files:
        other = json.loads(Path(f).read_text())
        results["runs"].update(other["runs"])
        if other.get("setup"):
            results.setdefault("setup", other["setup"])
    results["summary"] = summarize(results)
    write_json_atomic(out_path, results)
    return results["summary"]


def max_loss_gap(a: dict, b: dict, digits: int = 4) -> float | None:
    """Largest |loss difference| at the steps both runs logged ({step: loss} each), or None."""
    common = set(a) & set(b)
    return round(max(abs(a[k] - b[k]) for k in common), digits) if common else None


def read_train_log(out: Path) -> list[dict]:
    """The `train` records of `out`/train_log.jsonl so far (a line rank 0 is still writing is skipped)."""
    path = out / "train_log.jsonl"
    if not path.is_file():
        return []
    recs = []
    for line in path.read_text().splitlines():
        try:
            recs.append(json.loads(line))
        except ValueError:  # empty, or a line rank 0 is still writing
            continue
    return [r for r in recs if r.get("kind") == "train"]


def launch(
    cmd: list[str], env: dict, log_path: Path, train_out: Path | None, stop: int | None, timeout: float
) -> tuple[int, float | None, float]:
    """Run `cmd` in its own process group; end the whole group (launcher and its workers) once
    `train_out`'s train_log has step `stop` or at `timeout`. Returns (rc: 0 when stopped at `stop`,
    124 at the timeout; seconds to the first train record, or None; wall seconds)."""
    t0 = time.time()
    first = None
    with log_path.open("w") as logf:
        p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)
        rc = None
        while p.poll() is None:
            steps = [r["step"] for r in read_train_log(train_out)] if train_out is not None else []
            if steps and first is None:
                first = time.time() - t0
            done = bool(stop and steps and max(steps) >= stop)
            if done or time.time() - t0 > timeout:
                rc = 0 if done else 124
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        p.wait()
    for _ in range(60):  # the workers may outlive the launcher by a moment: the next run needs their GPU memory
        try:
            os.killpg(p.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    else:
        os.killpg(p.pid, signal.SIGKILL)
    return (p.returncode if rc is None else rc), first, time.time() - t0
