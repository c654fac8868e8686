"""Near-duplicate removal (issue 3): syllable-shingle MinHash, LSH banding, verification, union-find.

Interface the corpus runner calls (`tibcpt.pipeline.corpus.write.run_dedup_phase`):

    near_dedup(docs: Iterable[tuple[str, str, int]], cfg: NearDedupConfig, workdir: Path, workers: int = 1)
        -> NearDedupResult
    docs: (doc_id, normalized_text, source_rank); source_rank = index of the source in sources.yaml
    (lower = preferred when keep="source_order").
    NearDedupResult.duplicate_of: removed doc id -> kept doc id of its cluster (every removed id maps
    to a kept id: the runner writes it to the side file with reason `near_duplicate`).

Why not a stock pipeline: datatrove's MinHash normalizer strips Unicode category Mn, and in Tibetan
every vowel sign and subjoined letter is Mn, so བོད་སྐད་ཀྱི becomes བད་སད་ཀ and different words collide.
We shingle syllable 5-grams of `tibcpt.pipeline.text.normalize.match_key(text)` (folds Unicode variants, ZWSP,
U+0F0C, precomposed vowels; never strips vowels or subjoined letters), split with
`tibcpt.pipeline.text.segment.syllables` (one regex, no botok word segmentation: that is what made a popular
pipeline's signature stage run at 27 docs/s on Tibetan).

Steps: (1) signatures: shingles hashed with xxh32, MinHash with datasketch's "affine32" scheme computed
for all shingles of a doc in one numpy expression (bit-identical to `datasketch.MinHash.update_batch`,
which a test checks), in a multiprocessing pool when workers > 1; written to `workdir/signatures.u32`
so memory stays bounded. (2) candidates: backend "memory" = datasketch MinHashLSH; backend "disk" =
per-band hash records in partition files sorted with numpy (`tibcpt.pipeline.dedup.lsh`). (3) each
candidate pair is verified: estimated Jaccard >= threshold OR estimated containment >= containment
threshold (a truncated copy has Jaccard ~ its length ratio but containment ~1). (4) union-find over
verified pairs; one document kept per cluster (`keep`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xxhash
from datasketch import MinHash
from tibcpt.pipeline.dedup.lsh import SCHEME, candidate_pairs_disk, candidate_pairs_memory
from tibcpt.pipeline.text.normalize import fold_key_token, match_key, match_key_raw_tokens
from tibcpt.pipeline.text.segment import syllables
from tqdm import tqdm

log = logging.getLogger(__name__)

_SEP = "\x1f"  # joins the syllables of a shingle; cannot occur inside a syllable


@dataclass
class NearDedupConfig:
    """MinHash-LSH near-duplicate removal. Defaults come from the precision/recall sweep in
    `bench/dedup.py` on the labelled Tibetan set (`tests/pipeline/nd_fixtures.py`); see
    bench/results/dedup.json for the figures behind each choice."""

    enabled: bool = True
    """Run near-dedup at all (exact dedup runs regardless)."""
    input_normalized: bool = False
    """Texts arrive already through `normalize()` (the corpus runner sets this: its documents come
    out of the normalize stage), so match keys skip the lossless pass. Raw text must leave it off."""
    shingle_size: int = 5
    """Syllables per shingle. 5-grams: the same order as word 5-grams used by Gopher/FineWeb, since a
    Tibetan word is 1-2 syllables; shorter shingles make formulaic phrases collide."""
    num_perm: int = 128
    """MinHash permutations (signature length). 128 keeps the Jaccard estimate's standard error at
    <= 0.045, enough to separate the verification threshold from unrelated text."""
    bands: int = 42
    """LSH bands; bands * rows must be <= num_perm (42 x 3 = 126 of 128 permutations)."""
    rows: int = 3
    """Rows per band. 42x3 makes a pair a candidate with probability 1-(1-J^3)^42: 0.996 at J=0.5
    (our most truncated copies), 0.29 at J=0.2, ~0 for unrelated text; candidates are verified, so
    a low S-curve costs only verification time. Sweep (bench/results/dedup.json, 912 docs):
    42x3 F1 1.000, 32x4 0.998 (misses some J~0.5 truncations), 16x8 0.914 (misses most of them)."""
    threshold: float = 0.6
    """Estimated Jaccard at or above which a candidate pair is a near duplicate. Sweep with
    containment off: 0.5 -> recall 0.983, 0.6 -> 0.935, 0.8 -> 0.499 (precision 1.0 throughout; the
    vowel/formula hard negatives sit below 0.15). 0.6 leaves margin above hard negatives, and
    containment recovers the truncated copies that Jaccard alone misses."""
    containment_threshold: float = 0.8
    """Estimated |A∩B|/min(|A|,|B|) at or above which a pair is a duplicate (truncated copies,
    copies with extra headers/footers). With it, recall at threshold 0.6 goes 0.935 -> 1.000."""
    containment_min_ratio: float = 0.3
    """Containment is only trusted when min(|A|,|B|)/max(|A|,|B|) >= this: for a small doc inside a
    large one the Jaccard is tiny and one chance equal hash value would fake a high containment."""
    keep: Literal["longest", "source_order"] = "longest"
    """Which member of a cluster survives: the longest text, or the lowest source_rank (order in
    sources.yaml = quality preference), then the longest. Ties go to the earlier document."""
    backend: Literal["auto", "memory", "disk"] = "auto"
    """Candidate generation: "memory" (datasketch MinHashLSH, RAM ~ number of docs), "disk" (band
    records in sorted partition files, RAM ~ one partition), "auto" = memory up to memory_max_docs."""
    memory_max_docs: int = 200_000
    """backend="auto" switches to "disk" above this many documents."""
    disk_partitions: int = 16
    """Files per band for the disk backend; peak RAM ~ 12 bytes * docs / disk_partitions per sort."""
    chunk_docs: int = 512
    """Documents per signature task (one multiprocessing task, one write)."""
    seed: int = 1
    """Seed of the MinHash permutations and of the shingle hash."""

    def __post_init__(self) -> None:
        for name in ("shingle_size", "num_perm", "bands", "rows", "memory_max_docs", "disk_partitions", "chunk_docs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.bands < 2:
            raise ValueError(f"bands must be >= 2 (datasketch MinHashLSH needs two), got {self.bands}")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands*rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        for name in ("threshold", "containment_threshold", "containment_min_ratio"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {v}")
        if self.keep not in ("longest", "source_order"):
            raise ValueError(f"keep must be 'longest' or 'source_order', got {self.keep!r}")
        if self.backend not in ("auto", "memory", "disk"):
            raise ValueError(f"backend must be 'auto', 'memory' or 'disk', got {self.backend!r}")


@dataclass
class NearDedupResult:
    duplicate_of: dict[str, str]
    """Removed doc id -> kept doc id of its cluster."""
    n_clusters: int
    """Clusters with >= 2 members."""
    cluster_size_hist: dict[int, int]
    """Cluster size -> number of clusters of that size (sizes >= 2)."""
    stats: dict[str, Any] = field(default_factory=dict)
    """Timing, docs/s, candidate and verified pair counts, backend used (JSON-serialisable)."""


# --- shingles and signatures (pure; run inside worker processes) -------------------------------


def shingles(text: str, k: int = 5) -> list[str]:
    """Syllable k-grams of `match_key(text)` as strings (for inspection and tests; hashing uses
    `shingle_hashes`); a text shorter than k syllables is one shingle."""
    syls = syllables(match_key(text))
    if not syls:
        return []
    if len(syls) <= k:
        return [_SEP.join(syls)]
    return [_SEP.join(syls[i : i + k]) for i in range(len(syls) - k + 1)]


@lru_cache(maxsize=1 << 18)
def _syllable_hash(syl: str, seed: int) -> int:
    # Syllable types follow Zipf's law, so this cache answers almost every call.
    return xxhash.xxh64_intdigest(syl.encode(), seed)


def _mix64(h: np.ndarray) -> np.ndarray:
    # splitmix64 finalizer: avalanches the combined k-gram value before folding to 32 bits.
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@lru_cache(maxsize=1 << 18)
def _token_hashes(tok: str, seed: int) -> tuple[int, ...]:
    """Hashes of the syllables of one raw key token, folded: one cache lookup per token replaces
    three Python-level steps (fold, split, hash), the bulk of signature time."""
    return tuple(_syllable_hash(s, seed) for s in syllables(fold_key_token(tok)))


def shingle_hashes(text: str, k: int = 5, seed: int = 1, normalized: bool = False) -> np.ndarray:
    """Sorted unique 32-bit hashes of the syllable k-grams of `match_key(text)` (uint32).

    Hand-rolled rolling combination instead of hashing each k-gram string: one cached xxh64 per
    syllable, then the k-gram hashes for the whole doc in k numpy steps (order-sensitive:
    h = (h * P) ^ next). It is 3x faster than join + xxh32 per shingle, which matters because
    signatures must run at >= 1,000 docs/s per core. 32 bits: a doc has ~10^3 shingles, so
    collisions inside a doc are ~10^-4 and between docs they only add noise below 1/num_perm.
    """
    # The syllables of match_key(text) (== syllables(match_key(text)), tested), hashed per token.
    hs = np.fromiter(
        chain.from_iterable(_token_hashes(tok, seed) for tok in match_key_raw_tokens(text, normalized)),
        dtype=np.uint64,
    )
    if hs.size == 0:
        return np.zeros(0, dtype=np.uint32)
    m = max(1, hs.size - k + 1)
    g = hs[:m].copy()
    with np.errstate(over="ignore"):
        for j in range(1, min(k, hs.size)):
            g = (g * np.uint64(0x100000001B3)) ^ hs[j : j + m]
        g = _mix64(g)
    return np.unique((g >> np.uint64(32)).astype(np.uint32))


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's own affine32 permutation parameters (a odd, b), so signatures interoperate."""
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def _fmix32(h: np.ndarray) -> np.ndarray:
    # MurmurHash3 32-bit finalizer, as datasketch's affine32 scheme pre-mixes inputs (its `_fmix`
    # is private, so restated here; test_signature_matches_datasketch pins the equality).
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def signature(hashes: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signature (uint32[num_perm]) of one doc's shingle hashes, in one numpy expression.

    Equals `datasketch.MinHash(num_perm, seed, hashfunc=identity).update_batch(hashes).hashvalues`
    but without per-shingle Python calls; an empty set gives all 0xFFFFFFFF (datasketch's empty).
    """
    if hashes.size == 0:
        return np.full(num_perm, 0xFFFFFFFF, dtype=np.uint32)
    a, b = permutations(num_perm, seed)
    hv = _fmix32(hashes.astype(np.uint32))[:, None]
    return (hv * a[None, :] + b[None, :]).min(axis=0)


def sign_chunk(
    texts: list[str], k: int, num_perm: int, seed: int, normalized: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Signatures (n x num_perm uint32) and shingle-set sizes (int32) of a chunk of texts."""
    sigs = np.empty((len(texts), num_perm), dtype=np.uint32)
    sizes = np.empty(len(texts), dtype=np.int32)
    for i, t in enumerate(texts):
        h = shingle_hashes(t, k, seed, normalized)
        sizes[i] = h.size
        sigs[i] = signature(h, num_perm, seed)
    return sigs, sizes


# --- verification, clustering, keep rule (pure) -------------------------------------------------


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


def verify(sig: np.ndarray, sizes: np.ndarray, i: np.ndarray, j: np.ndarray, cfg: NearDedupConfig) -> np.ndarray:
    """Boolean mask of candidate pairs that are near duplicates (Jaccard or trusted containment)."""
    jac, cont = estimate(sig, sizes, i, j)
    si, sj = sizes[i], sizes[j]
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


# --- driver ------------------------------------------------------------------------------------


def _chunks(docs: Iterable[tuple[str, str, int]], n: int) -> Iterator[list[tuple[str, str, int]]]:
    buf: list[tuple[str, str, int]] = []
    for d in docs:
        buf.append(d)
        if len(buf) >= n:
            yield buf
            buf = []
    if buf:
        yield buf


def _signatures(docs, cfg: NearDedupConfig, sig_path: Path, workers: int):
    """Stream docs, write signatures to `sig_path`; return ids, lengths, ranks, sizes, seconds."""
    ids: list[str] = []
    lengths: list[int] = []
    ranks: list[int] = []
    sizes: list[np.ndarray] = []
    args = (cfg.shingle_size, cfg.num_perm, cfg.seed, cfg.input_normalized)
    t0 = time.perf_counter()
    pool = None
    if workers > 1:
        import multiprocessing as mp

        pool = mp.get_context("fork" if hasattr(__import__("os"), "fork") else "spawn").Pool(workers)
    pending: deque = deque()
    try:
        with sig_path.open("wb") as f, tqdm(desc="near-dedup signatures", unit="doc", disable=None) as bar:

            def drain(block: bool) -> None:
                while pending and (block or pending[0].ready()):
                    s, z = pending.popleft().get()
                    f.write(s.tobytes())
                    sizes.append(z)
                    bar.update(len(z))

            for chunk in _chunks(docs, cfg.chunk_docs):
                texts = []
                for doc_id, text, rank in chunk:
                    ids.append(doc_id)
                    lengths.append(len(text))
                    ranks.append(int(rank))
                    texts.append(text)
                if pool is None:
                    s, z = sign_chunk(texts, *args)
                    f.write(s.tobytes())
                    sizes.append(z)
                    bar.update(len(z))
                    continue
                pending.append(pool.apply_async(sign_chunk, (texts, *args)))
                # Bounded in-flight tasks: the doc stream is never read far ahead of the workers.
                while len(pending) >= 2 * workers:
                    pending[0].wait()
                    drain(block=False)
            drain(block=True)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    size_arr = np.concatenate(sizes) if sizes else np.zeros(0, dtype=np.int32)
    return ids, np.array(lengths, dtype=np.int64), np.array(ranks, dtype=np.int64), size_arr, time.perf_counter() - t0


def near_dedup(
    docs: Iterable[tuple[str, str, int]], cfg: NearDedupConfig, workdir: Path, workers: int = 1
) -> NearDedupResult:
    """Find near-duplicate clusters among `docs` and say which documents to remove (see module doc)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    sig_path = workdir / "signatures.u32"
    ids, lengths, ranks, sizes, t_sig = _signatures(docs, cfg, sig_path, max(1, workers))
    n = len(ids)
    stats: dict[str, Any] = {"docs": n, "workers": workers, "signature_seconds": round(t_sig, 3)}
    stats["signature_docs_per_s"] = round(n / t_sig, 1) if t_sig > 0 else None
    stats["docs_without_shingles"] = int((sizes == 0).sum())
    if n == 0:
        return NearDedupResult({}, 0, {}, stats)
    sig = np.memmap(sig_path, dtype=np.uint32, mode="r", shape=(n, cfg.num_perm))
    backend = cfg.backend
    if backend == "auto":
        backend = "memory" if n <= cfg.memory_max_docs else "disk"
    stats["backend"] = backend

    t1 = time.perf_counter()
    uf = UnionFind(n)
    # Docs without a single Tibetan syllable are never near-duplicates here (exact dedup owns them);
    # their all-0xFFFFFFFF signatures would otherwise all share every bucket.
    active = np.flatnonzero(sizes > 0)
    pair_iter = (candidate_pairs_memory if backend == "memory" else candidate_pairs_disk)(sig, active, cfg, workdir)
    counts: Counter = Counter()
    for i, j in pair_iter:
        # The disk backend repeats a pair once per shared band; count and check each pair once per batch.
        code = np.unique(i * n + j)
        i, j = code // n, code % n
        counts["candidate_pairs"] += len(i)
        # Pairs already in one cluster need no check: connected components do not change.
        same = np.fromiter((uf.find(a) == uf.find(b) for a, b in zip(i, j)), dtype=bool, count=len(i))
        i, j = i[~same], j[~same]
        counts["pairs_verified"] += len(i)
        if not len(i):
            continue
        ok = verify(sig, sizes, i, j, cfg)
        counts["pairs_accepted"] += int(ok.sum())
        for a, b in zip(i[ok], j[ok]):
            uf.union(int(a), int(b))
    stats.update(counts)
    stats["lsh_verify_seconds"] = round(time.perf_counter() - t1, 3)

    duplicate_of: dict[str, str] = {}
    hist: Counter = Counter()
    clusters = clusters_from_roots(uf.roots())
    for members in clusters:
        hist[len(members)] += 1
        kept = choose_kept(members, lengths, ranks, cfg.keep)
        for m in members:
            if m != kept:
                duplicate_of[ids[m]] = ids[kept]
    stats["removed"] = len(duplicate_of)
    stats["config"] = asdict(cfg)
    del sig
    log.info("near-dedup: %d docs, %d clusters, %d removed (%s)", n, len(clusters), len(duplicate_of), backend)
    return NearDedupResult(duplicate_of, len(clusters), dict(sorted(hist.items())), stats)
