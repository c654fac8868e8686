"""Candidate generation for `tibcpt.pipeline.dedup.near`: LSH banding in memory (datasketch) or on disk.

Both yield batches of candidate pairs `(i, j)` (int64 arrays, i < j) of document indices that share
at least one LSH band; `near_dedup` verifies and clusters them. Given the same signatures both
backends find the same bucket co-members (the disk backend keys a band by a 64-bit hash of its rows
instead of the rows' bytes, so only a 2^-64-scale hash collision could add a candidate, and every
candidate is verified anyway): a test checks they give identical clusters.

Disk backend, for the full mission scale (a few million documents): band records
(band_hash uint64, doc_index uint32) go to `disk_partitions` files per band (partition = hash mod P);
each file is then loaded alone, sorted with numpy argsort and its equal-hash runs emitted. Peak RAM
is one partition file (12 bytes x docs / P) plus the signature memmap pages in use.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from datasketch import LeanMinHash, MinHashLSH
from tqdm import tqdm

if TYPE_CHECKING:
    from tibcpt.pipeline.dedup.near import NearDedupConfig

log = logging.getLogger(__name__)

SCHEME = "affine32"
"""datasketch 2.x permutation scheme: bijective a*h+b mod 2^32 after a MurmurHash3 pre-mix."""

RECORD = np.dtype([("h", "<u8"), ("i", "<u4")])
_PAIR_BATCH = 65_536
_ROW_CHUNK = 65_536  # signature rows hashed per step of the disk backend's banding pass


def _batched(pairs: Iterator[tuple[int, int]]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    buf: list[tuple[int, int]] = []
    for p in pairs:
        buf.append(p)
        if len(buf) >= _PAIR_BATCH:
            a = np.array(buf, dtype=np.int64)
            yield a[:, 0], a[:, 1]
            buf = []
    if buf:
        a = np.array(buf, dtype=np.int64)
        yield a[:, 0], a[:, 1]


def candidate_pairs_memory(
    sig: np.ndarray, active: np.ndarray, cfg: NearDedupConfig, workdir: Path
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """datasketch MinHashLSH with params=(bands, rows): insert every doc, then query each one."""
    lsh = MinHashLSH(num_perm=cfg.num_perm, params=(cfg.bands, cfg.rows))
    lean = {}
    with lsh.insertion_session() as session:
        for x in tqdm(active, desc="near-dedup LSH insert", unit="doc", disable=None):
            m = LeanMinHash(seed=cfg.seed, hashvalues=np.asarray(sig[x]), scheme=SCHEME)
            lean[int(x)] = m
            session.insert(int(x), m, check_duplication=False)

    def pairs() -> Iterator[tuple[int, int]]:
        for x, m in lean.items():
            for y in sorted(lsh.query(m)):
                if y > x:
                    yield x, y

    yield from _batched(pairs())


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64 (n x bands) key per band: polynomial mix of the band's rows, then a 64-bit finalizer.

    Vectorised over all rows of a chunk; hand-rolled because hashing each band slice with xxhash
    would be one Python call per (doc, band).
    """
    n = sig.shape[0]
    s = sig[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    h = np.full((n, bands), 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            h = (h ^ s[:, :, r]) * np.uint64(0x100000001B3)  # FNV-1a style step over 32-bit words
        return mix64(h)  # spreads the bits so `hash mod partitions` is balanced


def mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer over a uint64 array (callers silence numpy's overflow warnings)."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def candidate_pairs_disk(
    sig: np.ndarray, active: np.ndarray, cfg: NearDedupConfig, workdir: Path
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Band records to partition files under workdir/bands, then sort each file and emit pairs."""
    bdir = Path(workdir) / "bands"
    if bdir.exists():
        shutil.rmtree(bdir)
    bdir.mkdir(parents=True)
    parts = cfg.disk_partitions
    paths = [[bdir / f"b{b:03d}-p{p:03d}.bin" for p in range(parts)] for b in range(cfg.bands)]
    for start in tqdm(range(0, active.size, _ROW_CHUNK), desc="near-dedup band records", disable=None):
        idx = active[start : start + _ROW_CHUNK]
        h = band_hashes(np.asarray(sig[idx]), cfg.bands, cfg.rows)
        part = (h % np.uint64(parts)).astype(np.int64)
        for b in range(cfg.bands):
            for p in range(parts):
                sel = part[:, b] == p
                if not sel.any():
                    continue
                rec = np.empty(int(sel.sum()), dtype=RECORD)
                rec["h"], rec["i"] = h[sel, b], idx[sel]
                with paths[b][p].open("ab") as f:
                    f.write(rec.tobytes())

    def pairs() -> Iterator[tuple[int, int]]:
        for b in range(cfg.bands):
            for p in range(parts):
                if not paths[b][p].exists():
                    continue
                rec = np.fromfile(paths[b][p], dtype=RECORD)
                yield from pairs_in_buckets(rec["h"], rec["i"].astype(np.int64))
                paths[b][p].unlink()

    yield from _batched(pairs())
    shutil.rmtree(bdir, ignore_errors=True)


def pairs_in_buckets(keys: np.ndarray, idx: np.ndarray) -> Iterator[tuple[int, int]]:
    """All (i, j), i < j, of documents sharing a bucket key (keys/idx: parallel arrays)."""
    order = np.argsort(keys, kind="stable")
    k, ix = keys[order], idx[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    ends = np.r_[starts[1:], k.size]
    for s, e in zip(starts[ends - starts >= 2], ends[ends - starts >= 2]):
        members = np.sort(ix[s:e])
        for a in range(members.size):
            for b in range(a + 1, members.size):
                yield int(members[a]), int(members[b])
