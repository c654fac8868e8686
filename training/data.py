"""Streaming, deterministic, resumable batches from token shard folders.

Input is only the folder on disk (docs/CONTRACTS.md, "Token shard folder"); nothing here knows
how it was made. Memory holds two Parquet row groups (one read ahead). The order of one epoch is a
seeded permutation of row groups, then of rows inside each row group (a two-level shuffle, as
in streaming loaders such as MosaicML streaming: random enough for pretraining, and any
position can be reached by skipping whole row groups from metadata without reading them).

The whole data position is one integer `k`, the number of sequences the mixed stream has yielded.
Replay mixing is an exact interleave: sample k comes from the replay set iff
floor((k+1)·r) > floor(k·r), so after k samples floor(k·r) came from replay and the rest from the
main set. Resuming from a checkpoint therefore only needs `k`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from tibcpt.errors import ConfigError, InputError

SHARD_FORMAT = "tibcpt-shards-v1"


@dataclass(frozen=True)
class RowGroup:
    """One readable unit: row group `index` of `path` with `n_rows` sequences."""

    path: Path
    index: int
    n_rows: int


@dataclass(frozen=True)
class Split:
    """One split (train/validation) of a shard folder."""

    name: str
    row_groups: tuple[RowGroup, ...]
    seq_len: int

    @property
    def n_sequences(self) -> int:
        return sum(rg.n_rows for rg in self.row_groups)


class ShardFolder:
    """A token shard folder: manifest, tokenizer/ and split folders, validated on open."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        manifest_path = self.path / "manifest.json"
        if not manifest_path.is_file():
            raise InputError(f"shard folder {self.path} has no manifest.json (run `tibcpt pack` first)")
        self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if self.manifest.get("format") != SHARD_FORMAT:
            raise InputError(f"{manifest_path}: format {self.manifest.get('format')!r}, expected {SHARD_FORMAT!r}")
        self.seq_len = int(self.manifest["seq_len"])
        self.eos_token_id = int(self.manifest["eos_token_id"])
        self.vocab_size = int(self.manifest["vocab_size"])
        self.tokenizer_path = self.path / "tokenizer"
        if not self.tokenizer_path.is_dir():
            raise InputError(f"shard folder {self.path} has no tokenizer/ folder")

    def split(self, name: str) -> Split:
        folder = self.path / name
        files = sorted(folder.glob("*.parquet"))
        if not files:
            raise InputError(f"shard folder {self.path} has no {name}/*.parquet")
        groups = []
        for f in files:
            meta = pq.ParquetFile(f).metadata
            groups += [RowGroup(f, i, meta.row_group(i).num_rows) for i in range(meta.num_row_groups)]
        return Split(name, tuple(g for g in groups if g.n_rows), self.seq_len)


def read_row_group(rg: RowGroup, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids [n, seq_len] int64, n_bytes [n] int64) of one row group."""
    try:
        table = pq.ParquetFile(rg.path).read_row_group(rg.index, columns=["input_ids", "n_bytes"])
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid/ArrowIOError derive from these
        raise InputError(f"{rg.path}: row group {rg.index} cannot be read ({e})") from None
    flat = table.column("input_ids").combine_chunks().flatten().to_numpy()
    ids = flat.astype(np.int64).reshape(-1, seq_len)
    n_bytes = table.column("n_bytes").to_numpy().astype(np.int64)
    return ids, n_bytes


def row_group_order(split: Split, seed: int, start: int = 0) -> Iterator[tuple[int, int, int]]:
    """Endless (epoch, row-group index, first row) in the order iter_sequences reads them, beginning
    at global position `start`; row groups before it are skipped from metadata alone."""
    n = split.n_sequences
    if n == 0:
        raise InputError(f"split {split.name!r} is empty")
    epoch, offset = divmod(start, n)
    groups = split.row_groups
    while True:
        for g in np.random.default_rng((seed, epoch)).permutation(len(groups)):
            if offset >= groups[g].n_rows:
                offset -= groups[g].n_rows
                continue
            yield epoch, int(g), offset
            offset = 0
        epoch += 1


def iter_sequences(split: Split, seed: int, start: int = 0) -> Iterator[tuple[np.ndarray, int]]:
    """Endless (input_ids, n_bytes) over shuffled epochs, beginning at global position `start`.

    The next row group is read in a background thread while this one's rows are yielded (Parquet
    decoding releases the GIL), so the training loop never waits on a read: on 2 GPUs every rank
    reads every row group, and each read (30-60 ms in bench/data_speed.py) stalled both ranks.
    Memory holds two row groups."""
    order = row_group_order(split, seed, start)
    groups = split.row_groups
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tibcpt-read") as pool:
        nxt = next(order)
        pending = pool.submit(read_row_group, groups[nxt[1]], split.seq_len)
        while True:
            (epoch, g, offset), (ids, n_bytes) = nxt, pending.result()
            nxt = next(order)
            pending = pool.submit(read_row_group, groups[nxt[1]], split.seq_len)
            for r in np.random.default_rng((seed, epoch, g)).permutation(groups[g].n_rows)[offset:]:
                yield ids[r], int(n_bytes[r])


def n_replay(k: int, ratio: float) -> int:
    """Replay samples among the first k of the mixed stream."""
    return math.floor(k * ratio)


def iter_mixed(
    main: Split, replay: Split | None, ratio: float, seed: int, start: int = 0
) -> Iterator[tuple[np.ndarray, int, bool]]:
    """(input_ids, n_bytes, is_replay) for mixed-stream positions start, start+1, ..."""
    r0 = n_replay(start, ratio) if replay is not None else 0
    main_it = iter_sequences(main, seed, start - r0)
    replay_it = iter_sequences(replay, seed + 1, r0) if replay is not None else None
    k = start
    while True:
        if replay_it is not None and n_replay(k + 1, ratio) > n_replay(k, ratio):
            ids, nb = next(replay_it)
            yield ids, nb, True
        else:
            ids, nb = next(main_it)
            yield ids, nb, False
        k += 1


def samples_for_epochs(n_main: int, epochs: float, ratio: float) -> int:
    """Mixed-stream samples needed so that the main split is seen `epochs` times."""
    need = math.ceil(n_main * epochs)
    k = math.ceil(need / (1.0 - ratio))
    while k - n_replay(k, ratio) < need:  # float rounding guard
        k += 1
    return k


@dataclass
class Batch:
    """One micro-batch for this rank."""

    input_ids: torch.Tensor
    n_bytes: torch.Tensor
    n_replay: int
    padding: bool = False
    """An evaluation filler batch: run through the model, never counted (see iter_eval_batches)."""


def iter_train_batches(
    main: Split,
    replay: Split | None,
    ratio: float,
    seed: int,
    batch_size: int,
    rank: int = 0,
    world: int = 1,
    start: int = 0,
) -> Iterator[Batch]:
    """Micro-batches of this rank: micro-batch j of the mixed stream goes to rank j % world.

    Every rank reads the same deterministic stream and keeps its share, so no sampler state
    needs to be exchanged and the global order does not depend on the number of workers' timing.
    """
    it = iter_mixed(main, replay, ratio, seed, start)
    j = 0
    while True:
        rows = [next(it) for _ in range(batch_size)]
        if j % world == rank:
            yield Batch(
                input_ids=torch.from_numpy(np.stack([r[0] for r in rows])),
                n_bytes=torch.tensor([r[1] for r in rows], dtype=torch.int64),
                n_replay=sum(r[2] for r in rows),
            )
        j += 1


def iter_eval_batches(
    split: Split, batch_size: int, rank: int = 0, world: int = 1, max_sequences: int | None = None
) -> Iterator[Batch]:
    """Validation batches in file order (no shuffle), micro-batch j to rank j % world."""
    limit = split.n_sequences if max_sequences is None else min(max_sequences, split.n_sequences)
    seen, j = 0, 0
    buf_ids: list[np.ndarray] = []
    buf_nb: list[int] = []
    for rg in split.row_groups:
        if seen >= limit:
            break
        ids, n_bytes = read_row_group(rg, split.seq_len)
        for r in range(min(len(ids), limit - seen)):
            buf_ids.append(ids[r])
            buf_nb.append(int(n_bytes[r]))
            seen += 1
            if len(buf_ids) == batch_size:
                if j % world == rank:
                    yield Batch(torch.from_numpy(np.stack(buf_ids)), torch.tensor(buf_nb), 0)
                buf_ids, buf_nb, j = [], [], j + 1
    if buf_ids:
        if j % world == rank:
            yield Batch(torch.from_numpy(np.stack(buf_ids)), torch.tensor(buf_nb), 0)
        j += 1
    # Every rank must run the same number of forward passes: under FSDP each forward all-gathers
    # parameters, so a rank with one batch fewer leaves the others waiting forever (seen on 2 GPUs).
    per_rank = -(-j // world)
    mine = j // world + (1 if rank < j % world else 0)
    for _ in range(per_rank - mine):
        yield Batch(torch.zeros(1, split.seq_len, dtype=torch.long), torch.zeros(1, dtype=torch.long), 0, padding=True)


def open_shards(cfg) -> dict[str, ShardFolder]:
    """Open and cross-check the shard folders of a TrainConfig: replay/general sets must share the tokenizer."""
    folders = {"tibetan": ShardFolder(cfg.data.shards)}
    if cfg.data.replay_shards:
        folders["replay"] = ShardFolder(cfg.data.replay_shards)
    if cfg.data.general_eval_shards:
        folders["general"] = ShardFolder(cfg.data.general_eval_shards)
    sha = folders["tibetan"].manifest.get("tokenizer", {}).get("sha256")
    for name, f in folders.items():
        other = f.manifest.get("tokenizer", {}).get("sha256")
        if sha and other and other != sha:
            raise ConfigError(f"data: {name} shards {f.path} use a different tokenizer than {cfg.data.shards}")
    if "replay" in folders and folders["replay"].seq_len != folders["tibetan"].seq_len:
        raise ConfigError("data.replay_shards: seq_len differs from data.shards")
    return folders
