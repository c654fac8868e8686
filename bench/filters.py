"""Quality-filter precision/recall on the labelled set, and the per-genre calibration behind the defaults.

    python bench/filters.py [--seed 0] [--out bench/results/filters.json]

The set (tests/pipeline/filter_labelled.py) is built from ../shared at run time: real good documents
by genre and bad ones made from real text by realistic corruptions. Good documents are split in two
halves by a hash of their id: thresholds are calibrated per genre on one half (largest value a good
document of that genre reaches x 1.1 + 0.02, never stricter than FineWeb-2's bod_Tibt value) and
scored on the other half (held out) and on the whole set. Rows:
  fineweb        FineWeb-2 bod_Tibt thresholds, duplicated n-grams skipped for `religious` (the old default)
  calibrated     thresholds calibrated on the calibration half (held-out figures are the honest ones)
  default        FilterConfig() as shipped (the calibrated values rounded into filters.py)
"Positive" = rejected: precision = bad rejected / all rejected, recall = bad rejected / all bad.
"""

from __future__ import annotations

import argparse
import math
import sys
import zlib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "pipeline")]

from filter_labelled import FilterSet, Item, build_filter_set  # noqa: E402
from tibcpt.pipeline.text.filters import FilterConfig, GenreThresholds, check  # noqa: E402
from tibcpt.pipeline.text.measures import (  # noqa: E402
    DocMeasures,
    dup_line_frac,
    invalid_syllable_share,
    short_unterminated_line_frac,
)
from tibcpt.pipeline.text.ngrams import dup_ngram_chars, top_ngram_chars  # noqa: E402

from tibcpt.io import write_json_atomic  # noqa: E402

BASE = FilterConfig(genre_thresholds={})
FACTORS = (1.1, 1.25, 1.5, 1.75, 2.0)
POOL = {"children": "narrative", "literature": "narrative", "history": "narrative"}
"""Genres calibrated together: stories, songs and verse occur in all three (children's books, Nanhai
folk tales and mgur, Milarepa's songs), and ~40-100 documents per genre leave the tails unseen."""


def measures(x: Item, cfg: FilterConfig = BASE) -> dict[str, object]:
    """The measures the calibrated rules compare with a threshold (as the rules compute them)."""
    m = DocMeasures(x.text)
    total = max(1, len(x.text))
    top = [top_ngram_chars(m.ngrams, cfg.word_ngram_syllables(cfg.TOP_NGRAM_MIN_N + i)) / total for i in range(3)]
    dup = [dup_ngram_chars(m.ngrams, cfg.word_ngram_syllables(cfg.DUP_NGRAM_MIN_N + i)) / total for i in range(6)]
    return {
        "max_dup_line_frac": dup_line_frac(m.lines),
        "top_ngram_fracs": top,
        "dup_ngram_fracs": dup,
        "max_invalid_syllable_share": invalid_syllable_share(m.syls),
        "max_short_unterminated_line_frac": _su(m, cfg),
    }


def _su(m: DocMeasures, cfg: FilterConfig) -> float:
    frac, counted = short_unterminated_line_frac(m.lines, cfg.short_line_syllables)
    return frac if counted >= 10 else 0.0


def _up(v: float) -> float:
    return math.ceil(v * 100 - 1e-9) / 100


def calibrate(good: list[Item], meas: dict[str, dict], factor: float) -> dict[str, GenreThresholds]:
    """Per genre: max over its good documents x factor + 0.02, floored at the general (FineWeb-2)
    value, capped at 1.0 (= the rule off for that genre)."""
    by_group: dict[str, list[dict]] = defaultdict(list)
    for x in good:
        by_group[POOL.get(x.genre, x.genre)].append(meas[x.id])
    out = {}
    for genre in sorted({x.genre for x in good}):
        rows = by_group[POOL.get(genre, genre)]
        kw = {}
        for key in ("max_dup_line_frac", "max_invalid_syllable_share", "max_short_unterminated_line_frac"):
            base = getattr(BASE, key)
            kw[key] = max(base, min(1.0, _up(max(r[key] for r in rows) * factor + 0.02)))
        for key in ("top_ngram_fracs", "dup_ngram_fracs"):
            base = getattr(BASE, key)
            kw[key] = tuple(
                max(b, min(1.0, _up(max(r[key][i] for r in rows) * factor + 0.02))) for i, b in enumerate(base)
            )
        # Only what differs from the general value is an override.
        out[genre] = GenreThresholds(**{k: v for k, v in kw.items() if v != getattr(BASE, k)})
    return out


def score(items: list[Item], cfg: FilterConfig) -> dict[str, object]:
    rej_good, rej_bad, n_good, n_bad = 0, 0, 0, 0
    per_kind: Counter = Counter()
    kind_total: Counter = Counter()
    per_genre: Counter = Counter()
    genre_total: Counter = Counter()
    misses, false_drops, reasons = [], [], Counter()
    for x in items:
        drop = check(x.text, cfg, genre=x.genre)
        if x.label == "good":
            n_good += 1
            genre_total[x.genre] += 1
            if drop is not None:
                rej_good += 1
                per_genre[x.genre] += 1
                false_drops.append(f"{x.id} ({x.genre}): {drop} {drop.detail}")
        else:
            n_bad += 1
            kind_total[x.label] += 1
            if drop is not None:
                rej_bad += 1
                per_kind[x.label] += 1
                reasons[f"{x.label}:{drop}"] += 1
            else:
                misses.append(f"{x.id} ({x.label}/{x.kind}, {x.genre})")
    rejected = rej_good + rej_bad
    return {
        "good": n_good,
        "bad": n_bad,
        "precision": round(rej_bad / rejected, 4) if rejected else 1.0,
        "recall": round(rej_bad / n_bad, 4) if n_bad else 1.0,
        "good_rejected_share": round(rej_good / n_good, 4) if n_good else 0.0,
        "good_rejected": rej_good,
        "good_rejected_by_genre": {g: f"{per_genre[g]}/{n}" for g, n in sorted(genre_total.items())},
        "bad_rejected_by_kind": {k: f"{per_kind[k]}/{n}" for k, n in sorted(kind_total.items())},
        "bad_reasons": dict(sorted(reasons.items())),
        "false_drops": false_drops,
        "misses": misses,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "filters.json"))
    args = ap.parse_args(argv)

    fs: FilterSet = build_filter_set(args.seed)
    meas = {x.id: measures(x) for x in fs.items}
    half = {x.id: zlib.crc32(x.id.encode()) % 2 for x in fs.items}
    calib_good = [x for x in fs.good if half[x.id] == 0]
    held = [x for x in fs.items if half[x.id] == 1]
    # Margin above the calibration half's largest value, chosen on the held-out half.
    sweep = {}
    for factor in FACTORS:
        s = score(held, FilterConfig(genre_thresholds=calibrate(calib_good, meas, factor)))
        sweep[factor] = {k: s[k] for k in ("precision", "recall", "good_rejected_share", "good_rejected_by_genre")}
        print(f"margin x{factor}: held-out P={s['precision']:.3f} R={s['recall']:.3f} "
              f"good rejected {100 * s['good_rejected_share']:.1f} % {s['good_rejected_by_genre']}")  # fmt: skip
    # The factor with the smallest held-out error sum (good rejected share + bad kept share).
    factor = min(FACTORS, key=lambda f: sweep[f]["good_rejected_share"] + 1 - sweep[f]["recall"])
    calibrated = calibrate(calib_good, meas, factor)
    calibrated_all = calibrate(fs.good, meas, factor)
    old = FilterConfig(
        genre_thresholds={"religious": GenreThresholds(dup_ngram_fracs=(1.0,) * 6)},
        max_short_unterminated_line_frac=None,
    )
    rows = {
        "fineweb (old default)": {"all": score(fs.items, old), "held_out": score(held, old)},
        "calibrated on half": {
            "held_out": score(held, FilterConfig(genre_thresholds=calibrated)),
            "all": score(fs.items, FilterConfig(genre_thresholds=calibrated)),
        },
        "default (shipped)": {"all": score(fs.items, FilterConfig()), "held_out": score(held, FilterConfig())},
    }
    per_genre_max = {}
    for g in sorted({x.genre for x in fs.good}):
        rows_g = [meas[x.id] for x in fs.good if x.genre == g]
        per_genre_max[g] = {
            k: (round(max(r[k] for r in rows_g), 3) if not isinstance(rows_g[0][k], list)
                else [round(max(r[k][i] for r in rows_g), 3) for i in range(len(rows_g[0][k]))])
            for k in rows_g[0]
        }  # fmt: skip
    bad_min = {}
    for kind in sorted({x.label for x in fs.bad}):
        rows_k = [meas[x.id] for x in fs.bad if x.label == kind]
        bad_min[kind] = {
            "max_dup_line_frac_median": round(sorted(r["max_dup_line_frac"] for r in rows_k)[len(rows_k) // 2], 3)
        }
    print(f"labelled set: {len(fs.good)} good, {len(fs.bad)} bad (seed {args.seed}); held-out half: "
          f"{sum(1 for x in held if x.label == 'good')} good, {sum(1 for x in held if x.label != 'good')} bad")  # fmt: skip
    for name, r in rows.items():
        for part in ("held_out", "all"):
            s = r[part]
            print(f"{name:<24}{part:<9} P={s['precision']:.3f} R={s['recall']:.3f} good rejected "
                  f"{s['good_rejected']}/{s['good']} ({100 * s['good_rejected_share']:.1f} %) by genre {s['good_rejected_by_genre']}")  # fmt: skip
    d = rows["default (shipped)"]["all"]
    print("default, bad rejected by kind:", d["bad_rejected_by_kind"])
    print("default, false drops:", *d["false_drops"], sep="\n  ")
    print("default, misses:", *d["misses"], sep="\n  ")
    print(f"calibrated on all good documents, margin x{factor} (what the defaults come from):")
    for g, gt in calibrated_all.items():
        print(f"  {g}: {gt}")
    write_json_atomic(
        args.out,
        {
            "set": {"seed": args.seed, "good": len(fs.good), "bad": len(fs.bad),
                    "good_by_genre": dict(Counter(x.genre for x in fs.good)),
                    "bad_by_kind": dict(Counter(x.label for x in fs.bad))},
            "margin_sweep_held_out": sweep,
            "margin_factor": factor,
            "results": rows,
            "calibrated_on_half": {g: vars(t) for g, t in calibrated.items()},
            "calibrated_on_all": {g: vars(t) for g, t in calibrated_all.items()},
            "good_max_by_genre": per_genre_max,
        },
    )  # fmt: skip
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
