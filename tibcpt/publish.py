"""`tibcpt publish`: push the clean corpus or a trained model to the Hugging Face Hub with a card.

The card is generated from the manifest (sources, licenses, counts, filters) so it can never drift
from what was built. `--dry-run` stages the repository folder locally and uploads nothing. The token
comes from `HF_TOKEN` (or the huggingface_hub login) and is never printed or written anywhere.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from tibcpt.config import ConfigError
from tibcpt.io import write_text_atomic

log = logging.getLogger(__name__)

# Licenses that forbid commercial use: the dataset as a whole inherits the strictest one.
_NC = ("-NC", "NonCommercial")


def dataset_license(licenses: list[str]) -> str:
    """One license tag for a mixed dataset: the single license if uniform, else `other`."""
    uniq = sorted(set(licenses))
    if len(uniq) == 1 and uniq[0] not in ("unknown",) and not uniq[0].startswith("LicenseRef-"):
        return uniq[0].lower()
    return "other"


def dataset_card(manifest: dict[str, Any], repo_id: str) -> str:
    srcs = manifest["sources"]
    t = manifest["totals"]
    lic = dataset_license([s["license"] for s in srcs.values()])
    nc = any(any(m in s["license"] for m in _NC) for s in srcs.values())
    rows = "\n".join(
        f"| {n} | {s['genre']} | {s['license']} | {s['docs_out']} | {s['syllables']} | {s['bytes'] / 1e6:.2f} |"
        for n, s in srcs.items()
    )
    drops = "\n".join(f"| {r} | {c} |" for r, c in sorted(t["dropped_by_reason"].items(), key=lambda x: -x[1]))
    size = "n<1K" if t["docs_out"] < 1000 else "1K<n<10K" if t["docs_out"] < 10_000 else "10K<n<100K"
    if t["docs_out"] >= 100_000:
        size = "100K<n<1M" if t["docs_out"] < 1_000_000 else "1M<n<10M"
    return f"""---
language:
- bo
license: {lic}
task_categories:
- text-generation
size_categories:
- {size}
configs:
- config_name: default
  data_files: data/*.parquet
---

# {repo_id}

Clean Tibetan text built with tibcpt {manifest["tool"]["version"]}
(config hash `{manifest["config_hash"]}`, {manifest["created"]}): {t["docs_out"]} documents,
{t["syllables"]} syllables, {t["bytes"] / 1e6:.1f} MB of UTF-8 text.

## Sources and licenses

Each row keeps its source's license in the `license` column; use the data under the terms of each.
{"**Some sources are non-commercial (NC): the dataset as a whole is for non-commercial use only.**" if nc else ""}

| source | genre | license | documents | syllables | MB |
|---|---|---|---|---|---|
{rows}

## Processing

Ingest and extraction (trafilatura for HTML, pypdfium2 for PDF) → Tibetan Unicode normalization
(lossless, idempotent) → syllable segmentation → Tibetan-aware quality filters (FineWeb-2 `bod_Tibt`
thresholds where they apply) → exact and MinHash near-duplicate removal on syllable shingles (vowel
signs and subjoined letters kept). Documents removed, by reason:

| reason | documents |
|---|---|
{drops}

## Columns

`id, text, source, license, genre, url, title, date, n_syllables, n_bytes, meta`
"""


def model_card(model_dir: Path, repo_id: str) -> str:
    ev: dict[str, Any] = {}
    if (model_dir / "eval.json").exists():
        ev = json.loads((model_dir / "eval.json").read_text())
    cfg = json.loads((model_dir / "config.json").read_text()) if (model_dir / "config.json").exists() else {}
    evrows = "\n".join(f"| {k} | {v} |" for k, v in ev.items() if isinstance(v, (int, float, str)))
    return f"""---
language:
- bo
- en
library_name: transformers
pipeline_tag: text-generation
tags:
- tibetan
- continued-pretraining
---

# {repo_id}

A {cfg.get("architectures", ["causal LM"])[0]} continued-pretrained on Tibetan text with tibcpt
(vocabulary size {cfg.get("vocab_size", "?")}). Evaluation (loss and bits per byte on the held-out
Tibetan split; English replay split measures forgetting):

| metric | value |
|---|---|
{evrows}

Sampling defaults used by `tibcpt generate`: top_k 30, top_p 0.85, temperature 0.5.
"""


def stage_dataset(corpus: Path, staging: Path, repo_id: str) -> Path:
    mpath = corpus / "manifest.json"
    if not mpath.is_file():
        raise ConfigError(f"{corpus}: no manifest.json (run `tibcpt corpus` first)")
    manifest = json.loads(mpath.read_text())
    if staging.exists():
        shutil.rmtree(staging)
    (staging / "data").mkdir(parents=True)
    for s in manifest["shards"]:
        shutil.copy2(corpus / s["path"], staging / s["path"])
    shutil.copy2(mpath, staging / "manifest.json")
    write_text_atomic(staging / "README.md", dataset_card(manifest, repo_id))
    return staging


def stage_model(model_dir: Path, staging: Path, repo_id: str) -> Path:
    if not (model_dir / "config.json").is_file():
        raise ConfigError(f"{model_dir}: not a model folder (no config.json)")
    if staging.exists():
        shutil.rmtree(staging)
    skip = {"optimizer.pt", "scheduler.pt", "rng_state.pt"}
    shutil.copytree(
        model_dir, staging, ignore=lambda d, names: [n for n in names if n in skip or n.startswith("checkpoint-")]
    )
    write_text_atomic(staging / "README.md", model_card(model_dir, repo_id))
    return staging


def upload(staging: Path, repo_id: str, repo_type: str, private: bool) -> str:
    from huggingface_hub import HfApi

    token = os.environ.get("HF_TOKEN")  # never logged; HfApi falls back to the cached login
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(staging), repo_id=repo_id, repo_type=repo_type)
    return str(info)


def add_cli(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=["dataset", "model"])
    p.add_argument("--path", required=True, help="corpus folder (dataset) or model folder (model)")
    p.add_argument("--repo-id", required=True, help="e.g. my-org/tibetan-corpus")
    p.add_argument("--staging", default=None, help="where to assemble the repo (default: <path>/../hub-<what>)")
    p.add_argument("--private", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="assemble the repo folder and card, upload nothing")


def cli(args: argparse.Namespace) -> int:
    path = Path(args.path)
    staging = Path(args.staging) if args.staging else path.parent / f"hub-{args.what}"
    if args.what == "dataset":
        stage_dataset(path, staging, args.repo_id)
    else:
        stage_model(path, staging, args.repo_id)
    print(f"staged {args.what} repository in {staging}")
    if args.dry_run:
        return 0
    print(f"uploaded: {upload(staging, args.repo_id, args.what, args.private)}")
    return 0
