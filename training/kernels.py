"""Fused GPU kernels for Llama-family models: liger-kernel swapped into an already loaded model.

Why: with a 135M model and the extended 68,857-token vocabulary, the output layer and the loss
dominate a step. transformers computes bf16 logits for the whole batch, upcasts them to fp32 and
keeps both for backward (16 x 2048 x 68,857 x 6 bytes = 13.5 GB per micro-batch). liger-kernel's
fused linear cross-entropy (Hsu et al. 2024, "Liger Kernel", arXiv:2410.10989) computes the loss
and its gradient chunk by chunk and never materialises the logits. Its RMSNorm, SwiGLU and RoPE
kernels fuse the elementwise work of each decoder layer.

liger-kernel is Triton, so it runs only on CUDA; it is an optional dependency (`pip install
'tibcpt[gpu]'`). On CPU, or where it is not installed, `apply_kernels` leaves the model as it is
and says why: the loss is the same function either way (tests/training/test_kernels.py).

Which kernels (bench/train_speed.py, bench/results/train_speed.json, H200, SmolLM2-135M shape):
eager runs get all four (150k tok/s against 115k without); under regional torch.compile
(parallelize.py) only the fused linear cross-entropy, which sits outside the compiled block:
inductor fuses RMSNorm, SwiGLU and RoPE itself, and liger's ops inside the block cost 3 graph
breaks (140k tok/s with all four, 189k with the loss alone). Under fp16 the fused cross-entropy
is left out: it computes the logits' gradient in the forward pass, before GradScaler scales the
loss, so the small per-token gradients (about softmax / tokens) underflow in fp16 (measured: loss
9.61 after 30 steps against 9.05 with plain PyTorch, no skipped steps to warn of it).
"""

from __future__ import annotations

import logging
from typing import Literal

import torch

from tibcpt.errors import ConfigError

log = logging.getLogger(__name__)

KernelsMode = Literal["auto", "liger", "none"]
KERNELS_MODES = ("auto", "liger", "none")

# liger's apply_liger_kernel_to_<model> keyword for each kernel.
ALL_KERNELS = ("fused_linear_cross_entropy", "rms_norm", "swiglu", "rope")


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model under a peft wrapper (or the model itself)."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


def liger_unavailable(model: torch.nn.Module) -> str | None:
    """Why liger-kernel cannot be used for `model` here, or None when it can."""
    if not torch.cuda.is_available():
        return "no CUDA device (liger-kernel's kernels are Triton, GPU only)"
    try:
        from liger_kernel.transformers.monkey_patch import MODEL_TYPE_TO_APPLY_LIGER_FN
    except ImportError as e:
        return f"liger-kernel is not installed ({e}; pip install 'tibcpt[gpu]')"
    model_type = getattr(getattr(base_model(model), "config", None), "model_type", None)
    if model_type not in MODEL_TYPE_TO_APPLY_LIGER_FN:
        return f"liger-kernel has no kernels for model_type {model_type!r}"
    return None


def kernel_set(compiled: bool, fp16: bool = False) -> tuple[str, ...]:
    """The liger kernels to use: all four in eager mode, only the loss under regional compile;
    never the fused loss under fp16 loss scaling (see the module docstring)."""
    chosen = ("fused_linear_cross_entropy",) if compiled else ALL_KERNELS
    return tuple(k for k in chosen if not (fp16 and k == "fused_linear_cross_entropy"))


def apply_kernels(
    model: torch.nn.Module,
    mode: KernelsMode,
    compiled: bool,
    kernels: tuple[str, ...] | None = None,
    fp16: bool = False,
) -> tuple[str, ...]:
    """Swap liger's fused kernels into `model` (in place); returns the kernels applied.

    mode `auto` applies them where they can run and otherwise logs why not; `liger` raises
    ValueError instead; `none` applies nothing. `kernels` overrides `kernel_set(compiled, fp16)`.
    The patch goes to the transformers model under any peft wrapper. liger's RoPE replaces the
    function of transformers' modeling module, so it holds for every model of that family in the
    process (the bench runs each variant in its own process for that reason).
    """
    if mode not in KERNELS_MODES:
        raise ConfigError(f"model.kernels: must be one of {KERNELS_MODES}, got {mode!r}")
    if mode == "none":
        return ()
    reason = liger_unavailable(model)
    if reason is not None:
        if mode == "liger":
            raise ConfigError(f"model.kernels: liger was requested but {reason}")
        log.info("model.kernels=auto: plain PyTorch kernels (%s)", reason)
        return ()
    from liger_kernel.transformers import _apply_liger_kernel_to_instance

    chosen = kernel_set(compiled, fp16) if kernels is None else tuple(kernels)
    unknown = [k for k in chosen if k not in ALL_KERNELS]
    if unknown:
        raise ConfigError(f"kernels: unknown {unknown}; known: {ALL_KERNELS}")
    if not chosen:
        return ()
    # Every flag is passed explicitly: liger's defaults differ per model family.
    flags = {k: k in chosen for k in ALL_KERNELS}
    _apply_liger_kernel_to_instance(model=base_model(model), cross_entropy=False, **flags)
    log.info("liger-kernel: %s", ", ".join(chosen))
    return chosen
