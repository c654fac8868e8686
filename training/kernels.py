"""Fused GPU kernels for Llama-family models: liger-kernel swapped into an already loaded model.

Why: with a 135M model and the extended 68,857-token vocabulary, the output layer and the loss
dominate a step. transformers computes bf16 logits for the whole batch, upcasts them to fp32 and
keeps both for backward (16 x 2048 x 68,857 x 6 bytes = 13.5 GB per micro-batch). liger-kernel's
fused linear cross-entropy (Hsu et al. 2024, "Liger Kernel", arXiv:2410.10989) computes the loss
and its gradient chunk by chunk and never materialises the logits. Its RMSNorm, SwiGLU and RoPE
kernels fuse the elementwise work of each decoder layer.

liger-kernel is Triton, so it runs only on CUDA; it is an optional dependency (`pip install
'tibcpt[gpu]'`). On CPU, or where it is not installed, `apply_kernels` leaves the model as it is
and says why: the loss is the same function either way (tests/training/test_speed.py).

Which kernels (bench/train_speed.py, bench/results/train_speed.json, H200, SmolLM2-135M shape,
16 x 2048 tokens per step): under regional torch.compile none at all. Inductor fuses RMSNorm,
SwiGLU and RoPE itself (liger's ops inside the block cost 3 graph breaks: 140k tok/s), and the
output layer + loss compiled as their own region (parallelize.compile_loss) run at 293k tok/s
where liger's fused linear cross-entropy gave 168k: with a 576-wide hidden state it cuts the
batch into 64 chunks of 512 tokens and adds each chunk's fp32 gradient into the 68,857 x 576
output weight, 109 ms of matrix work per step against 46 ms (profile_steps). In eager mode
liger's RMSNorm, SwiGLU, RoPE and its (unfused) cross-entropy, which computes the loss and its
gradient in place on the fp32 logits. Under fp16 the loss kernels stay out: the fused one
computes the logits' gradient in the forward pass, before GradScaler scales the loss, so the small
per-token gradients (about softmax / tokens) underflow in fp16 (measured: loss 9.61 after 30 steps
against 9.05 with plain PyTorch, no skipped steps to warn of it).
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
ALL_KERNELS = ("cross_entropy", "fused_linear_cross_entropy", "rms_norm", "swiglu", "rope")
EAGER_KERNELS = ("cross_entropy", "rms_norm", "swiglu", "rope")
LOSS_KERNELS = ("cross_entropy", "fused_linear_cross_entropy")


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model under a peft wrapper (or the model itself)."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


VOCAB_ALIGN = 64
"""Output rows are padded to a multiple of this in `head_loss`. cuBLAS picks its fast Hopper
kernels only for aligned leading dimensions: with SmolLM2's extended 68,857 rows the three output
matmuls of an eager step fell to `cutlass_75 ... align1` kernels, 68 ms of a 197 ms step on an H200
(bench/results/train_speed.json, tibcpt_eager_prof's kernel table). Megatron-LM pads its
vocabulary for the same reason (`make-vocab-size-divisible-by`); here only the loss sees the
padding, the model and its saved weights keep their size."""


def head_loss(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, cross_entropy=None) -> torch.Tensor:
    """Mean next-token cross-entropy of `hidden @ weight.T` against `labels` shifted by one
    (transformers' ForCausalLMLoss for unpadded batches: fp32 softmax, -100 ignored).
    `cross_entropy`: the loss function (default torch's).

    The labels are shifted, not the hidden states (the last position gets -100, as transformers
    does), so the matmul reads the contiguous [batch x seq] rows. The output weight is padded with
    zero rows to a multiple of VOCAB_ALIGN and those columns get a -inf bias: softmax gives them
    probability 0 and gradient 0, so loss and gradients are the unpadded ones."""
    ce = cross_entropy or torch.nn.functional.cross_entropy
    vocab = weight.shape[0]
    pad = -vocab % VOCAB_ALIGN
    bias = None
    if pad:
        weight = torch.nn.functional.pad(weight, (0, 0, 0, pad))
        bias = torch.zeros(vocab + pad, dtype=weight.dtype, device=weight.device)
        bias[vocab:] = float("-inf")
    logits = torch.nn.functional.linear(hidden.reshape(-1, hidden.shape[-1]), weight, bias).float()
    target = torch.nn.functional.pad(labels[:, 1:], (0, 1), value=-100).reshape(-1)
    return ce(logits, target, ignore_index=-100)


def liger_head_loss(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """`head_loss` with liger's cross-entropy kernel: loss and gradient in one pass over the fp32
    logits, the gradient written in place (no second fp32 tensor for backward)."""
    from liger_kernel.transformers.functional import liger_cross_entropy

    return head_loss(hidden, weight, labels, liger_cross_entropy)


def replace_loss(model: torch.nn.Module, loss_fn) -> None:
    """Route training calls (grad enabled, `labels` given) through `loss_fn(hidden, lm_head.weight,
    labels)`; evaluation and generation keep the model's own forward.

    The causal LM's forward is replaced on the instance, as liger-kernel's fused loss does, so DDP
    and FSDP wrappers still call it through their own forward (their hooks run as before). Done
    here rather than with liger's `cross_entropy=True`, which replaces torch.nn.functional's
    cross_entropy for the whole process (evaluation included)."""
    from transformers.modeling_outputs import CausalLMOutputWithPast

    lm = base_model(model)
    own_forward = lm.forward

    def forward(input_ids=None, labels=None, use_cache=None, **kwargs):
        if labels is None or not torch.is_grad_enabled() or kwargs:
            return own_forward(input_ids=input_ids, labels=labels, use_cache=use_cache, **kwargs)
        hidden = lm.model(input_ids=input_ids, use_cache=False).last_hidden_state
        return CausalLMOutputWithPast(loss=loss_fn(hidden, lm.lm_head.weight, labels))

    lm.forward = forward


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
    """The liger kernels to use (measured, see the module docstring): none under regional compile;
    norm, SwiGLU, RoPE and cross-entropy in eager mode; no loss kernel under fp16 loss scaling."""
    chosen = () if compiled else EAGER_KERNELS
    return tuple(k for k in chosen if not (fp16 and k in LOSS_KERNELS))


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
    if flags.pop("cross_entropy"):
        if flags["fused_linear_cross_entropy"]:
            raise ConfigError("kernels: cross_entropy and fused_linear_cross_entropy exclude each other")
        replace_loss(model, liger_head_loss)
    _apply_liger_kernel_to_instance(model=base_model(model), cross_entropy=False, **flags)
    log.info("liger-kernel: %s", ", ".join(chosen))
    return chosen
