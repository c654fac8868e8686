"""Load the model, match it to the shard tokenizer, then choose what trains (full / freeze / LoRA).

Each step is one function, applied in order by `train.py` (torchtitan style: the model code is
never edited, only configured): `load_model` → `load_base_tokenizer` + `check_tokenizer_extends`
→ `resize_embeddings_mean` → `apply_finetuning`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from tibcpt.training.config import ModelConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from tibcpt.errors import ConfigError, InputError

log = logging.getLogger(__name__)

EMBEDDING_MODULES = ["embed_tokens", "lm_head"]


def check_model_source(name_or_path: str) -> None:
    """Fail with one line unless `name_or_path` is a local model folder or a hub model in the local cache.

    Without this a mistyped local path reaches transformers as a hub id, which retries the network
    and ends in a long traceback."""
    path = Path(name_or_path)
    if path.exists():
        if not (path / "config.json").is_file():
            raise InputError(f"model.model_name_or_path: {path} is not a model folder (no config.json)")
        return
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(name_or_path, "config.json")
    except ValueError:  # not a valid hub id either (HFValidationError is a ValueError)
        cached = None
    if not isinstance(cached, str):
        raise InputError(
            f"model.model_name_or_path: {name_or_path} does not exist (neither a local model folder nor a "
            "cached Hugging Face model; `make base-model` writes models/smollm2-135m)"
        )


def load_model(cfg: ModelConfig) -> PreTrainedModel:
    """fp32 master weights from a local folder (safetensors only) or a hub id the user has cached."""
    kwargs = {"dtype": torch.float32, "use_safetensors": True}
    if cfg.attn_implementation:
        kwargs["attn_implementation"] = cfg.attn_implementation
    return AutoModelForCausalLM.from_pretrained(cfg.model_name_or_path, **kwargs)


def load_base_tokenizer(model_name_or_path: str):
    """The base model's own tokenizer, or None when it has none; loaded once per run for
    `check_tokenizer_extends` and the base-model figures on `data.eval_sets`."""
    path = Path(model_name_or_path)
    if path.exists() and not (path / "tokenizer_config.json").is_file() and not (path / "tokenizer.json").is_file():
        return None  # a local folder without tokenizer files (transformers would raise ValueError)
    try:
        return AutoTokenizer.from_pretrained(model_name_or_path)
    except OSError:  # a cached hub model without tokenizer files
        return None


def check_tokenizer_extends(base_tokenizer, shard_tokenizer, model_name_or_path: str) -> None:
    """Raise ConfigError unless the shard tokenizer keeps every base token at the same id.

    Resizing can only append rows: a tokenizer that renumbers existing tokens would pair them with
    the wrong embeddings, which no resize can fix. Without a base tokenizer (None) only the size
    check applies.
    """
    if base_tokenizer is None:
        return
    base_vocab, shard_vocab = base_tokenizer.get_vocab(), shard_tokenizer.get_vocab()
    moved = [t for t, i in base_vocab.items() if shard_vocab.get(t) != i]
    if moved:
        raise ConfigError(
            f"the shard tokenizer is not an extension of {model_name_or_path}'s tokenizer: "
            f"{len(moved)} base tokens missing or renumbered (e.g. {moved[:5]!r}); resizing cannot fix that"
        )


@torch.no_grad()
def resize_embeddings_mean(model: PreTrainedModel, new_size: int) -> bool:
    """Grow input (and untied output) embeddings to `new_size`; new rows = mean of the old rows.

    Mean initialisation keeps the new tokens' initial logits close to the average token's
    (Hewitt 2021, "Initializing new word embeddings"; LLaMA-Factory's `resize_vocab`).
    Old rows stay bit-identical. Returns True when the model grew.
    """
    old_size = model.get_input_embeddings().weight.shape[0]
    if new_size <= old_size:
        return False
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    # mean_resizing=False: we set the rows ourselves (transformers' own mean resizing samples
    # from a Gaussian around the mean, which is not reproducible across versions).
    model.resize_token_embeddings(new_size, mean_resizing=False)
    emb = model.get_input_embeddings().weight
    emb[old_size:] = emb[:old_size].mean(dim=0, keepdim=True)
    out = model.get_output_embeddings()
    if out is not None and not tied:
        out.weight[old_size:] = out.weight[:old_size].mean(dim=0, keepdim=True)
    if tied and out is not None and out.weight.data_ptr() != emb.data_ptr():
        model.tie_weights()
    model.config.vocab_size = new_size
    log.info("resized embeddings %d -> %d (mean init, tied=%s)", old_size, new_size, tied)
    return True


def embedding_parameter_names(model: torch.nn.Module) -> list[str]:
    """Names of the parameters belonging to embed_tokens / lm_head (incl. LoRA modules_to_save copies)."""
    return [n for n, _ in model.named_parameters() if any(m in n for m in EMBEDDING_MODULES)]


def _freeze(model: PreTrainedModel, cfg: ModelConfig, train_embeddings: bool) -> None:
    layers = model.model.layers
    n = min(cfg.freeze_trainable_layers, len(layers))
    trainable = {f"model.layers.{i}." for i in range(len(layers) - n, len(layers))}
    for name, p in model.named_parameters():
        in_layers = any(name.startswith(t) for t in trainable)
        p.requires_grad = in_layers or (train_embeddings and any(m in name for m in EMBEDDING_MODULES))
    # The final norm sits after the trainable layers; LLaMA-Factory freezes it too, and so do we.


def _lora(model: PreTrainedModel, cfg: ModelConfig, resized: bool) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model

    names = [n for n, _ in model.named_modules()]
    unmatched = [t for t in cfg.lora_target if not any(n == t or n.endswith("." + t) for n in names)]
    if unmatched:
        raise ConfigError(f"model.lora_target: {unmatched} match no module of {type(model).__name__}")
    to_save = cfg.lora_modules_to_save
    if to_save is None:
        to_save = list(EMBEDDING_MODULES) if resized else []
    lcfg = LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_target),
        modules_to_save=to_save or None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lcfg)


def apply_finetuning(model: PreTrainedModel, cfg: ModelConfig, resized: bool) -> torch.nn.Module:
    """Set requires_grad per `finetuning_type`; returns the model (a PeftModel for lora)."""
    if cfg.finetuning_type == "full":
        for p in model.parameters():
            p.requires_grad = True
    elif cfg.finetuning_type == "freeze":
        train_emb = resized if cfg.freeze_train_embeddings is None else cfg.freeze_train_embeddings
        _freeze(model, cfg, train_emb)
    else:
        model = _lora(model, cfg, resized)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if cfg.finetuning_type != "full":
            model.enable_input_require_grads()
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in model.parameters())
    log.info("%s: %.2fM of %.2fM parameters train", cfg.finetuning_type, n_train / 1e6, n_all / 1e6)
    return model


def merged_for_saving(model: torch.nn.Module) -> PreTrainedModel:
    """A plain HF model for `save_pretrained`: LoRA adapters merged, otherwise unchanged."""
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model
