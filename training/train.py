"""`tibcpt train`: continued pretraining of a causal LM on a token shard folder.

Reads top to bottom like nanoGPT's train.py: check everything that can fail cheaply, load the model
and match it to the shard tokenizer, set up optimizer and schedule, optionally resume, then one
plain `while` loop that steps, logs, evaluates and checkpoints; finally save a Hugging Face model
folder, eval.json, the loss plot and report.html. The same file runs under
`accelerate launch -m tibcpt.training.train --config ...` for DDP / FSDP / DeepSpeed on several GPUs.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from tibcpt.training import checkpoint as ckpt
from tibcpt.training.config import TrainConfig, load_train_config
from tibcpt.training.data import ShardFolder, iter_eval_batches, iter_train_batches, samples_for_epochs
from tibcpt.training.evaluate import evaluate
from tibcpt.training.metrics import (
    RunLogger,
    flops_per_token,
    format_line,
    mfu,
    peak_flops,
    peak_memory_gib,
    plot_losses,
    read_log,
    write_report,
)
from tibcpt.training.model import (
    apply_finetuning,
    check_tokenizer_extends,
    embedding_parameter_names,
    load_model,
    merged_for_saving,
    resize_embeddings_mean,
)

from tibcpt.config import ConfigError, config_hash, to_dict
from tibcpt.io import write_json_atomic

log = logging.getLogger(__name__)


def check_precision(mixed_precision: str, cuda: bool) -> None:
    """Fail before any compute when the requested precision cannot run here."""
    if mixed_precision == "fp16" and not cuda:
        raise ValueError("mixed_precision: fp16 needs a CUDA GPU (use bf16 or no on CPU)")
    if mixed_precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name()
        raise ValueError(f"mixed_precision: bf16 is not supported on {name} (pre-Ampere); use fp16")


def open_shards(cfg: TrainConfig) -> dict[str, ShardFolder]:
    """Open and cross-check every shard folder: replay/general sets must share the tokenizer."""
    folders = {"tibetan": ShardFolder(cfg.data.shards)}
    if cfg.data.replay_shards:
        folders["replay"] = ShardFolder(cfg.data.replay_shards)
    if cfg.data.general_eval_shards:
        folders["general"] = ShardFolder(cfg.data.general_eval_shards)
    sha = folders["tibetan"].manifest.get("tokenizer", {}).get("sha256")
    for name, f in folders.items():
        other = f.manifest.get("tokenizer", {}).get("sha256")
        if sha and other and other != sha:
            raise ValueError(f"data: {name} shards {f.path} use a different tokenizer than {cfg.data.shards}")
    if "replay" in folders and folders["replay"].seq_len != folders["tibetan"].seq_len:
        raise ValueError("data.replay_shards: seq_len differs from data.shards")
    return folders


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
        raise ValueError("model.finetuning_type: no parameter is trainable")
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


def run_evals(model, sets: dict, cfg: TrainConfig, accelerator) -> dict[str, dict[str, float]]:
    rank, world = accelerator.process_index, accelerator.num_processes
    bs, cap = cfg.per_device_eval_batch_size, cfg.data.eval_max_sequences
    return {
        name: evaluate(model, iter_eval_batches(split, bs, rank, world, cap), accelerator)
        for name, split in sets.items()
    }


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run one training job; returns {"eval": final eval, "steps", "output_dir"}."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import AutoTokenizer, get_scheduler

    # ---- checks that need no compute --------------------------------------------------------
    out = Path(cfg.output_dir)
    cuda = torch.cuda.is_available()
    check_precision(cfg.mixed_precision, cuda)
    folders = open_shards(cfg)
    train_split = folders["tibetan"].split("train")
    eval_sets = {"tibetan": folders["tibetan"].split("validation")}
    if "general" in folders:
        eval_sets["general"] = folders["general"].split("validation")
    replay_split = folders["replay"].split("train") if "replay" in folders else None
    resume_from = ckpt.resolve_resume(out, cfg.resume_from_checkpoint)
    if resume_from is not None:
        prev = ckpt.read_trainer_state(resume_from)
        if prev.get("model_name_or_path") != cfg.model.model_name_or_path:
            raise ValueError(
                f"resume_from_checkpoint: {resume_from} continues {prev.get('model_name_or_path')!r}, "
                f"not model.model_name_or_path={cfg.model.model_name_or_path!r}"
            )
    tokenizer = AutoTokenizer.from_pretrained(folders["tibetan"].tokenizer_path)
    check_tokenizer_extends(cfg.model.model_name_or_path, tokenizer)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)

    # ---- model, optimizer, schedule ------------------------------------------------------------
    accelerator = Accelerator(mixed_precision=cfg.mixed_precision, cpu=not cuda)
    main = accelerator.is_main_process
    set_seed(cfg.seed)
    model = load_model(cfg.model)
    n_params = sum(p.numel() for p in model.parameters())
    mcfg = model.config
    head_dim = getattr(mcfg, "head_dim", None) or mcfg.hidden_size // mcfg.num_attention_heads
    flops_tok = flops_per_token(
        n_params, mcfg.num_hidden_layers, mcfg.num_attention_heads, head_dim, train_split.seq_len
    )
    resized = resize_embeddings_mean(model, max(len(tokenizer), folders["tibetan"].vocab_size))
    model = apply_finetuning(model, cfg.model, resized)
    emb_names = set(embedding_parameter_names(model))
    non_emb = [p for n, p in model.named_parameters() if p.requires_grad and n not in emb_names]
    if cfg.model.train_embeddings_only_steps and not any(model.get_parameter(n).requires_grad for n in emb_names):
        raise ValueError("model.train_embeddings_only_steps: the embeddings are frozen in this finetuning_type")
    optimizer = build_optimizer(model, cfg, cuda)
    max_steps = total_steps(cfg, train_split.n_sequences, accelerator.num_processes)
    warmup = cfg.optim.warmup_steps or math.ceil(cfg.optim.warmup_ratio * max_steps)
    scheduler = get_scheduler(cfg.optim.lr_scheduler_type, optimizer, warmup, max_steps)
    # The scheduler stays unprepared: accelerate's wrapper steps it once per process.
    model, optimizer = accelerator.prepare(model, optimizer)
    if cfg.model.compile:
        model = torch.compile(model)

    step, samples, skipped = 0, 0, 0
    if resume_from is not None:
        state = ckpt.load_checkpoint(resume_from, model, optimizer, scheduler, accelerator)
        step, samples, skipped = state["step"], state["samples"], state["skipped_steps"]
        log.info("resumed from %s at step %d", resume_from, step)
    logger = RunLogger(out, main, cfg.tensorboard, append=resume_from is not None)
    if main:
        write_json_atomic(out / "train_config.json", to_dict(cfg))
    B, accum, world = cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps, accelerator.num_processes
    per_step = B * accum * world
    batches = iter_train_batches(
        train_split,
        replay_split,
        cfg.data.replay_ratio,
        cfg.seed,
        B,
        accelerator.process_index,
        world,
        start=samples,
    )
    peak = peak_flops(torch.cuda.get_device_name() if cuda else None)
    if main:
        log.info("training %d steps x %d sequences of %d tokens", max_steps, per_step, train_split.seq_len)
    if cfg.eval_at_start and step == 0:
        for name, res in run_evals(model, eval_sets, cfg, accelerator).items():
            logger.write({"step": 0, "set": name, **res}, "eval")

    # ---- the loop -------------------------------------------------------------------------------
    model.train()
    loss_acc = torch.zeros((), device=accelerator.device)
    t_interval, data_time, steps_in_interval, replay_seen = time.perf_counter(), 0.0, 0, 0
    while step < max_steps:
        embeddings_only = step < cfg.model.train_embeddings_only_steps
        for micro in range(accum):
            t_data = time.perf_counter()
            batch = next(batches)
            data_time += time.perf_counter() - t_data
            replay_seen += batch.n_replay
            ids = batch.input_ids.to(accelerator.device)
            # Gradients are all-reduced only on the last micro-batch of a step (DDP no_sync).
            sync = micro == accum - 1
            with contextlib.nullcontext() if sync else accelerator.no_sync(model):
                loss = model(input_ids=ids, labels=ids).loss
                accelerator.backward(loss / accum)
            loss_acc += loss.detach() / accum
        if embeddings_only:  # first stage: everything but embed_tokens/lm_head keeps its value
            for p in non_emb:
                p.grad = None
        max_norm = cfg.optim.max_grad_norm or float("inf")
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        if accelerator.optimizer_step_was_skipped:  # fp16 overflow: GradScaler skipped the update
            skipped += 1
        else:
            scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        samples += per_step
        steps_in_interval += 1

        if step % cfg.logging_steps == 0 or step == max_steps:
            dt = time.perf_counter() - t_interval
            loss_mean = accelerator.reduce(loss_acc, reduction="mean").item() / steps_in_interval
            tok_s = steps_in_interval * per_step * train_split.seq_len / dt
            rec = {
                "step": step,
                "max_steps": max_steps,
                "loss": loss_mean,
                "lr": scheduler.get_last_lr()[0],
                "grad_norm": float(grad_norm),
                "tokens_per_s": tok_s,
                "mfu": mfu(tok_s, flops_tok, peak, world),
                "peak_mem_gib": peak_memory_gib(accelerator.device),
                "data_share": data_time / dt,
                "replay_share": replay_seen / (steps_in_interval * B * accum),
                "skipped_steps": skipped,
                "embeddings_only": embeddings_only,
            }
            logger.write(rec)
            if main:
                log.info(format_line(rec))
            loss_acc.zero_()
            t_interval, data_time, steps_in_interval, replay_seen = time.perf_counter(), 0.0, 0, 0
        if cfg.eval_steps and step % cfg.eval_steps == 0 and step < max_steps:
            for name, res in run_evals(model, eval_sets, cfg, accelerator).items():
                logger.write({"step": step, "set": name, **res}, "eval")
                if main:
                    log.info("eval %s step %d: loss %.4f bpb %.4f", name, step, res["loss"], res["bits_per_byte"])
        if cfg.save_steps and step % cfg.save_steps == 0:
            state = {
                "step": step,
                "samples": samples,
                "skipped_steps": skipped,
                "model_name_or_path": cfg.model.model_name_or_path,
                "config_hash": config_hash(cfg.model, cfg.data, cfg.optim),
            }
            ckpt.save_checkpoint(out, step, model, optimizer, scheduler, accelerator, state, cfg.save_total_limit)

    # ---- final evaluation, model folder, report -----------------------------------------------
    final = run_evals(model, eval_sets, cfg, accelerator)
    for name, res in final.items():
        logger.write({"step": step, "set": name, **res}, "eval")
    accelerator.wait_for_everyone()
    state_dict = accelerator.get_state_dict(model)  # gathers FSDP shards; collective, all ranks
    if main:
        save_final_model(accelerator.unwrap_model(model), state_dict, tokenizer, out, cfg)
        records = read_log(logger.path)
        history = [r for r in records if r["kind"] == "eval"]
        write_json_atomic(out / "eval.json", {"step": step, "final": final, "history": history})
        plot_losses(records, out / "loss.png")
        summary = {
            "base model": cfg.model.model_name_or_path,
            "finetuning": cfg.model.finetuning_type,
            "steps": step,
            "skipped (fp16 overflow)": skipped,
            "vocabulary extended": resized,
        }
        first = min((r["step"] for r in history), default=None)
        start = {r["set"]: r for r in history if r["step"] == first and first != step}
        write_report(out, final, summary, start)
    logger.close()
    accelerator.wait_for_everyone()
    return {"eval": final, "steps": step, "output_dir": str(out)}


def save_final_model(model, state_dict, tokenizer, out: Path, cfg: TrainConfig) -> None:
    """HF folder (safetensors): adapters under adapter/ for LoRA, then the merged full model."""
    if cfg.model.finetuning_type == "lora":
        model.save_pretrained(out / "adapter", safe_serialization=True)
        merged_for_saving(model).save_pretrained(out, safe_serialization=True)
    else:
        model.save_pretrained(out, state_dict=state_dict, safe_serialization=True)
    tokenizer.save_pretrained(out)
    log.info("saved model to %s", out)


def add_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML file under configs/train/")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.learning_rate=2e-5 max_steps=100")


def cli(args: argparse.Namespace) -> int:
    cfg = load_train_config(args.config, args.overrides)
    try:
        result = train(cfg)
    except ValueError as e:  # config-level problems found before compute: a clean CLI error, no traceback
        raise ConfigError(str(e)) from e
    if os.environ.get("RANK", "0") != "0":  # accelerate launch: one summary, from rank 0
        return 0
    for name, res in result["eval"].items():
        print(f"{name}: loss {res['loss']:.4f} bits/byte {res['bits_per_byte']:.4f}")
    return 0


if __name__ == "__main__":  # `accelerate launch -m tibcpt.training.train --config ...`
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="tibcpt.training.train", description="continued pretraining on a shard folder")
    add_cli(p)
    sys.exit(cli(p.parse_args()))
