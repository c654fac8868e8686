"""The one place where the loaded model is transformed before training (train.py's `setup` calls it)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tibcpt.training.config import TrainConfig
from tibcpt.training.model import apply_finetuning, embedding_parameter_names, resize_embeddings
from tibcpt.training.optim import build_optimizer
from tibcpt.training.parallelize import speed_up

from tibcpt.config import ConfigError


@dataclass
class PreparedModel:
    """What `prepare_model` hands to the loop."""

    model: torch.nn.Module
    """The model to call: possibly a PeftModel, wrapped by accelerate (DDP/FSDP) and compiled."""
    optimizer: torch.optim.Optimizer
    resized: bool
    """The vocabulary was extended (new embedding rows)."""
    non_embedding_params: list[torch.nn.Parameter]
    """Trainable parameters outside embed_tokens/lm_head (silenced during embeddings-only steps)."""


def prepare_model(
    model, cfg: TrainConfig, accelerator, vocab_size: int, base_tokenizer=None, tokenizer=None
) -> PreparedModel:
    """Every transformation of the loaded model, in order (the one place to add another).

    1. grow the vocabulary to the shard tokenizer's (`model.new_token_init`: each new row the mean
       of its base-tokenizer pieces' rows, or of all rows);
    2. choose what trains (`model.finetuning_type`: full / freeze / LoRA adapters);
    3. the optimizer over the trainable parameters (before any wrapper, as FSDP needs);
    4. fused kernels and regional `torch.compile` (parallelize.py; `model.kernels`, `model.compile`);
    5. accelerate's wrappers (DDP / FSDP / mixed precision) for model and optimizer together.
    """
    cuda = accelerator.device.type == "cuda"
    resized = resize_embeddings(model, vocab_size, cfg.model.new_token_init, base_tokenizer, tokenizer)
    model = apply_finetuning(model, cfg.model, resized)
    emb_names = set(embedding_parameter_names(model))
    non_emb = [p for n, p in model.named_parameters() if p.requires_grad and n not in emb_names]
    if cfg.model.train_embeddings_only_steps and not any(model.get_parameter(n).requires_grad for n in emb_names):
        raise ConfigError("model.train_embeddings_only_steps: the embeddings are frozen in this finetuning_type")
    optimizer = build_optimizer(model, cfg, cuda)
    speed_up(
        model,
        cfg.model.kernels,
        cfg.model.compile,
        cfg.model.compile_cache_dir,
        fp16=cfg.mixed_precision == "fp16",
        compiled_loss=cfg.model.compiled_loss,
        cuda_graphs=cfg.model.cuda_graphs,
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    return PreparedModel(model, optimizer, resized, non_emb)
