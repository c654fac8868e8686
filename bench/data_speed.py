"""How long the training loop waits for its batches: row groups read ahead in a thread (the
default, training/data.py) against reading each row group when its first row is needed.

    python bench/data_speed.py                      # synthetic folder -> bench/results/data_speed.json
    python bench/data_speed.py --shards out/shards  # a folder `tibcpt pack` wrote

Why: on 2 H200s (bench/results/train_speed.json, rounds 7-10) the log's `data` share is 4-6 % in
every third 5-step interval, on both ranks: every rank reads every row group of the stream (it keeps
its own micro-batches), so a 2-GPU run reads twice as often per step as a 1-GPU run, and a read
stalls both ranks at the next all-reduce.

The loop stands in for the trainer's host thread: per micro-batch it holds the GIL for
`host_share` of `step_ms` (Python launching kernels), then sleeps the rest (waiting on the GPU),
so a reading thread that held the GIL would show up as a longer step, not only as data wait.
Synthetic folder: `tibcpt pack`'s layout (1,024-sequence row groups, zstd) of 2,048-token rows with
Zipf-distributed ids over a 68,857-token vocabulary (compresses like real ids within ~2x).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from tibcpt.training import data  # noqa: E402
from tibcpt.training.data import ShardFolder, iter_train_batches, read_row_group, row_group_order  # noqa: E402

from tibcpt.io import write_json_atomic  # noqa: E402

SEQ, VOCAB, ROW_GROUP = 2048, 68_857, 1024


def synthetic_folder(root: Path, n_groups: int) -> Path:
    rng = np.random.default_rng(0)
    (root / "train").mkdir(parents=True)
    (root / "tokenizer").mkdir()
    n = n_groups * ROW_GROUP
    ids = np.minimum(rng.zipf(1.2, size=(n, SEQ)), VOCAB - 1).astype(np.int32)
    table = pa.table(
        {
            "input_ids": pa.FixedSizeListArray.from_arrays(pa.array(ids.ravel()), SEQ),
            "n_bytes": pa.array(np.full(n, 6000, dtype=np.int64)),
        }
    )
    pq.write_table(table, root / "train" / "shard-00000.parquet", row_group_size=ROW_GROUP, compression="zstd")
    manifest = {"format": data.SHARD_FORMAT, "seq_len": SEQ, "eos_token_id": 0, "vocab_size": VOCAB}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def synchronous_sequences(split, seed, start=0):
    """The stream without read-ahead: a row group is read when its first row is needed."""
    for epoch, g, offset in row_group_order(split, seed, start):
        ids, n_bytes = read_row_group(split.row_groups[g], split.seq_len)
        for r in np.random.default_rng((seed, epoch, g)).permutation(split.row_groups[g].n_rows)[offset:]:
            yield ids[r], int(n_bytes[r])


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:  # pure Python: holds the GIL, as kernel launches do
        x += 1


def run(split, mode: str, world: int, steps: int, batch: int, step_ms: float, host_share: float) -> dict:
    if mode == "synchronous":
        data.iter_sequences, saved = synchronous_sequences, data.iter_sequences
    try:
        batches = iter_train_batches(split, None, 0.0, 0, batch, rank=0, world=world)
        next(batches)  # the first read is the start-up's, not the loop's
        waits, steps_s = [], []
        for _ in range(steps):
            t0 = time.perf_counter()
            next(batches)
            t1 = time.perf_counter()
            busy(step_ms / 1000 * host_share)
            time.sleep(step_ms / 1000 * (1 - host_share))
            waits.append(t1 - t0)
            steps_s.append(time.perf_counter() - t1)
        batches.close()
    finally:
        if mode == "synchronous":
            data.iter_sequences = saved
    w = np.array(waits) * 1000
    s = np.array(steps_s) * 1000
    return {
        "mode": mode,
        "world": world,
        "steps": steps,
        "wait_ms_mean": round(float(w.mean()), 3),
        "wait_ms_p99": round(float(np.percentile(w, 99)), 2),
        "wait_ms_max": round(float(w.max()), 2),
        "data_share": round(float(w.sum() / (w.sum() + s.sum())), 4),
        "step_ms_mean_excl_wait": round(float(s.mean()), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", help="a shard folder (default: a synthetic one in a temporary folder)")
    ap.add_argument("--steps", type=int, default=160)
    ap.add_argument("--batch", type=int, default=16, help="sequences per micro-batch per rank")
    ap.add_argument("--step-ms", type=float, default=50.0)
    ap.add_argument("--host-share", type=float, default=0.6)
    ap.add_argument("--out", default=str(REPO / "bench/results/data_speed.json"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        folder = Path(a.shards) if a.shards else synthetic_folder(Path(td) / "shards", n_groups=3)
        split = ShardFolder(folder).split("train")
        t = time.perf_counter()
        read_row_group(split.row_groups[0], split.seq_len)
        read_ms = (time.perf_counter() - t) * 1000
        runs = [
            run(split, mode, world, a.steps, a.batch, a.step_ms, a.host_share)
            for world in (1, 2)
            for mode in ("synchronous", "read-ahead")
        ]
    for r in runs:
        print(r)
    result = {
        "setup": {
            "shards": a.shards or f"synthetic: 3 row groups of {ROW_GROUP} x {SEQ} tokens, zstd",
            "row_group_rows": split.row_groups[0].n_rows,
            "one_row_group_read_ms": round(read_ms, 1),
            "batch": a.batch,
            "step_ms": a.step_ms,
            "host_share": a.host_share,
            "machine": "this repository's 2-core development machine",
        },
        "runs": runs,
    }
    write_json_atomic(Path(a.out), result)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
