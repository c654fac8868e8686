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
We shingle syllable 4-grams of `tibcpt.pipeline.text.normalize.match_key(text)` (folds Unicode variants, ZWSP,
U+0F0C, precomposed vowels, drops a-chung and wa-zur, folds old spellings like མྱི → མི; keeps the vowel
signs ི ུ ེ ོ and subjoined ya/ra/la), split with
`tibcpt.pipeline.text.segment.syllables` (one regex, no botok word segmentation: that is what made a popular
pipeline's signature stage run at 27 docs/s on Tibetan).

Steps: (1) signatures: shingles hashed with xxh32, MinHash with datasketch's "affine32" scheme computed
for all shingles of a doc in one numpy expression (bit-identical to `datasketch.MinHash.update_batch`,
which a test checks), in a multiprocessing pool when workers > 1; written to `workdir/signatures.u32`
so memory stays bounded. (2) candidates: backend "memory" = datasketch MinHashLSH; backend "disk" =
per-band hash records in partition files sorted with numpy (`tibcpt.pipeline.dedup.lsh`). (3) each
candidate pair is verified on the exact shingle sets (`workdir/shingles.u32`; or estimated from the
signatures with verify="estimate"): Jaccard >= threshold OR containment >= containment threshold (a
truncated copy has Jaccard ~ its length ratio but containment ~1) (`tibcpt.pipeline.dedup.cluster`). (4) union-find over
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
from tibcpt.pipeline.dedup.cluster import (  # noqa: F401  (estimate, exact, verify: re-exported for bench/tests)
    UnionFind,
    choose_kept,
    clusters_from_roots,
    estimate,
    exact,
    verify,
)
from tibcpt.pipeline.dedup.lsh import SCHEME, candidate_pairs_disk, candidate_pairs_memory, mix64
from tibcpt.pipeline.text.normalize import fold_key_token, match_key, match_key_raw_tokens
from tibcpt.pipeline.text.segment import syllables
from tqdm import tqdm

log = logging.getLogger(__name__)

_SEP = "\x1f"  # joins the syllables of a shingle; cannot occur inside a syllable


@dataclass
class NearDedupConfig:
    """MinHash-LSH near-duplicate removal. Defaults come from the sweep in `bench/dedup.py` on the
    labelled Tibetan set (`tests/pipeline/nd_fixtures.py`: reposts with other boilerplate, reordered
    paragraphs, partial reposts, truncation to 40 %, many small edits; shared quotations, site
    templates, Kangyur formulas and vowel variants as hard negatives); see bench/results/dedup.json."""

    enabled: bool = True
    """Run near-dedup at all (exact dedup runs regardless)."""
    input_normalized: bool = False
    """Texts arrive already through `normalize()` (the corpus runner sets this: its documents come
    out of the normalize stage), so match keys skip the lossless pass. Raw text must leave it off."""
    shingle_size: int = 4
    """Syllables per shingle. Sweep (bench/results/dedup.json, exact verification): 4-grams keep the
    widest gap between hard negatives (largest Jaccard 0.29/0.32 on the two sets: a shared quotation,
    a site's template) and real copies (smallest 0.36/0.37: many small edits, partial reposts).
    5-grams lose heavily edited copies (Jaccard down to 0.31, inside the hard negatives' range);
    3-grams raise shared quotations to 0.31-0.33 and stock Kangyur phrases with them."""
    num_perm: int = 256
    """MinHash permutations (signature length). 256 makes room for 85 bands of 3 rows; signatures stay
    above 1,000 docs/s per core (match_key dominates their cost)."""
    bands: int = 85
    """LSH bands; bands * rows must be <= num_perm (85 x 3 = 255 of 256 permutations)."""
    rows: int = 3
    """Rows per band. A pair is a candidate with probability 1-(1-J^3)^85: 0.976 at J=0.35, 0.995 at
    0.4, 0.0004 at J=0.02 (unrelated texts sharing stock phrases). 64x2 over 128 finds a few more
    copies at J~0.35 but makes 47 % of J=0.1 pairs candidates (formulaic religious text at scale);
    42x3 over 128 drops to 0.84 at J=0.35; 32x4 to 0.6."""
    threshold: float = 0.35
    """Jaccard (exact, see `verify`) at or above which a candidate pair is a near duplicate: in the
    gap between hard negatives (<= 0.32) and edited copies (>= 0.36) on both labelled sets. Sweep:
    0.3 merges a quotation pair with 3-grams, 0.4 loses partial reposts, 0.6 (the old default) finds
    only 75 % of copies."""
    containment_threshold: float = 0.7
    """|A∩B|/min(|A|,|B|) at or above which a pair is a duplicate (copies truncated to 40 %, reposts
    with other boilerplate): hard negatives reach 0.53-0.58, truncated copies ~1.0."""
    containment_min_ratio: float = 0.3
    """Containment is only trusted when min(|A|,|B|)/max(|A|,|B|) >= this: a paragraph inside a long
    document is not that document's duplicate."""
    verify: Literal["exact", "estimate"] = "exact"
    """How a candidate pair is checked: "exact" Jaccard and containment of the two shingle sets
    (kept in `workdir/shingles.u32`, 4 bytes per shingle), or "estimate" from the signatures alone
    (no extra disk; MinHash noise, std ~0.04 at J=0.35 with 128 permutations, merged a quoted-passage
    hard negative in 1 of 10 runs of the sweep near the threshold: bench/results/dedup.json)."""
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
        if self.verify not in ("exact", "estimate"):
            raise ValueError(f"verify must be 'exact' or 'estimate', got {self.verify!r}")
        if self.backend not in ("auto", "memory", "disk"):
            raise ValueError(f"backend must be 'auto', 'memory' or 'disk', got {self.backend!r}")


@dataclass
class NearDedupResult:
    duplicate_of: dict[str, str]
    """Removed doc id -> kept doc id of its cluster."""
    cluster_size_hist: dict[int, int]
    """Cluster size -> number of clusters of that size (sizes >= 2)."""
    stats: dict[str, Any] = field(default_factory=dict)
    """Timing, docs/s, candidate and verified pair counts, backend used (JSON-serialisable)."""

    @property
    def n_clusters(self) -> int:
        """Clusters with >= 2 members."""
        return sum(self.cluster_size_hist.values())


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
        g = mix64(g)  # avalanche the combined k-gram value before folding to 32 bits
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
    sigs, sizes, _ = sign_chunk_with_shingles(texts, k, num_perm, seed, normalized)
    return sigs, sizes


def sign_chunk_with_shingles(
    texts: list[str], k: int, num_perm: int, seed: int, normalized: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`sign_chunk` plus every text's sorted shingle hashes, concatenated (split them by `sizes`)."""
    sigs = np.empty((len(texts), num_perm), dtype=np.uint32)
    sizes = np.empty(len(texts), dtype=np.int32)
    parts = []
    for i, t in enumerate(texts):
        h = shingle_hashes(t, k, seed, normalized)
        sizes[i] = h.size
        sigs[i] = signature(h, num_perm, seed)
        parts.append(h)
    return sigs, sizes, np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint32)


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


def _signatures(docs, cfg: NearDedupConfig, sig_path: Path, workers: int, sh_path: Path | None = None):
    """Stream docs, write signatures to `sig_path` (and shingle hashes to `sh_path` if given); return
    ids, lengths, ranks, sizes, seconds."""
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
    sh_file = sh_path.open("wb") if sh_path is not None else None
    try:
        with sig_path.open("wb") as f, tqdm(desc="near-dedup signatures", unit="doc", disable=None) as bar:

            def write(s: np.ndarray, z: np.ndarray, h: np.ndarray) -> None:
                f.write(s.tobytes())
                if sh_file is not None:
                    sh_file.write(h.tobytes())
                sizes.append(z)
                bar.update(len(z))

            def drain(block: bool) -> None:
                while pending and (block or pending[0].ready()):
                    write(*pending.popleft().get())

            for chunk in _chunks(docs, cfg.chunk_docs):
                texts = []
                for doc_id, text, rank in chunk:
                    ids.append(doc_id)
                    lengths.append(len(text))
                    ranks.append(int(rank))
                    texts.append(text)
                if pool is None:
                    write(*sign_chunk_with_shingles(texts, *args))
                    continue
                pending.append(pool.apply_async(sign_chunk_with_shingles, (texts, *args)))
                # Bounded in-flight tasks: the doc stream is never read far ahead of the workers.
                while len(pending) >= 2 * workers:
                    pending[0].wait()
                    drain(block=False)
            drain(block=True)
    finally:
        if sh_file is not None:
            sh_file.close()
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
    sh_path = workdir / "shingles.u32" if cfg.verify == "exact" else None
    ids, lengths, ranks, sizes, t_sig = _signatures(docs, cfg, sig_path, max(1, workers), sh_path)
    n = len(ids)
    stats: dict[str, Any] = {"docs": n, "workers": workers, "signature_seconds": round(t_sig, 3)}
    stats["signature_docs_per_s"] = round(n / t_sig, 1) if t_sig > 0 else None
    stats["docs_without_shingles"] = int((sizes == 0).sum())
    if n == 0:
        return NearDedupResult({}, {}, stats)
    sig = np.memmap(sig_path, dtype=np.uint32, mode="r", shape=(n, cfg.num_perm))
    offsets = np.concatenate(([0], np.cumsum(sizes, dtype=np.int64)))
    shingles = None
    if sh_path is not None and offsets[-1] > 0:
        shingles = np.memmap(sh_path, dtype=np.uint32, mode="r", shape=(int(offsets[-1]),))
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
        ok = verify(sig, sizes, i, j, cfg, shingles, offsets)
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
    del sig, shingles
    log.info("near-dedup: %d docs, %d clusters, %d removed (%s)", n, len(clusters), len(duplicate_of), backend)
    return NearDedupResult(duplicate_of, dict(sorted(hist.items())), stats)
