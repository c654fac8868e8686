"""The artifacts a user gets from a run: the Hugging Face model folder, checked after every save.

Saved weights must load as they were trained. Wrappers rename parameters (torch.compile's
`_orig_mod.`, DDP's and FSDP's `module.`), and transformers loads a folder with wrong names by
re-initialising the missing weights with only a warning, so a folder that looks fine can hold a
random model (issue 10: every `model.compile=true` run saved `_orig_mod.` keys and `tibcpt generate`
sampled from random weights). So: `unwrap` strips every wrapper before a save, `clean_state_dict`
strips wrapper prefixes from a gathered state dict, and `verify_model_folder` reloads the saved
folder in a fresh model and fails on any missing, unexpected or changed weight. `load_checked` is
the loader under `load_model_folder`, which `tibcpt generate` and `tibcpt eval` use: they refuse
such a folder instead of sampling from a half-random model.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from tibcpt.training.model import merged_for_saving

from tibcpt.errors import InputError

log = logging.getLogger(__name__)

WRAPPER_PREFIXES = ("_orig_mod.", "module.", "_fsdp_wrapped_module.", "_checkpoint_wrapped_module.")


class BrokenModelFolder(InputError):
    """A model folder whose weights do not match its config (missing, unexpected or mismatched keys)."""


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module under torch.compile (`_orig_mod`) and DDP/FSDP (`module`) wrappers, at any depth."""
    while True:
        if hasattr(model, "_orig_mod") and isinstance(model._orig_mod, torch.nn.Module):
            model = model._orig_mod
        elif type(model).__name__ in ("DistributedDataParallel", "FullyShardedDataParallel", "DataParallel"):
            model = model.module
        else:
            return model


def clean_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Wrapper prefixes removed from every key, wherever they occur (regional compile wraps layers)."""
    out = {}
    for key, value in state_dict.items():
        clean = key
        for prefix in WRAPPER_PREFIXES:
            clean = clean.replace(prefix, "")
        if clean in out:
            raise RuntimeError(f"state dict key {clean!r} appears twice after removing wrapper prefixes")
        out[clean] = value
    return out


def save_final_model(model, state_dict, tokenizer, out: Path, finetuning_type: str) -> dict[str, torch.Tensor]:
    """HF folder (safetensors): adapters under adapter/ for LoRA, then the merged full model.

    Returns the weights as saved (names as in the folder), for `verify_model_folder`."""
    model = unwrap(model)
    if finetuning_type == "lora":
        model.save_pretrained(out / "adapter", safe_serialization=True)
        merged = merged_for_saving(model)
        merged.save_pretrained(out, safe_serialization=True)
        saved = merged.state_dict()
    else:
        saved = clean_state_dict(state_dict) if state_dict is not None else model.state_dict()
        model.save_pretrained(out, state_dict=saved, safe_serialization=True)
    tokenizer.save_pretrained(out)
    log.info("saved model to %s", out)
    return saved


def load_checked(path: str | Path, **kwargs):
    """`AutoModelForCausalLM.from_pretrained` that refuses a folder with missing or unexpected weights."""
    from transformers import AutoModelForCausalLM

    path = Path(path)
    if not (path / "config.json").is_file():
        raise InputError(f"{path} is not a model folder (no config.json)")
    model, info = AutoModelForCausalLM.from_pretrained(path, use_safetensors=True, output_loading_info=True, **kwargs)
    problems = {k: sorted(info.get(k) or []) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    problems = {k: v for k, v in problems.items() if v}
    if problems:
        detail = "; ".join(f"{len(v)} {k.replace('_', ' ')} (e.g. {v[:3]})" for k, v in problems.items())
        raise BrokenModelFolder(f"{path}: weights do not match the model config: {detail}")
    return model


def load_model_folder(path: str | Path):
    """(model, tokenizer) of a saved folder for inference (`tibcpt generate`, `tibcpt eval`): checked by
    `load_checked`, bf16 where the GPU has it (fp32 otherwise), on the GPU when there is one, eval mode."""
    from transformers import AutoTokenizer

    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    model = load_checked(path, dtype=dtype).to("cuda" if cuda else "cpu").eval()
    return model, AutoTokenizer.from_pretrained(path)


def verify_model_folder(out: Path, saved: dict[str, torch.Tensor]) -> None:
    """Reload `out` in a fresh model and compare every weight with what was saved; raise on any difference."""
    fresh = load_checked(out, dtype=torch.float32)
    state = fresh.state_dict()
    differ = [
        k
        for k, v in saved.items()
        if k in state and not torch.equal(state[k].cpu(), v.detach().cpu().to(state[k].dtype))
    ]
    absent = [k for k in saved if k not in state]
    if differ or absent:
        raise BrokenModelFolder(
            f"{out}: reloaded weights differ from the trained ones ({len(differ)} changed, e.g. {differ[:3]}; "
            f"{len(absent)} absent, e.g. {absent[:3]})"
        )
    log.info("verified %s: %d tensors reload bit-identical", out, len(saved))
