"""Near-dedup quality and speed on the labelled Tibetan set: tibcpt vs plain datasketch, plus a sweep.

    python bench/dedup.py [--clusters 150] [--out bench/results/dedup.json]

Rows (same shingles, num_perm, bands x rows):
  tibcpt            tibcpt.pipeline.dedup.near.near_dedup (match_key syllable 5-grams, verified Jaccard OR
                    containment, union-find)
  datasketch-plain  datasketch MinHash(update_batch over the shingle strings) + MinHashLSH; every
                    LSH candidate is a duplicate (no verification, no containment)
  mn-strip-plain    datatrove's normalizer (NFD, drop category Mn) + the plain pipeline above
Pairwise precision/recall/F1 over labelled clusters, hard negatives merged, and signature docs/s
per core (one process; the whole signature stage, match_key included). Then a sweep of
(num_perm, bands x rows, threshold, containment_threshold) that backs NearDedupConfig's defaults.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from datasketch import MinHash, MinHashLSH

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "pipeline")]

from nd_fixtures import build_labelled_set, mn_strip, pair_metrics  # noqa: E402
from tibcpt.pipeline.dedup.lsh import candidate_pairs_memory  # noqa: E402
from tibcpt.pipeline.dedup.near import NearDedupConfig, UnionFind, near_dedup, shingles, sign_chunk, verify  # noqa: E402
from tibcpt.pipeline.text.normalize import match_key, normalize  # noqa: E402
from tibcpt.pipeline.text.segment import syllables  # noqa: E402

from tibcpt.io import write_json_atomic  # noqa: E402


def plain_datasketch(docs, cfg: NearDedupConfig, prep) -> tuple[dict[str, str], float]:
    """datasketch used as its README shows: MinHash per doc, MinHashLSH, candidates = duplicates."""
    t0 = time.perf_counter()
    sigs = []
    for _, text, _ in docs:
        m = MinHash(num_perm=cfg.num_perm, seed=cfg.seed)
        m.update_batch([s.encode() for s in prep(text)])
        sigs.append(m)
    rate = len(docs) / (time.perf_counter() - t0)
    lsh = MinHashLSH(num_perm=cfg.num_perm, params=(cfg.bands, cfg.rows))
    for i, m in enumerate(sigs):
        lsh.insert(i, m)
    uf = UnionFind(len(docs))
    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            uf.union(i, j)
    roots = uf.roots()
    dup = {docs[i][0]: docs[int(r)][0] for i, r in enumerate(roots) if r != i}
    return dup, rate


def _mn_shingles(text: str, k: int = 5) -> list[str]:
    s = syllables(mn_strip(text))
    return ["\x1f".join(s[i : i + k]) for i in range(max(1, len(s) - k + 1))]


def sweep(ls, grid_lsh, thresholds, containments) -> list[dict]:
    """Quality for each setting; signatures and candidates computed once per (num_perm, b, r)."""
    ids = [d for d, _, _ in ls.docs]
    rows = []
    for num_perm, bands, r in grid_lsh:
        base = NearDedupConfig(num_perm=num_perm, bands=bands, rows=r)
        sig, sizes = sign_chunk([t for _, t, _ in ls.docs], 5, num_perm, base.seed)
        active = np.flatnonzero(sizes > 0)
        cand = [(i, j) for i, j in candidate_pairs_memory(sig, active, base, Path("."))]
        for thr in thresholds:
            for cont in containments:
                cfg = NearDedupConfig(num_perm=num_perm, bands=bands, rows=r, threshold=thr,
                                      containment_threshold=cont or 1.0, containment_min_ratio=0.3 if cont else 1.0)  # fmt: skip
                uf = UnionFind(len(ids))
                for i, j in cand:
                    ok = verify(sig, sizes, i, j, cfg)
                    for a, b in zip(i[ok], j[ok]):
                        uf.union(int(a), int(b))
                roots = uf.roots()
                dup = {ids[x]: ids[int(rt)] for x, rt in enumerate(roots) if rt != x}
                m = pair_metrics(ls, dup)
                rows.append({"num_perm": num_perm, "bands": bands, "rows": r, "threshold": thr,
                             "containment_threshold": cont, **{k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()}})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=150)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "dedup.json"))
    args = ap.parse_args(argv)

    ls = build_labelled_set(n_clusters=args.clusters, n_single=args.clusters, n_vowel=args.clusters // 3,
                            n_formula=args.clusters // 4, seed=args.seed)  # fmt: skip
    cfg = NearDedupConfig(backend="memory")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        res = near_dedup(ls.docs, cfg, Path(tmp), workers=1)
    results["tibcpt"] = {
        **pair_metrics(ls, res.duplicate_of),
        "signature_docs_per_s": res.stats["signature_docs_per_s"],
    }
    # Per core = CPU seconds of this process (the bench machine is shared, so wall time overstates
    # cost); and where signature time goes: match_key (tibcpt.pipeline.text.normalize) vs shingling + MinHash.
    texts = [t for _, t, _ in ls.docs]
    c0 = time.process_time()
    sign_chunk(texts, cfg.shingle_size, cfg.num_perm, cfg.seed)
    c1 = time.process_time()
    for t in texts:
        match_key(t)
    c2 = time.process_time()
    sig_s, mk = c1 - c0, c2 - c1
    # The corpus runner's path: documents arrive normalized (normalize stage), so match keys skip
    # the lossless pass (NearDedupConfig.input_normalized). Normalizing is not timed here: it is
    # the normalize stage's cost, counted in bench/text_path.py.
    normed = [normalize(t) for t in texts]
    c3 = time.process_time()
    sign_chunk(normed, cfg.shingle_size, cfg.num_perm, cfg.seed, True)
    c4 = time.process_time()
    results["tibcpt"]["signature_docs_per_cpu_s_pipeline"] = round(len(texts) / (c4 - c3), 1)
    results["tibcpt"]["signature_docs_per_cpu_s"] = round(len(texts) / sig_s, 1)
    results["tibcpt"]["match_key_docs_per_s"] = round(len(ls.docs) / mk, 1)
    results["tibcpt"]["signature_excl_match_key_docs_per_s"] = round(len(ls.docs) / max(sig_s - mk, 1e-9), 1)
    dup, rate = plain_datasketch(ls.docs, cfg, lambda t: shingles(t, cfg.shingle_size))
    results["datasketch-plain"] = {**pair_metrics(ls, dup), "signature_docs_per_s": round(rate, 1)}
    dup, rate = plain_datasketch(ls.docs, cfg, _mn_shingles)
    results["mn-strip-plain"] = {**pair_metrics(ls, dup), "signature_docs_per_s": round(rate, 1)}

    print(f"labelled set: {len(ls.docs)} docs, {len({v for v in ls.label.values()})} labels, "
          f"{len(ls.hard_negatives)} hard-negative pairs; num_perm={cfg.num_perm} bands x rows={cfg.bands}x{cfg.rows}")  # fmt: skip
    print(f"{'pipeline':<18}{'precision':>10}{'recall':>8}{'F1':>8}{'hard neg merged':>17}{'sig docs/s':>12}")
    for name, m in results.items():
        print(f"{name:<18}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>8.3f}"
              f"{m['hard_negatives_merged']:>10}/{m['hard_negatives']:<6}{m['signature_docs_per_s']:>12.0f}")  # fmt: skip

    grid = sweep(ls, [(128, 32, 4), (128, 42, 3), (128, 16, 8), (256, 64, 4)], [0.5, 0.6, 0.7, 0.8], [None, 0.8])
    print("\nsweep (F1 / hard negatives merged):")
    for row in grid:
        print(f"  P={row['num_perm']:<4}{row['bands']}x{row['rows']:<3} thr={row['threshold']:<4} "
              f"cont={row['containment_threshold']!s:<5} P={row['precision']:.3f} R={row['recall']:.3f} "
              f"F1={row['f1']:.3f} hn={row['hard_negatives_merged']}")  # fmt: skip
    write_json_atomic(args.out, {"docs": len(ls.docs), "hard_negative_pairs": len(ls.hard_negatives),
                                 "config": {"num_perm": cfg.num_perm, "bands": cfg.bands, "rows": cfg.rows,
                                            "threshold": cfg.threshold, "containment_threshold": cfg.containment_threshold},
                                 "results": results, "sweep": grid})  # fmt: skip
    t = results["tibcpt"]
    print(f"\ntibcpt signatures per CPU-second (per core): {t['signature_docs_per_cpu_s']:.0f} docs/s; split: match_key {t['match_key_docs_per_s']:.0f} docs/s, "
          f"shingles+MinHash excl. match_key {t['signature_excl_match_key_docs_per_s']:.0f} docs/s")  # fmt: skip
    print(
        f"tibcpt signatures per CPU-second on normalized input (the corpus runner's path): "
        f"{t['signature_docs_per_cpu_s_pipeline']:.0f} docs/s"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
