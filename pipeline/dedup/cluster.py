"""Verification, clustering and the keep rule of `tibcpt.pipeline.dedup.near` (pure functions).

A candidate pair from LSH is a near duplicate when its Jaccard similarity reaches the threshold, or
its containment |A∩B|/min(|A|,|B|) does (truncated copies, copies with other boilerplate) while the
smaller set is not tiny next to the larger; measured exactly on the shingle sets (`exact`) or
estimated from the MinHash signatures (`estimate`). Union-find joins verified pairs into clusters and
one member per cluster is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tibcpt.pipeline.dedup.near import NearDedupConfig


def estimate(sig: np.ndarray, sizes: np.ndarray, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(estimated Jaccard, estimated containment) for pairs (i[k], j[k]).

    Containment |A∩B|/min(|A|,|B|) comes from the Jaccard estimate and the exact set sizes:
    |A∩B| = J/(1+J) * (|A|+|B|) (from J = |A∩B| / (|A|+|B|-|A∩B|)).
    """
    jac = (sig[i] == sig[j]).mean(axis=1)
    si, sj = sizes[i].astype(np.float64), sizes[j].astype(np.float64)
    inter = jac / (1.0 + jac) * (si + sj)
    cont = np.minimum(inter / np.maximum(np.minimum(si, sj), 1.0), 1.0)
    return jac, cont


def exact(shingles: np.ndarray, offsets: np.ndarray, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Jaccard, containment) of the shingle sets of pairs (i[k], j[k]); `shingles[offsets[d]:offsets[d+1]]`
    is document d's sorted unique shingle hashes."""
    jac = np.zeros(len(i))
    cont = np.zeros(len(i))
    for n, (a, b) in enumerate(zip(i.tolist(), j.tolist())):
        sa, sb = shingles[offsets[a] : offsets[a + 1]], shingles[offsets[b] : offsets[b + 1]]
        if not len(sa) or not len(sb):
            continue
        inter = len(np.intersect1d(sa, sb, assume_unique=True))
        jac[n] = inter / (len(sa) + len(sb) - inter)
        cont[n] = inter / min(len(sa), len(sb))
    return jac, cont


def verify(
    sig: np.ndarray,
    sizes: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    cfg: NearDedupConfig,
    shingles: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask of candidate pairs that are near duplicates (Jaccard or trusted containment),
    measured exactly when `cfg.verify == "exact"` and the shingles are given, else estimated."""
    if cfg.verify == "exact" and shingles is not None:
        jac, cont = exact(shingles, offsets, i, j)
    else:
        jac, cont = estimate(sig, sizes, i, j)
    return accept(jac, cont, sizes[i], sizes[j], cfg)


def accept(jac: np.ndarray, cont: np.ndarray, si: np.ndarray, sj: np.ndarray, cfg: NearDedupConfig) -> np.ndarray:
    """The decision on measured pairs: Jaccard >= threshold, or containment >= its threshold where
    the smaller shingle set is at least `containment_min_ratio` of the larger."""
    ratio = np.minimum(si, sj) / np.maximum(np.maximum(si, sj), 1)
    return (jac >= cfg.threshold) | ((cont >= cfg.containment_threshold) & (ratio >= cfg.containment_min_ratio))


class UnionFind:
    """Disjoint sets over 0..n-1 in a numpy array (4 bytes per doc), path halving + union by index."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, x: int) -> int:
        p = self.parent
        while p[x] != x:
            p[x] = p[p[x]]
            x = int(p[x])
        return x

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if ra < rb:
            ra, rb = rb, ra
        self.parent[ra] = rb  # the root is always the smallest index: deterministic clusters
        return True

    def roots(self) -> np.ndarray:
        return np.array([self.find(x) for x in range(len(self.parent))], dtype=np.int64)


def clusters_from_roots(roots: np.ndarray) -> list[list[int]]:
    """Clusters (lists of doc indices, sorted) with >= 2 members, ordered by their smallest index."""
    order = np.argsort(roots, kind="stable")
    r = roots[order]
    bounds = np.flatnonzero(np.diff(r)) + 1
    return [g.tolist() for g in np.split(order, bounds) if g.size >= 2]


def choose_kept(members: list[int], lengths: np.ndarray, ranks: np.ndarray, keep: str) -> int:
    """The member that survives: longest, or lowest source rank then longest; ties -> lowest index."""
    if keep == "source_order":
        return min(members, key=lambda m: (int(ranks[m]), -int(lengths[m]), m))
    return min(members, key=lambda m: (-int(lengths[m]), m))
