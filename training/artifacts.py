"""The artifacts a user gets from a run: the Hugging Face model folder and its tokenizer.

Saved weights must load as they were trained. Wrappers change parameter names (torch.compile's
`_orig_mod.`, DDP's `module.`, PEFT's `base_model.model.`), and transformers loads a folder with
wrong names by re-initialising the missing weights and only printing a warning, so a folder that
looks fine can hold a random model (issue 10: every `model.compile=true` run saved `_orig_mod.` keys).
"""

from __future__ import annotations

import logging
from pathlib import Path

from tibcpt.training.model import merged_for_saving

log = logging.getLogger(__name__)


def save_final_model(model, state_dict, tokenizer, out: Path, finetuning_type: str) -> None:
    """HF folder (safetensors): adapters under adapter/ for LoRA, then the merged full model."""
    if finetuning_type == "lora":
        model.save_pretrained(out / "adapter", safe_serialization=True)
        merged_for_saving(model).save_pretrained(out, safe_serialization=True)
    else:
        model.save_pretrained(out, state_dict=state_dict, safe_serialization=True)
    tokenizer.save_pretrained(out)
    log.info("saved model to %s", out)
