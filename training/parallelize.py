"""Make a prepared model fast without editing its code: fused kernels, then regional compilation.

torchtitan's `parallelize` step, for one process or DDP: `speed_up(model, cfg)` runs after
`apply_finetuning` and before `accelerator.prepare`.

Regional compilation (PyTorch recipe "Reducing torch.compile cold start compilation time with
regional compilation"): instead of `torch.compile(model)`, each decoder layer's forward is
compiled. The layers share one code object, so Dynamo traces and Inductor compiles one graph
that all of them reuse: compile time is one layer's, not the model's (the trainer's old
whole-model compile took 80 s to the first step on an H200, issue 11). Parameter names do not
change (no `_orig_mod.` prefix), so checkpoints and `save_pretrained` are unaffected.

The output layer and the loss are one more compiled region (`compile_loss`, `model.compiled_loss`):
with a 68,857-token vocabulary and a 576-wide model they are a third of the step, and Inductor
fuses the fp32 upcast, log-softmax and loss (H200, 16 x 2048 tokens: 293k tokens/s against 168k
with liger-kernel's fused linear cross-entropy, whose chunking costs 109 ms of matrix work per step
against 46 ms; bench/results/train_speed.json).

Shapes are static (`dynamic=False`): packed training batches always have the same shape, and a
static graph never recompiles for a new batch size. Under `torch.no_grad()` (evaluation,
generation) the layers run eagerly, so evaluating, at any batch size, never compiles.
Compiled kernels are cached on disk (Inductor's FX-graph and AOTAutograd caches, on by default in
torch >= 2.7), so a second run with the same shapes starts from the cache.

Also here: the DDP settings (`ddp_kwargs`) and Python's garbage collection on a step schedule
(`scheduled_gc`), the two things between the step and its speed on several GPUs.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from tibcpt.training.kernels import LOSS_KERNELS, apply_kernels, base_model, head_loss, replace_loss

from tibcpt.errors import ConfigError

log = logging.getLogger(__name__)

COMPILE_BACKEND = "inductor"


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The repeated decoder blocks (`model.layers` of a Llama-family causal LM, under any peft wrapper)."""
    inner = getattr(base_model(model), "model", None)
    layers = getattr(inner, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) == 0:
        raise ConfigError(f"model.compile: {type(base_model(model)).__name__} has no decoder layers at .model.layers")
    return layers


class TrainingCompiled:
    """A layer's forward: the compiled graph while autograd records, the eager forward otherwise."""

    def __init__(self, eager, compiled):
        self.eager = eager
        self.compiled = compiled

    def __call__(self, *args, **kwargs):
        if torch.is_grad_enabled():
            return self.compiled(*args, **kwargs)
        return self.eager(*args, **kwargs)


def set_compile_cache(cache_dir: str | None) -> str:
    """Point Inductor's (and Triton's) on-disk cache at `cache_dir`; returns the folder in use.

    Must run before the first compilation. None keeps torch's default (or TORCHINDUCTOR_CACHE_DIR).
    """
    if cache_dir:
        path = Path(cache_dir).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(path)
    from torch._inductor.runtime.cache_dir_utils import cache_dir as inductor_cache_dir

    return inductor_cache_dir()


def inductor_options(backend: str, cuda_graphs: bool) -> dict[str, Any] | None:
    """torch.compile's `options` for `backend`: Inductor's CUDA graphs when asked (other backends
    take no Inductor options)."""
    if cuda_graphs and backend != "inductor":
        raise ConfigError(f"model.cuda_graphs: needs the inductor backend, not {backend!r}")
    return {"triton.cudagraphs": True} if cuda_graphs else None


def compile_region(fn: Callable, backend: str | None, cuda_graphs: bool) -> Callable:
    """`fn` compiled with static shapes by `backend` (default COMPILE_BACKEND), as one region."""
    backend = backend or COMPILE_BACKEND
    return torch.compile(fn, backend=backend, dynamic=False, options=inductor_options(backend, cuda_graphs))


def compile_layers(model: torch.nn.Module, backend: str | None = None, cuda_graphs: bool = False) -> int:
    """Compile every decoder layer's forward in place for training; returns the number of layers.

    `backend` is torch.compile's, default COMPILE_BACKEND (tests use "aot_eager": the same graphs
    without code generation, seconds on a CPU). `cuda_graphs`: Inductor records each region's
    kernels as CUDA graphs (cudagraph trees; the training loop marks each micro-step's start)."""
    layers = decoder_layers(model)
    for layer in layers:
        if isinstance(layer.__dict__.get("forward"), TrainingCompiled):
            continue  # already compiled (e.g. speed_up called twice)
        eager = layer.forward
        layer.forward = TrainingCompiled(eager, compile_region(eager, backend, cuda_graphs))
    return len(layers)


def compile_loss(model: torch.nn.Module, backend: str | None = None, cuda_graphs: bool = False) -> None:
    """Compile output layer + cross-entropy as one region (kernels.head_loss): Inductor fuses the
    fp32 upcast, the log-softmax and the loss into the reductions, so the fp32 logits are never
    written out. Training calls with labels only; evaluation and generation keep the model's forward."""
    replace_loss(model, compile_region(head_loss, backend, cuda_graphs))


def attention_context(backend: str):
    """A context that makes SDPA try `backend` first (auto: torch's own order); the other fused
    kernels stay as fallbacks, so a shape the first one cannot run never falls to the math kernel."""
    if backend == "auto":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    first = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION}.get(
        backend, SDPBackend.EFFICIENT_ATTENTION
    )
    rest = [SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    return sdpa_kernel([first] + [b for b in rest if b != first], set_priority=True)


def speed_up(
    model: torch.nn.Module,
    kernels: str,
    compile: bool,
    cache_dir: str | None = None,
    fp16: bool = False,
    compiled_loss: bool = True,
    cuda_graphs: bool = False,
) -> dict[str, Any]:
    """Fused kernels (kernels.py), then regional compilation when `compile`; returns what was applied.

    `fp16`: the run uses fp16 with loss scaling (kernels.kernel_set leaves the loss kernels out).
    `compiled_loss`: also compile output layer + loss (`compile_loss`) unless a liger loss kernel
    was applied. `cuda_graphs`: every compiled region as Inductor CUDA graphs."""
    applied = apply_kernels(model, kernels, compiled=compile, fp16=fp16)
    info: dict[str, Any] = {"kernels": list(applied), "compiled_layers": 0, "compiled_loss": False}
    if compile:
        info["compile_cache"] = set_compile_cache(cache_dir)
        info["compiled_layers"] = compile_layers(model, cuda_graphs=cuda_graphs)
        log.info("regional compile: %d decoder layers, cache %s", info["compiled_layers"], info["compile_cache"])
        if compiled_loss and not set(applied) & set(LOSS_KERNELS):
            compile_loss(model, cuda_graphs=cuda_graphs)
            info["compiled_loss"] = True
        info["cuda_graphs"] = cuda_graphs
    return info


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host-to-GPU copy that does not stall the host: pinned memory, non_blocking.

    A plain `.to(cuda)` from pageable memory synchronises the stream, so the host waits for every
    queued kernel before it can launch the next micro-batch's work (one host sync per micro-step).
    """
    if device.type != "cuda" or t.device == device:
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


# accelerate launch types this trainer runs and tests: one process, DDP (GPUs or CPU/gloo), FSDP.
SUPPORTED_LAUNCH = ("NO", "MULTI_GPU", "MULTI_CPU", "FSDP")


def check_launch(distributed_type: Any, cuda_graphs: bool = False, cuda: bool = True) -> None:
    """Refuse an `accelerate launch` type the trainer does not support, in one line.

    DeepSpeed in particular: accelerate's DeepSpeed engine steps the optimizer inside `backward`,
    so this trainer's own gradient accumulation would step after every micro-batch, and its
    checkpoints would save one rank's ZeRO partition of the optimizer as if it were all of it.
    CUDA graphs are measured on one GPU and under DDP only (FSDP's all-gathers run between the
    regions, on memory the graphs would have to own)."""
    name = str(getattr(distributed_type, "value", distributed_type)).rsplit(".", 1)[-1]
    if name not in SUPPORTED_LAUNCH:
        raise ConfigError(
            f"accelerate launch: distributed type {name} is not supported by tibcpt's trainer "
            "(use configs/accelerate/ddp.yaml or fsdp.yaml)"
        )
    if cuda_graphs and not cuda:
        raise ConfigError("model.cuda_graphs: needs a CUDA GPU (this run has none)")
    if cuda_graphs and name == "FSDP":
        raise ConfigError("model.cuda_graphs: not under FSDP (measured on one GPU and DDP only)")


def ddp_kwargs(cfg: Any, cuda: bool) -> list:
    """accelerate's DDP settings from a TrainConfig (used only when it wraps the model in DDP)."""
    from accelerate.utils import DDPCommunicationHookType, DistributedDataParallelKwargs

    if cfg.ddp_reduce_dtype == "bf16" and not cuda:  # torch's bf16 hook runs on NCCL only
        raise ConfigError("ddp_reduce_dtype=bf16: needs CUDA GPUs (NCCL); use fp32 here")
    hook = {"fp32": DDPCommunicationHookType.NO, "bf16": DDPCommunicationHookType.BF16}[cfg.ddp_reduce_dtype]
    return [
        DistributedDataParallelKwargs(
            comm_hook=hook,
            gradient_as_bucket_view=cfg.ddp_gradient_as_bucket_view,
            static_graph=cfg.ddp_static_graph,
            bucket_cap_mb=cfg.ddp_bucket_cap_mb,
            broadcast_buffers=cfg.ddp_broadcast_buffers,
        )
    ]


@contextlib.contextmanager
def scheduled_gc(interval: int) -> Iterator[Callable[[int], None]]:
    """Python's garbage collection on a step schedule (torchtitan's GarbageCollection): automatic
    collection off, `collect(step)` runs a young-generation collection every `interval` steps; as
    it was on exit. interval 0 leaves Python's automatic collection alone."""
    if interval <= 0:
        yield lambda step: None
        return
    was_enabled = gc.isenabled()
    gc.disable()
    gc.collect()  # start clean: what setup left behind
    try:
        yield lambda step: gc.collect(1) if step % interval == 0 else None
    finally:
        if was_enabled:
            gc.enable()
