"""The training stream reads the next Parquet row group in a background thread (training/data.py)."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
from tibcpt.training import data
from tibcpt.training.data import ShardFolder, iter_sequences, read_row_group, row_group_order

from tibcpt.errors import InputError


def synchronous(split, seed: int, start: int, n: int) -> list[np.ndarray]:
    """The stream as plain reading in row_group_order gives it: one read, then its rows."""
    out = []
    for epoch, g, offset in row_group_order(split, seed, start):
        ids, _ = read_row_group(split.row_groups[g], split.seq_len)
        rows = np.random.default_rng((seed, epoch, g)).permutation(split.row_groups[g].n_rows)
        out += [ids[r] for r in rows[offset:]]
        if len(out) >= n:
            return out[:n]


@pytest.mark.parametrize("start", [0, 37])
def test_read_ahead_yields_the_synchronous_stream_across_epochs(assets, start):
    split = ShardFolder(assets["tibetan"]).split("train")
    assert len(split.row_groups) > 2  # several groups: the read-ahead crosses group and epoch edges
    n = int(split.n_sequences * 2.5)
    got = [ids for (ids, _), _ in zip(iter_sequences(split, 5, start), range(n))]
    want = synchronous(split, 5, start, n)
    assert len(got) == n and all(np.array_equal(a, b) for a, b in zip(got, want))


def test_next_row_group_is_read_while_the_first_is_consumed(assets, monkeypatch):
    split = ShardFolder(assets["tibetan"]).split("train")
    calls, second = [], threading.Event()

    def counting(rg, seq_len):
        calls.append(rg.index)
        if len(calls) == 2:
            second.set()
        return read_row_group(rg, seq_len)

    monkeypatch.setattr(data, "read_row_group", counting)
    it = iter_sequences(split, 0)
    next(it)  # the first row of the first group; the second group is requested now, not at its first row
    assert second.wait(timeout=30), f"only {len(calls)} row group read after the first row"
    order = row_group_order(split, 0)
    assert calls[:2] == [split.row_groups[g].index for _, g, _ in (next(order), next(order))]
    it.close()  # the reading thread is joined; nothing is left running


def test_a_corrupt_row_group_is_a_one_line_error_naming_the_file(assets, tmp_path):
    folder = shutil.copytree(assets["tibetan"], tmp_path / "shards")
    split = ShardFolder(folder).split("train")
    path = split.row_groups[0].path
    raw = bytearray(path.read_bytes())
    raw[4 : len(raw) // 2] = b"\0" * (len(raw) // 2 - 4)  # data pages zeroed, footer intact
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"shard-00000\.parquet: row group \d+ cannot be read"):
        for _ in iter_sequences(split, 0):
            pass
