"""Packed token shards as the HF Trainer reads them in the bench scripts (train_speed_hf, train_fsdp_hf)."""

from __future__ import annotations

from pathlib import Path


def packed_sequences(shards: str) -> list[dict]:
    """Every train sequence of a tibcpt shard folder as {"input_ids": LongTensor} (labels = inputs)."""
    import pyarrow.parquet as pq
    import torch

    files = sorted(Path(shards, "train").glob("*.parquet"))
    rows = [r for f in files for r in pq.read_table(f, columns=["input_ids"]).column(0).to_pylist()]
    return [{"input_ids": torch.tensor(r, dtype=torch.int64)} for r in rows]


def collate(items: list[dict]) -> dict:
    """A batch of packed sequences: causal-LM labels are the inputs (the model shifts them)."""
    import torch

    ids = torch.stack([x["input_ids"] for x in items])
    return {"input_ids": ids, "labels": ids}
