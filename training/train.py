"""`tibcpt train`: continued pretraining of a causal LM on a token shard folder.

Reads top to bottom like nanoGPT's train.py; `train()` is the whole story in a dozen lines:

    run = setup(cfg)                      # cheap checks, data, model (prepare_model), optimizer, resume
    evaluate_sets(run)                    # the baseline before the first step
    while run.step < run.max_steps:
        stats = train_step(run)           # one optimizer step over gradient_accumulation_steps micro-batches
        log_progress / evaluate_sets / save_checkpoint when due
    final = evaluate_sets(run)
    save_final(run, final)                # HF model folder, eval.json, loss.png, report.html

`prepare_model` (prepare.py) is the one place where the loaded model is transformed (vocabulary,
finetuning type, optimizer over what trains, accelerate's wrappers, compile). The same file runs under
`accelerate launch -m tibcpt.training.train --config ...` for DDP / FSDP on several GPUs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tibcpt.training import checkpoint as ckpt
from tibcpt.training.artifacts import save_final_model, verify_model_folder
from tibcpt.training.config import TrainConfig, load_train_config
from tibcpt.training.data import Batch, Split, iter_eval_batches, iter_train_batches, open_shards
from tibcpt.training.evaluate import evaluate
from tibcpt.training.evaluate_text import BASE_TEXT_EVAL, SEPARATOR_FILE, TextSets, document_separator, evaluate_base
from tibcpt.training.metrics import (
    RunLogger,
    flops_per_token,
    format_line,
    mfu,
    peak_flops,
    peak_memory_all_ranks,
    read_log,
    write_run_outputs,
)
from tibcpt.training.model import (
    check_model_source,
    check_tokenizer_extends,
    load_base_tokenizer,
    load_model,
)
from tibcpt.training.optim import check_precision, total_steps
from tibcpt.training.parallelize import attention_context, check_launch, ddp_kwargs, scheduled_gc, to_device
from tibcpt.training.prepare import prepare_model
from tibcpt.training.profile import StepProfiler

from tibcpt.config import ConfigError, config_hash, to_dict
from tibcpt.io import write_json_atomic

log = logging.getLogger(__name__)


@dataclass
class Run:
    """Everything `setup` builds and the loop advances (nanoGPT keeps these as module globals)."""

    cfg: TrainConfig
    out: Path
    accelerator: Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    tokenizer: Any
    train_split: Split
    eval_sets: dict[str, Split]
    text_sets: TextSets
    """Raw-text sets in bits per byte (`data.eval_sets`): base model before, trained model after."""
    batches: Iterator[Batch]
    logger: RunLogger
    max_steps: int
    resized: bool
    non_embedding_params: list[torch.nn.Parameter]
    flops_per_token: float
    peak_flops: float | None
    step: int = 0
    samples: int = 0
    skipped: int = 0
    resumed: bool = False
    # progress since the last log line
    loss_acc: torch.Tensor | None = None
    t_interval: float = field(default_factory=time.perf_counter)
    data_time: float = 0.0
    steps_in_interval: int = 0
    replay_seen: int = 0

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def sequences_per_step(self) -> int:
        c = self.cfg
        return c.per_device_train_batch_size * c.gradient_accumulation_steps * self.accelerator.num_processes


def setup(cfg: TrainConfig) -> Run:
    """Checks that need no compute first, then model, optimizer, schedule, resume and the data stream."""
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
            raise ConfigError(
                f"resume_from_checkpoint: {resume_from} continues {prev.get('model_name_or_path')!r}, "
                f"not model.model_name_or_path={cfg.model.model_name_or_path!r}"
            )
    check_model_source(cfg.model.model_name_or_path)
    text_sets = TextSets(
        cfg.data.eval_sets, train_split.seq_len, cfg.per_device_eval_batch_size, cfg.data.eval_sets_max_docs
    )
    tokenizer = AutoTokenizer.from_pretrained(folders["tibetan"].tokenizer_path)
    base_tokenizer = load_base_tokenizer(cfg.model.model_name_or_path)
    check_tokenizer_extends(base_tokenizer, tokenizer, cfg.model.model_name_or_path)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)

    # ---- model, optimizer, schedule ------------------------------------------------------------
    accelerator = Accelerator(mixed_precision=cfg.mixed_precision, cpu=not cuda, kwargs_handlers=ddp_kwargs(cfg, cuda))
    check_launch(accelerator.distributed_type, cfg.model.cuda_graphs, cuda)
    set_seed(cfg.seed)
    model = load_model(cfg.model)
    n_params = sum(p.numel() for p in model.parameters())
    mcfg = model.config
    head_dim = getattr(mcfg, "head_dim", None) or mcfg.hidden_size // mcfg.num_attention_heads
    flops_tok = flops_per_token(
        n_params, mcfg.num_hidden_layers, mcfg.num_attention_heads, head_dim, train_split.seq_len
    )
    if text_sets and cfg.eval_at_start and resume_from is None:
        evaluate_base(model, base_tokenizer, cfg.model.model_name_or_path, text_sets, accelerator, out)
    vocab = max(len(tokenizer), folders["tibetan"].vocab_size)
    prepared = prepare_model(model, cfg, accelerator, vocab, base_tokenizer, tokenizer)
    max_steps = total_steps(cfg, train_split.n_sequences, accelerator.num_processes)
    warmup = cfg.optim.warmup_steps or math.ceil(cfg.optim.warmup_ratio * max_steps)
    # The scheduler stays unprepared: accelerate's wrapper steps it once per process.
    scheduler = get_scheduler(cfg.optim.lr_scheduler_type, prepared.optimizer, warmup, max_steps)

    # ---- resume, logging, data stream ----------------------------------------------------------
    step, samples, skipped = 0, 0, 0
    if resume_from is not None:
        state = ckpt.load_checkpoint(resume_from, prepared.model, prepared.optimizer, scheduler, accelerator)
        step, samples, skipped = state["step"], state["samples"], state["skipped_steps"]
        log.info("resumed from %s at step %d", resume_from, step)
    logger = RunLogger(out, accelerator.is_main_process, cfg.tensorboard, append=resume_from is not None)
    if accelerator.is_main_process:
        write_json_atomic(out / "train_config.json", to_dict(cfg))
    batches = iter_train_batches(
        train_split,
        replay_split,
        cfg.data.replay_ratio,
        cfg.seed,
        cfg.per_device_train_batch_size,
        accelerator.process_index,
        accelerator.num_processes,
        start=samples,
    )
    run = Run(
        cfg=cfg,
        out=out,
        accelerator=accelerator,
        model=prepared.model,
        optimizer=prepared.optimizer,
        scheduler=scheduler,
        tokenizer=tokenizer,
        train_split=train_split,
        eval_sets=eval_sets,
        text_sets=text_sets,
        batches=batches,
        logger=logger,
        max_steps=max_steps,
        resized=prepared.resized,
        non_embedding_params=prepared.non_embedding_params,
        flops_per_token=flops_tok,
        peak_flops=peak_flops(torch.cuda.get_device_name() if cuda else None),
        step=step,
        samples=samples,
        skipped=skipped,
        resumed=resume_from is not None,
        loss_acc=torch.zeros((), device=accelerator.device),
    )
    if run.main:
        log.info(
            "training %d steps x %d sequences of %d tokens", max_steps, run.sequences_per_step, train_split.seq_len
        )
    return run


def train_step(run: Run) -> dict[str, Any]:
    """One optimizer step: gradient_accumulation_steps micro-batches, clip, step, schedule."""
    cfg, acc, model = run.cfg, run.accelerator, run.model
    accum = cfg.gradient_accumulation_steps
    embeddings_only = run.step < cfg.model.train_embeddings_only_steps
    for micro in range(accum):
        t_data = time.perf_counter()
        batch = next(run.batches)
        run.data_time += time.perf_counter() - t_data
        run.replay_seen += batch.n_replay
        ids = to_device(batch.input_ids, acc.device)
        if cfg.model.cuda_graphs:  # the last micro-step's graph outputs are dead: replay may reuse them
            torch.compiler.cudagraph_mark_step_begin()
        # Gradients are all-reduced only on the last micro-batch of a step (DDP no_sync).
        sync = micro == accum - 1
        with contextlib.nullcontext() if sync else acc.no_sync(model), attention_context(cfg.model.attention_backend):
            loss = model(input_ids=ids, labels=ids, use_cache=False).loss
            acc.backward(loss / accum)
        run.loss_acc += loss.detach() / accum
    if embeddings_only:  # first stage: everything but embed_tokens/lm_head keeps its value
        for p in run.non_embedding_params:
            p.grad = None
    max_norm = cfg.optim.max_grad_norm or float("inf")
    grad_norm = acc.clip_grad_norm_(model.parameters(), max_norm)
    run.optimizer.step()
    if acc.optimizer_step_was_skipped:  # fp16 overflow: GradScaler skipped the update
        run.skipped += 1
    else:
        run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    run.samples += run.sequences_per_step
    run.steps_in_interval += 1
    return {"grad_norm": grad_norm, "embeddings_only": embeddings_only}


def log_progress(run: Run, stats: dict[str, Any]) -> None:
    """One JSONL record (+ a log line on rank 0) with the means since the last one. The clock is read
    after .item() has waited for the interval's GPU work (before it, tokens/s counted the host's
    launches only: 431k against 310k logging every step, bench/results/train_speed.json round 12)."""
    cfg, acc, n = run.cfg, run.accelerator, run.steps_in_interval
    loss = acc.reduce(run.loss_acc, reduction="mean").item() / n
    dt = (now := time.perf_counter()) - run.t_interval
    tok_s = n * run.sequences_per_step * run.train_split.seq_len / dt
    rec = {
        "step": run.step,
        "max_steps": run.max_steps,
        "loss": loss,
        "lr": run.scheduler.get_last_lr()[0],
        "grad_norm": float(stats["grad_norm"]),
        "tokens_per_s": tok_s,
        "mfu": mfu(tok_s, run.flops_per_token, run.peak_flops, acc.num_processes),
        "peak_mem_gib": peak_memory_all_ranks(acc),
        "data_share": run.data_time / dt,
        "replay_share": run.replay_seen / (n * cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps),
        "skipped_steps": run.skipped,
        "embeddings_only": stats["embeddings_only"],
    }
    run.logger.write(rec)
    if run.main:
        log.info(format_line(rec))
    run.loss_acc.zero_()
    run.t_interval, run.data_time, run.steps_in_interval, run.replay_seen = now, 0.0, 0, 0


def evaluate_sets(run: Run) -> dict[str, dict[str, float]]:
    """Loss and bits per byte on every eval set at the current step, logged as `eval` records."""
    cfg, acc = run.cfg, run.accelerator
    bs, cap = cfg.per_device_eval_batch_size, cfg.data.eval_max_sequences
    results = {}
    for name, split in run.eval_sets.items():
        res = evaluate(run.model, iter_eval_batches(split, bs, acc.process_index, acc.num_processes, cap), acc)
        run.logger.write({"step": run.step, "set": name, **res}, "eval")
        if run.main:
            log.info("eval %s step %d: loss %.4f bpb %.4f", name, run.step, res["loss"], res["bits_per_byte"])
        results[name] = res
    return results


def evaluate_text_sets(run: Run) -> dict[str, dict[str, Any]]:
    """The trained model on every `data.eval_sets` set, next to the base model's figures."""
    if not run.text_sets:
        return {}
    results = run.text_sets.evaluate(run.model, run.tokenizer, run.accelerator)
    base_file = run.out / BASE_TEXT_EVAL
    base = json.loads(base_file.read_text(encoding="utf-8"))["sets"] if base_file.is_file() else {}
    for name, res in results.items():
        run.logger.write({"step": run.step, "set": name, **res}, "text_eval")
        if run.main:
            log.info(
                "%s: %.4f bits/byte (base %s)", name, res["bits_per_byte"], base.get(name, {}).get("bits_per_byte")
            )
    return {name: {"base": base.get(name), "trained": res} for name, res in results.items()}


def save_checkpoint(run: Run) -> None:
    """A resumable checkpoint of model, optimizer, schedule, RNG and data position."""
    cfg = run.cfg
    state = {
        "step": run.step,
        "samples": run.samples,
        "skipped_steps": run.skipped,
        "model_name_or_path": cfg.model.model_name_or_path,
        "config_hash": config_hash(cfg.model, cfg.data, cfg.optim),
    }
    ckpt.save_checkpoint(
        run.out, run.step, run.model, run.optimizer, run.scheduler, run.accelerator, state, cfg.save_total_limit
    )


def save_final(run: Run, final: dict[str, dict[str, float]], text: dict[str, dict[str, Any]]) -> None:
    """The HF model folder, eval.json, loss.png and report.html (rank 0; the gather is collective)."""
    acc, cfg, out = run.accelerator, run.cfg, run.out
    acc.wait_for_everyone()
    state_dict = acc.get_state_dict(run.model)  # gathers FSDP shards; collective, all ranks
    if run.main:
        saved = save_final_model(acc.unwrap_model(run.model), state_dict, run.tokenizer, out, cfg.model.finetuning_type)
        verify_model_folder(out, saved)  # a fresh load must give back exactly these weights
        if (sep := document_separator(run.tokenizer)) is not None:  # eval/generate start documents so
            write_json_atomic(out / SEPARATOR_FILE, sep)
        summary = {
            "base model": cfg.model.model_name_or_path,
            "finetuning": cfg.model.finetuning_type,
            "steps": run.step,
            "skipped (fp16 overflow)": run.skipped,
            "vocabulary extended": run.resized,
        }
        write_run_outputs(out, read_log(run.logger.path), run.step, final, text, summary)
    run.logger.close()
    acc.wait_for_everyone()


def train_loop_step(run: Run, profiler: StepProfiler) -> None:
    """One step of the loop: train, then log / evaluate / save when their interval comes."""
    cfg = run.cfg
    stats = train_step(run)
    profiler.step_done(run.step)
    if run.step % cfg.logging_steps == 0 or run.step == run.max_steps:
        log_progress(run, stats)
    if cfg.eval_steps and run.step % cfg.eval_steps == 0 and run.step < run.max_steps:
        off_clock(run, evaluate_sets)
    if cfg.save_steps and run.step % cfg.save_steps == 0:
        off_clock(run, save_checkpoint)


def off_clock(run: Run, work: Callable[[Run], Any]) -> None:
    """`work(run)` (an evaluation, a checkpoint) with its wall time left out of the log interval's
    clock: tokens/s, MFU and the data share are about training (before, the interval after an
    evaluation counted it). Training work still queued on the GPU is waited for first: it belongs
    to the interval."""
    if run.accelerator.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    work(run)
    run.t_interval += time.perf_counter() - t0


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run one training job; returns {"eval": final eval, "steps", "output_dir"}."""
    run = setup(cfg)
    if cfg.eval_at_start and run.step == 0:
        off_clock(run, evaluate_sets)
    run.model.train()
    rank = run.accelerator.process_index
    profiler = StepProfiler(run.out, run.step + cfg.profile_start_step, cfg.profile_steps, rank)
    with scheduled_gc(cfg.gc_interval_steps) as collect:
        while run.step < run.max_steps:
            train_loop_step(run, profiler)
            collect(run.step)
    final = evaluate_sets(run)
    text = evaluate_text_sets(run)
    save_final(run, final, text)
    return {"eval": final, "text_sets": text, "steps": run.step, "output_dir": str(run.out)}


def add_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML file under configs/train/")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.learning_rate=2e-5 max_steps=100")


def cli(args: argparse.Namespace) -> int:
    cfg = load_train_config(args.config, args.overrides)
    # User errors raise ConfigError/InputError (one line at the CLI); anything else keeps its traceback.
    result = train(cfg)
    if torch.distributed.is_initialized():  # torch asks for it before exit (resources of the group)
        torch.distributed.destroy_process_group()
    if os.environ.get("RANK", "0") != "0":  # accelerate launch: one summary, from rank 0
        return 0
    for name, res in result["eval"].items():
        print(f"{name}: loss {res['loss']:.4f} bits/byte {res['bits_per_byte']:.4f}")
    for name, res in result["text_sets"].items():
        base = f" (base {res['base']['bits_per_byte']:.4f})" if res["base"] else ""
        print(f"{name}: bits/byte {res['trained']['bits_per_byte']:.4f}{base}")
    return 0


if __name__ == "__main__":  # `accelerate launch -m tibcpt.training.train --config ...`
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="tibcpt.training.train", description="continued pretraining on a shard folder")
    add_cli(p)
    sys.exit(cli(p.parse_args()))
