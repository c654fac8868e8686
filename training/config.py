"""Typed configs of the trainer: one small dataclass per component, one YAML file per run.

A file under `configs/train/` has the sections `model`, `data`, `optim` plus the run keys of
`TrainConfig`; `tibcpt train --config F key.sub=value` overrides any of them. Key names follow
LLaMA-Factory (`finetuning_type`, `per_device_train_batch_size`, `save_steps`, ...) because the
seed's `--stage pt` run is the reference; defaults are the seed's (lr 1e-5, cosine, 3 epochs,
batch 4 x accumulation 4, freeze 2 layers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tibcpt.config import load_config

# Llama-family projection names; LLaMA-Factory's `lora_target: all` resolves to the same set.
LLAMA_LINEAR_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class ModelConfig:
    """What to load and which of its parameters to train."""

    model_name_or_path: str
    """Local HF model folder (e.g. models/smollm2-135m from `tibcpt base-model`) or hub id."""
    finetuning_type: Literal["full", "freeze", "lora"] = "full"
    """full: every parameter; freeze: the last `freeze_trainable_layers` decoder layers; lora: peft adapters."""
    freeze_trainable_layers: int = 2
    """freeze: number of last decoder layers that train (LLaMA-Factory default, as in the seed)."""
    freeze_train_embeddings: bool | None = None
    """freeze: also train embed_tokens/lm_head; null = only when the vocabulary was extended."""
    lora_rank: int = 8
    """lora: adapter rank r."""
    lora_alpha: int = 16
    """lora: scaling alpha (effective scale alpha / r)."""
    lora_dropout: float = 0.0
    """lora: dropout on the adapter input."""
    lora_target: list[str] = field(default_factory=lambda: list(LLAMA_LINEAR_MODULES))
    """lora: module-name suffixes to adapt; every one must match at least one module."""
    lora_modules_to_save: list[str] | None = None
    """lora: modules trained in full; null = embed_tokens + lm_head when the vocabulary was extended."""
    train_embeddings_only_steps: int = 0
    """First N optimizer steps update only embed_tokens/lm_head (new-token rows warm up first)."""
    gradient_checkpointing: bool = False
    """Recompute activations in backward to save memory."""
    attn_implementation: str | None = "sdpa"
    """transformers attention backend (sdpa, eager, flash_attention_2 where installed)."""
    compile: bool = False
    """Regional torch.compile: each decoder layer, one shared graph, static shapes, cached on disk
    (training/parallelize.py; GPU runs). Evaluation and generation run eagerly, never recompile."""
    kernels: Literal["auto", "liger", "none"] = "auto"
    """Fused kernels (training/kernels.py): auto = liger-kernel where it is installed and CUDA runs,
    else plain PyTorch; liger = required (error otherwise); none = plain PyTorch."""
    compile_cache_dir: str | None = None
    """Inductor's on-disk compile cache (null = torch's default, /tmp/torchinductor_$USER)."""
    new_token_init: Literal["subword_mean", "mean"] = "subword_mean"
    """Initial embedding rows of tokens the base vocabulary lacks: subword_mean = each new token's row
    is the mean of the base rows its text splits into under the base tokenizer; mean = every new row
    is the mean of all base rows (training/model.py)."""
    attention_backend: Literal["auto", "cudnn", "flash", "efficient"] = "auto"
    """SDPA kernel tried first while training (auto = torch's own order); the others follow as
    fallbacks, so an unsupported choice never drops to the slow math kernel (parallelize.py)."""
    cuda_graphs: bool = False
    """With model.compile: Inductor's CUDA graphs (cudagraph trees) replay each compiled region's
    kernels with one launch. One H200: 1.09-1.10x the default's tok/s in one call; two: 1.76-1.77x
    one, like the default (bench/results/train_speed.json, round 11, two pairs; that call's
    clock ran ahead of the GPU, round 12b). Off by default: its losses per step lie as far from the
    default's as two default runs do (round 12, three runs), but one round-11 run logged steps
    41-45 0.10 above every other run, and that was neither explained nor seen again."""
    compiled_loss: bool = True
    """With model.compile: compile output layer + cross-entropy as one more region, so the fp32
    logits are never written out (parallelize.py; 293k tok/s against 168k with liger's fused loss
    on an H200, bench/results/train_speed.json)."""

    def __post_init__(self) -> None:
        if not self.model_name_or_path:
            raise ValueError("model_name_or_path: required")
        if self.freeze_trainable_layers < 1:
            raise ValueError(f"freeze_trainable_layers: must be >= 1, got {self.freeze_trainable_layers}")
        if self.lora_rank < 1:
            raise ValueError(f"lora_rank: must be >= 1, got {self.lora_rank}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout: must be in [0, 1), got {self.lora_dropout}")
        if self.finetuning_type == "lora" and not self.lora_target:
            raise ValueError("lora_target: must name at least one module")
        if self.train_embeddings_only_steps < 0:
            raise ValueError("train_embeddings_only_steps: must be >= 0")
        if self.kernels not in ("auto", "liger", "none"):
            raise ValueError(f"kernels: must be auto, liger or none, got {self.kernels!r}")
        if self.new_token_init not in ("subword_mean", "mean"):
            raise ValueError(f"new_token_init: must be subword_mean or mean, got {self.new_token_init!r}")
        if self.cuda_graphs and not self.compile:
            raise ValueError("cuda_graphs: needs compile=true (the graphs are Inductor's, per compiled region)")
        if self.cuda_graphs and self.gradient_checkpointing:
            raise ValueError(
                "cuda_graphs: not with gradient_checkpointing (recomputation inside backward is unmeasured)"
            )
        if self.attention_backend not in ("auto", "cudnn", "flash", "efficient"):
            raise ValueError(
                f"attention_backend: must be auto, cudnn, flash or efficient, got {self.attention_backend!r}"
            )


@dataclass
class DataConfig:
    """Shard folders (format: docs/CONTRACTS.md, "Token shard folder")."""

    shards: str
    """Tibetan shard folder written by `tibcpt pack` (train + validation splits, tokenizer/)."""
    replay_shards: str | None = None
    """General-domain shard folder packed with the same tokenizer, mixed into training."""
    replay_ratio: float = 0.0
    """Fraction of training sequences drawn from `replay_shards` (exact, interleaved deterministically)."""
    general_eval_shards: str | None = None
    """General-domain (e.g. English) shard folder whose validation split measures forgetting."""
    eval_max_sequences: int | None = None
    """Cap on validation sequences per eval set (null = all)."""
    eval_sets: dict[str, str] = field(default_factory=dict)
    """Named raw-text sets (NAME: FILE; parquet/jsonl/txt, see `tibcpt eval`) scored in bits per byte
    before training (the base model with its own tokenizer) and after (the trained model): held-out
    Tibetan and a forgetting set such as English news. Never trained on."""
    eval_sets_max_docs: int | None = None
    """Score only the first N documents of each eval set (null = all)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.replay_ratio < 1.0:
            raise ValueError(f"replay_ratio: must be in [0, 1), got {self.replay_ratio}")
        if self.replay_ratio > 0 and not self.replay_shards:
            raise ValueError("replay_ratio: > 0 needs replay_shards")
        if self.eval_max_sequences is not None and self.eval_max_sequences < 1:
            raise ValueError("eval_max_sequences: must be >= 1 or null")
        if self.eval_sets_max_docs is not None and self.eval_sets_max_docs < 1:
            raise ValueError("eval_sets_max_docs: must be >= 1 or null")


@dataclass
class OptimConfig:
    """AdamW and the learning-rate schedule."""

    learning_rate: float = 1e-5
    """Peak learning rate (seed: 1e-5)."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay on matrices (not on norms/biases)."""
    adam_beta1: float = 0.9
    """AdamW beta1."""
    adam_beta2: float = 0.999
    """AdamW beta2."""
    adam_epsilon: float = 1e-8
    """AdamW epsilon."""
    max_grad_norm: float = 1.0
    """Clip the global gradient norm to this (0 = measure only, no clipping)."""
    lr_scheduler_type: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    """transformers.get_scheduler name (seed: cosine)."""
    warmup_steps: int = 0
    """Linear warmup optimizer steps; wins over warmup_ratio when > 0."""
    warmup_ratio: float = 0.0
    """Warmup as a fraction of the total steps."""

    def __post_init__(self) -> None:
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate: must be > 0, got {self.learning_rate}")
        if self.weight_decay < 0:
            raise ValueError("weight_decay: must be >= 0")
        if not (0 <= self.adam_beta1 < 1 and 0 <= self.adam_beta2 < 1):
            raise ValueError("adam_beta1/adam_beta2: must be in [0, 1)")
        if self.max_grad_norm < 0:
            raise ValueError("max_grad_norm: must be >= 0")
        if self.warmup_steps < 0 or not 0 <= self.warmup_ratio < 1:
            raise ValueError("warmup_steps/warmup_ratio: must be >= 0 and ratio < 1")


@dataclass
class TrainConfig:
    """One training run."""

    model: ModelConfig
    """Model section."""
    data: DataConfig
    """Data section."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimizer section."""
    output_dir: str = "out/model"
    """Final HF model folder; also holds checkpoints/, train_log.jsonl, eval.json, report.html."""
    per_device_train_batch_size: int = 4
    """Sequences per micro-batch per device (seed: 4)."""
    per_device_eval_batch_size: int = 4
    """Sequences per eval batch per device."""
    gradient_accumulation_steps: int = 4
    """Micro-batches per optimizer step (seed: 4)."""
    num_train_epochs: float = 3.0
    """Passes over the Tibetan train split (seed: 3); ignored when max_steps > 0."""
    max_steps: int = -1
    """Total optimizer steps; > 0 overrides num_train_epochs."""
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    """Autocast dtype; fp32 master weights always; fp16 adds loss scaling (V100)."""
    seed: int = 42
    """Seeds model init of new rows, data order, dropout."""
    logging_steps: int = 10
    """Log one line + a JSONL record every N optimizer steps."""
    eval_steps: int = 0
    """Evaluate every N steps (0 = only at the end)."""
    save_steps: int = 500
    """Write a resumable checkpoint every N steps (0 = never)."""
    save_total_limit: int = 2
    """Keep only the last K checkpoints."""
    resume_from_checkpoint: str | None = None
    """A checkpoint folder, or `auto` for the latest under output_dir/checkpoints."""
    eval_at_start: bool = True
    """Evaluate before the first step (the baseline for measuring forgetting)."""
    tensorboard: bool = True
    """Also log to TensorBoard when it is installed."""
    num_threads: int | None = None
    """CPU threads for torch (null = torch's default)."""
    profile_steps: int = 0
    """Profile this many optimizer steps with torch.profiler, starting after step
    `profile_start_step`: output_dir/profile/ gets a Chrome trace and kernels.txt (0 = off)."""
    profile_start_step: int = 10
    """Optimizer steps to run before profiling starts (compilation and warm-up stay out)."""
    ddp_reduce_dtype: Literal["fp32", "bf16"] = "fp32"
    """DDP only: dtype of the gradient all-reduce. bf16 halves the bytes sent (PyTorch's
    bf16_compress_hook: gradients are averaged in bf16, then cast back); fp32 sends them as they are.
    The DDP options below were measured on 2 H200s against the 1-GPU run of the same call
    (bench/results/train_speed.json, rounds 5-6); the default gave 1.716-1.817x, bf16 1.757x, and
    the all-reduce kernels take 2.9 ms of a 113 ms step: the link is not the bottleneck."""
    ddp_gradient_as_bucket_view: bool = True
    """DDP only: gradients live in the all-reduce buckets (torch DDP's gradient_as_bucket_view), which
    saves the copy of each gradient back out of its bucket after the all-reduce. On the SmolLM2
    shape (2 H200s, bench/results/train_speed.json rounds 14-15) that is 272 of the 595 kernels per
    step DDP adds, and 114 ms of host CPU per step on a rank against 140 ms without; the step is
    host-bound, yet tokens/s gain only within the spread: 2 GPUs / 1 GPU 1.809-1.968x (mean 1.886,
    six pairs; round 17: 1.721 and 1.758) with, 1.816-1.916x (mean 1.868, five pairs) without;
    losses equal. On by default for the host work it saves."""
    ddp_static_graph: bool = False
    """DDP only: torch DDP's static_graph (the set of parameters that get gradients never changes,
    true for full and freeze fine-tuning, not for train_embeddings_only_steps; measured 1.767x)."""
    ddp_bucket_cap_mb: int = 25
    """DDP only: the size of the gradient buckets that are all-reduced as backward fills them
    (torch's default). Fewer, larger buckets mean fewer all-reduce launches but less overlap with
    backward; measured 100 MB 1.910x and 200 MB 1.857x against 25 MB's 1.858x and 1.895x in the
    same call (round 13), and 1024 MB (one bucket: the all-reduce after backward, no overlap)
    1.876/1.848/1.886x against 1.899/1.853/1.880x (round 18): no gain beyond the spread, so
    torch's default stays."""
    ddp_broadcast_buffers: bool = True
    """DDP only: torch DDP's broadcast_buffers (rank 0's buffers sent to all ranks before every
    forward; a Llama's only buffers are its constant rotary frequencies; off measured 1.679x with
    the old clock, 1.838/1.838x against 1.906/1.807x in round 21: no gain, so torch's default stays)."""
    gc_interval_steps: int = 0
    """Python's automatic garbage collection is off during the training loop and a young-generation
    collection runs every N steps (torchtitan's gc_freq: under DDP a collection on one rank stalls
    every rank at the next all-reduce). Measured at 20 on 2 H200s (round 20, three rounds, 1 and 2
    GPUs both with it): 1.794/1.775/1.848x against the default's 1.859/1.879/1.899x, 1 GPU unchanged;
    slower, so 0 = Python's own automatic collection stays the default."""

    def __post_init__(self) -> None:
        for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise ValueError("num_train_epochs: must be > 0 when max_steps is not set")
        if self.logging_steps < 1:
            raise ValueError("logging_steps: must be >= 1")
        if self.eval_steps < 0 or self.save_steps < 0:
            raise ValueError("eval_steps/save_steps: must be >= 0")
        if self.profile_steps < 0 or self.profile_start_step < 0:
            raise ValueError("profile_steps/profile_start_step: must be >= 0")
        if self.ddp_bucket_cap_mb < 1:
            raise ValueError(f"ddp_bucket_cap_mb: must be >= 1, got {self.ddp_bucket_cap_mb}")
        if self.gc_interval_steps < 0:
            raise ValueError("gc_interval_steps: must be >= 0")
        if self.ddp_static_graph and self.model.train_embeddings_only_steps:
            raise ValueError("ddp_static_graph: the embeddings-only stage changes which parameters train")
        if self.save_total_limit < 1:
            raise ValueError("save_total_limit: must be >= 1")
        if self.model.train_embeddings_only_steps and self.model.finetuning_type == "lora":
            # With LoRA the embeddings train only through modules_to_save; an embeddings-only
            # stage there would silently train nothing unless those are set, so keep it simple.
            raise ValueError("model.train_embeddings_only_steps: not supported with finetuning_type lora")


def load_train_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Strictly load a YAML file plus `a.b=value` overrides (unknown keys are ConfigError)."""
    return load_config(TrainConfig, path, overrides)
