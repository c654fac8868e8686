"""Numerics of a run: the precision check, AdamW over the trainable parameters, the number of steps."""

from __future__ import annotations

import math

import torch
from tibcpt.training.config import TrainConfig
from tibcpt.training.data import samples_for_epochs

from tibcpt.errors import ConfigError


def total_steps(cfg: TrainConfig, n_train: int, world: int) -> int:
    if cfg.max_steps > 0:
        return cfg.max_steps
    per_step = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps * world
    return max(1, math.ceil(samples_for_epochs(n_train, cfg.num_train_epochs, cfg.data.replay_ratio) / per_step))


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig, cuda: bool) -> torch.optim.Optimizer:
    """AdamW; no weight decay on vectors (norms, biases), as in nanoGPT's configure_optimizers."""
    o = cfg.optim
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("model.finetuning_type: no parameter is trainable")
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": o.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    # fused=True is one kernel for all parameters on CUDA; CPU keeps the default foreach path.
    return torch.optim.AdamW(
        [g for g in groups if g["params"]],
        lr=o.learning_rate,
        betas=(o.adam_beta1, o.adam_beta2),
        eps=o.adam_epsilon,
        fused=cuda or None,
    )


def check_precision(mixed_precision: str, cuda: bool) -> None:
    """Fail before any compute when the requested precision cannot run here."""
    if mixed_precision == "fp16" and not cuda:
        raise ConfigError("mixed_precision: fp16 needs a CUDA GPU (use bf16 or no on CPU)")
    if mixed_precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name()
        raise ConfigError(f"mixed_precision: bf16 is not supported on {name} (pre-Ampere); use fp16")
