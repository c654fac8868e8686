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
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tibcpt.errors import InputError
from tibcpt.io import write_text_atomic
from tibcpt.shards import DATA, MANIFEST

log = logging.getLogger(__name__)

# Licenses that forbid commercial use: the dataset as a whole inherits the strictest one.
_NC = ("-NC", "NonCommercial")


def dataset_license(licenses: list[str]) -> str:
    """One license tag for a mixed dataset: the single license if uniform, else `other`."""
    uniq = sorted(set(licenses))
    if len(uniq) == 1 and uniq[0] not in ("unknown",) and not uniq[0].startswith("LicenseRef-"):
        return uniq[0].lower()
    return "other"


def restricted_sources(manifest: dict[str, Any]) -> dict[str, str]:
    """Sources whose license is unknown or non-commercial: {name: license}. Publishing them needs
    `--allow-restricted-licenses`, and the card says so."""
    return {
        n: s["license"]
        for n, s in manifest["sources"].items()
        if s["license"] == "unknown" or any(m in s["license"] for m in _NC)
    }


def dataset_card(manifest: dict[str, Any], repo_id: str) -> str:
    srcs = manifest["sources"]
    t = manifest["totals"]
    lic = dataset_license([s["license"] for s in srcs.values()])
    nc = any(any(m in s["license"] for m in _NC) for s in srcs.values())
    unknown = sorted(n for n, s in srcs.items() if s["license"] == "unknown")
    warn = (
        f"**Warning: the license of {', '.join(unknown)} is unknown; check the terms before using that text.**"
        if unknown
        else ""
    )
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
{warn}

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


def _num(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, (int, float)) else "—"


def _eval_tables(ev: dict[str, Any]) -> str:
    """eval.json (training/train.py) as Markdown: raw-text sets base vs trained, then shard splits."""
    out = []
    sets = ev.get("text_sets") or {}
    if sets:
        out += [
            "Bits per byte on held-out raw text (each model with its own tokenizer on the same bytes; "
            "lower is better):",
            "",
            "| set | base model | this model | change |",
            "|---|---|---|---|",
        ]
        for name, r in sets.items():
            base, trained = (r.get("base") or {}).get("bits_per_byte"), (r.get("trained") or {}).get("bits_per_byte")
            change = f"{(trained / base - 1) * 100:+.1f} %" if base and trained else ""
            out.append(f"| {name} | {_num(base)} | {_num(trained)} | {change} |")
        out.append("")
    final = ev.get("final") or {}
    if final:
        out += ["Held-out shard splits after training:", "", "| split | loss | bits per byte |", "|---|---|---|"]
        out += [f"| {k} | {v.get('loss', 0):.4f} | {v.get('bits_per_byte', 0):.4f} |" for k, v in final.items()]
        out.append("")
    return "\n".join(out) or "No evaluation was recorded (no eval.json)."


def model_card(model_dir: Path, repo_id: str) -> str:
    from tibcpt.training.generate import GenerateConfig

    ev: dict[str, Any] = {}
    if (model_dir / "eval.json").exists():
        ev = json.loads((model_dir / "eval.json").read_text())
    cfg = json.loads((model_dir / "config.json").read_text()) if (model_dir / "config.json").exists() else {}
    tc = json.loads((model_dir / "train_config.json").read_text()) if (model_dir / "train_config.json").exists() else {}
    recipe = ""
    if tc:
        m, d, o = tc.get("model", {}), tc.get("data", {}), tc.get("optim", {})
        steps = tc.get("max_steps") or -1
        length = f"{steps} steps" if steps > 0 else f"{tc.get('num_train_epochs')} epochs"
        if steps <= 0 and "step" in ev:
            length += f" ({ev['step']} optimizer steps)"
        precision = {"no": "fp32"}.get(tc.get("mixed_precision"), tc.get("mixed_precision"))
        recipe = (
            f"Training: `{m.get('finetuning_type')}` fine-tuning from "
            f"`{Path(str(m.get('model_name_or_path'))).name}`, learning rate {o.get('learning_rate')} "
            f"({o.get('lr_scheduler_type')}), {length}, English replay {d.get('replay_ratio', 0):.0%}, new token "
            f"embeddings initialised by `{m.get('new_token_init')}`, {precision}.\n"
        )
    g = GenerateConfig()
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
(vocabulary size {cfg.get("vocab_size", "?")}, extended with Tibetan tokens).
{recipe}
## Evaluation

{_eval_tables(ev)}
## Use

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained("{repo_id}")
model = AutoModelForCausalLM.from_pretrained("{repo_id}")
```

Every training document followed the token in `document_separator.json`; start a prompt with it
as `tibcpt generate` does. `tibcpt generate` samples with top_k {g.top_k}, top_p {g.top_p},
temperature {g.temperature}, repetition_penalty {g.repetition_penalty} (chosen by measurement:
lower temperatures without the penalty made this model family repeat itself) and masks tokens that
would start a Tibetan syllable with a vowel sign or subjoined letter.
"""


MARKER = ".tibcpt-staging.json"
"""Written into every staging folder publish creates: the files it wrote. Only such a folder, holding
only those files, is ever replaced; anything else at the staging path is refused, never deleted."""


def check_staging(staging: Path, source: Path) -> None:
    """Refuse a staging folder that overlaps the folder being published or that publish did not create."""
    s, p = staging.resolve(), source.resolve()
    if s == p or p.is_relative_to(s) or s.is_relative_to(p):
        raise InputError(f"--staging {staging} overlaps --path {source}; choose a folder outside it")
    if not staging.exists():
        return
    if not staging.is_dir():
        raise InputError(f"--staging {staging} exists and is not a folder")
    present = {q.relative_to(staging).as_posix() for q in staging.rglob("*") if not q.is_dir()}
    if not present:
        return
    marker = staging / MARKER
    if not marker.is_file():
        raise InputError(
            f"--staging {staging} exists and was not created by tibcpt publish; it is left untouched: "
            "choose another folder or remove it yourself"
        )
    try:
        ours = set(json.loads(marker.read_text(encoding="utf-8"))["files"]) | {MARKER}
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{marker}: unreadable ({e}); remove {staging} yourself") from None
    foreign = sorted(present - ours)
    if foreign:
        raise InputError(
            f"--staging {staging} holds files tibcpt publish did not write ({foreign[0]}"
            f"{f' and {len(foreign) - 1} more' if len(foreign) > 1 else ''}); it is left untouched"
        )


def _swap_in(build: Path, staging: Path) -> None:
    """Replace `staging` (checked by `check_staging`: absent, empty or ours) with the finished `build`."""
    files = sorted(q.relative_to(build).as_posix() for q in build.rglob("*") if q.is_file())
    (build / MARKER).write_text(json.dumps({"files": files}, indent=1) + "\n", encoding="utf-8")
    if staging.exists():
        old = staging.with_name(f".tmp-old-{staging.name}-{os.getpid()}")
        os.replace(staging, old)
        os.replace(build, staging)
        shutil.rmtree(old)  # only a folder check_staging proved ours
    else:
        os.replace(build, staging)


def _stage(source: Path, staging: Path, fill: Callable[[Path], None]) -> Path:
    check_staging(staging, source)
    staging.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".tmp-{staging.name}-", dir=staging.parent))
    try:
        fill(build)
        _swap_in(build, staging)
    finally:
        if build.exists():
            shutil.rmtree(build)  # our own temp folder
    return staging


def stage_dataset(corpus: Path, staging: Path, repo_id: str) -> Path:
    mpath = corpus / MANIFEST
    if not mpath.is_file():
        raise InputError(f"{corpus}: no {MANIFEST} (run `tibcpt corpus` first)")
    manifest = json.loads(mpath.read_text())

    def fill(build: Path) -> None:
        (build / DATA).mkdir(parents=True)
        for s in manifest["shards"]:
            shutil.copy2(corpus / s["path"], build / s["path"])
        shutil.copy2(mpath, build / MANIFEST)
        write_text_atomic(build / "README.md", dataset_card(manifest, repo_id))

    return _stage(corpus, staging, fill)


def stage_model(model_dir: Path, staging: Path, repo_id: str) -> Path:
    if not (model_dir / "config.json").is_file():
        raise InputError(f"{model_dir}: not a model folder (no config.json)")
    skip = {"optimizer.pt", "scheduler.pt", "rng_state.pt", "checkpoints", "profile"}  # profile: profile_steps traces

    def fill(build: Path) -> None:
        shutil.copytree(
            model_dir,
            build,
            dirs_exist_ok=True,
            ignore=lambda d, names: [n for n in names if n in skip or n.startswith("checkpoint-")],
        )
        write_text_atomic(build / "README.md", model_card(model_dir, repo_id))

    return _stage(model_dir, staging, fill)


def upload(staging: Path, repo_id: str, repo_type: str, private: bool) -> str:
    from huggingface_hub import HfApi

    token = os.environ.get("HF_TOKEN")  # never logged; HfApi falls back to the cached login
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(staging), repo_id=repo_id, repo_type=repo_type, ignore_patterns=[MARKER])
    return str(info)


def add_cli(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=["dataset", "model"])
    p.add_argument("--path", required=True, help="corpus folder (dataset) or model folder (model)")
    p.add_argument("--repo-id", required=True, help="e.g. my-org/tibetan-corpus")
    p.add_argument("--staging", default=None, help="where to assemble the repo (default: <path>/../hub-<what>)")
    p.add_argument("--private", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="assemble the repo folder and card, upload nothing")
    p.add_argument(
        "--allow-restricted-licenses",
        action="store_true",
        help="upload a dataset with sources under an unknown or non-commercial license (the card warns)",
    )


def cli(args: argparse.Namespace) -> int:
    path = Path(args.path)
    staging = Path(args.staging) if args.staging else path.parent / f"hub-{args.what}"
    if args.what == "dataset":
        stage_dataset(path, staging, args.repo_id)
        restricted = restricted_sources(json.loads((staging / MANIFEST).read_text()))
    else:
        stage_model(path, staging, args.repo_id)
        restricted = {}
    print(f"staged {args.what} repository in {staging}")
    if restricted:
        listed = ", ".join(f"{n} ({lic})" for n, lic in sorted(restricted.items()))
        log.warning("sources under an unknown or non-commercial license: %s", listed)
    if args.dry_run:
        return 0
    if restricted and not args.allow_restricted_licenses:
        raise InputError(
            f"not uploading: {listed} are under an unknown or non-commercial license; "
            "pass --allow-restricted-licenses once you have checked the terms"
        )
    print(f"uploaded: {upload(staging, args.repo_id, args.what, args.private)}")
    return 0
