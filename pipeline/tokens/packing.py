"""Pure helpers of `tibcpt pack`: document copies, separators, bytes per token, the sequence packer.

No IO here: `tibcpt.pipeline.tokens.pack` reads the corpus and writes the shards.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
from tibcpt.pipeline.tokens.heldout import id_fraction

SHARD_SCHEMA = pa.schema(
    [
        ("input_ids", pa.list_(pa.int32())),
        ("n_bytes", pa.int64()),
        ("sources", pa.list_(pa.string())),
        ("source_tokens", pa.list_(pa.int32())),
    ]
)


def copies(doc_id: str, weight: float) -> int:
    """How many times a training document appears: floor(weight), plus one with probability frac(weight).

    The fractional part is decided by id hash, so the same documents are kept on every run.
    """
    whole = math.floor(weight)
    return whole + int(id_fraction(doc_id, "weight") < weight - whole)


def token_bytes(lengths: np.ndarray, n_bytes: np.ndarray) -> np.ndarray:
    """UTF-8 bytes attributed to each token of documents with `lengths` tokens and `n_bytes` bytes.

    Token j of a document covers floor((j+1)B/T) - floor(jB/T) bytes: proportional within a document,
    exact per document (sums to B), integer. Exact per-token offsets would need `offsets` per token
    from the tokenizer, which costs more than the tokenization itself; bits per byte only needs the
    sums to be right, and sequence-level sums are off by less than one token's share at each cut.
    """
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    j = np.arange(total, dtype=np.int64) - starts
    T = np.repeat(lengths.astype(np.int64), lengths)
    B = np.repeat(n_bytes.astype(np.int64), lengths)
    return ((j + 1) * B) // np.maximum(T, 1) - (j * B) // np.maximum(T, 1)


def with_separators(
    values: np.ndarray, lengths: np.ndarray, bos: int | None, eos: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Put `bos` before and `eos` after each document of the flat `values` (None: nothing there).

    Returns (values with separators, new lengths). Used for token ids and, with bos=eos=0, for the
    bytes per token (a separator covers no source text).
    """
    nb, ne = int(bos is not None), int(eos is not None)
    n = len(lengths)
    new_lengths = lengths.astype(np.int64) + nb + ne
    out = np.empty(int(new_lengths.sum()), values.dtype)
    doc = np.repeat(np.arange(n), lengths)
    out[np.arange(len(values)) + (doc + 1) * nb + doc * ne] = values
    starts = np.cumsum(new_lengths) - new_lengths
    if nb:
        out[starts] = bos
    if ne:
        out[starts + new_lengths - 1] = eos
    return out, new_lengths


def with_eos(ids: np.ndarray, lengths: np.ndarray, eos_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Insert `eos_id` after each document of the flat `ids`; return (ids, new lengths)."""
    out, new_lengths = with_separators(ids.astype(np.int32), lengths, None, eos_id)
    return out, new_lengths


class Packer:
    """Concatenates documents of one split and cuts full `seq_len` sequences; keeps the remainder."""

    def __init__(self, seq_len: int, n_sources: int, bos: int | None, eos: int | None) -> None:
        self.seq_len, self.n_sources, self.bos, self.eos = seq_len, n_sources, bos, eos
        self.ids = np.zeros(0, np.int32)
        self.nbytes = np.zeros(0, np.int64)
        self.src = np.zeros(0, np.int32)

    def add(self, ids: np.ndarray, lengths: np.ndarray, n_bytes: np.ndarray, src: np.ndarray) -> dict:
        """Add documents (flat ids, no separators); return the finished sequences as column arrays."""
        tb, _ = with_separators(token_bytes(lengths, n_bytes), lengths, 0 if self.bos is not None else None,
                                0 if self.eos is not None else None)  # fmt: skip
        ids, new_lengths = with_separators(ids.astype(np.int32), lengths, self.bos, self.eos)
        self.ids = np.concatenate([self.ids, ids])
        self.nbytes = np.concatenate([self.nbytes, tb])
        self.src = np.concatenate([self.src, np.repeat(src.astype(np.int32), new_lengths)])
        n = len(self.ids) // self.seq_len
        cut = n * self.seq_len
        seqs = self.ids[:cut].reshape(n, self.seq_len)
        seq_bytes = self.nbytes[:cut].reshape(n, self.seq_len).sum(axis=1)
        rows = self.src[:cut].reshape(n, self.seq_len)
        counts = np.stack([np.bincount(r, minlength=self.n_sources) for r in rows]) if n else np.zeros((0, 0))
        self.ids, self.nbytes, self.src = self.ids[cut:], self.nbytes[cut:], self.src[cut:]
        return {"ids": seqs, "n_bytes": seq_bytes, "source_counts": counts.reshape(n, self.n_sources)}


def sequences_table(batch: dict, source_names: list[str]) -> pa.Table:
    """Arrow table of packed sequences (SHARD_SCHEMA) from `Packer.add` output."""
    ids = batch["ids"]
    n, L = ids.shape
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * L)
    input_ids = pa.ListArray.from_arrays(offsets, pa.array(ids.reshape(-1), pa.int32()))
    sources, source_tokens = [], []
    for row in batch["source_counts"]:
        nz = np.nonzero(row)[0]
        sources.append([source_names[i] for i in nz])
        source_tokens.append(row[nz].astype(np.int32).tolist())
    return pa.Table.from_arrays(
        [input_ids, pa.array(batch["n_bytes"], pa.int64()), pa.array(sources, pa.list_(pa.string())),
         pa.array(source_tokens, pa.list_(pa.int32()))],
        schema=SHARD_SCHEMA,
    )  # fmt: skip
