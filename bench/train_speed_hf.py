"""The HF Trainer side of bench/train_speed.py: one run in its own process, started by that script.

python bench/train_speed_hf.py '<run spec as JSON>'   (writes the result JSON to spec["result"])
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from hf_data import collate, packed_sequences  # bench/ is this script's folder, so on sys.path
from train_speed import BATCH, LR, SEQ, WARMUP


def main(spec: dict) -> None:
    """One HF Trainer run (in its own process); writes a JSON result to spec['result']."""
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    t0 = spec["t0"]
    data = packed_sequences(spec["shards"])

    b, acc = BATCH[spec["shape"]]
    marks: dict[str, float] = {}

    cuda = torch.cuda.is_available()

    end = spec.get("end", spec["steps"])
    prof_at, prof_n = spec.get("profile", (0, 0))
    profiled: dict = {}

    class Timer(TrainerCallback):
        """Wall time at steps 1, warm and `end`, after the GPU has finished them (3 syncs per run);
        torch.profiler over steps (prof_at, prof_at + prof_n], after the measured ones."""

        def on_step_end(self, args, state, control, **kw):
            if state.global_step in (1, spec["warm"], end, prof_at, prof_at + prof_n):
                if cuda:
                    torch.cuda.synchronize()
                marks[str(state.global_step)] = time.time()
            if prof_n and state.global_step == prof_at:
                acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
                profiled["p"] = torch.profiler.profile(activities=acts)
                profiled["p"].__enter__()
            elif prof_n and state.global_step == prof_at + prof_n:
                profiled["p"].__exit__(None, None, None)
                profiled["wall_us"] = (marks[str(prof_at + prof_n)] - marks[str(prof_at)]) * 1e6

    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=torch.float32, attn_implementation="sdpa")
    args = TrainingArguments(
        output_dir=spec["out"], per_device_train_batch_size=b, gradient_accumulation_steps=acc,
        max_steps=spec["steps"], learning_rate=LR, warmup_steps=WARMUP, lr_scheduler_type="cosine",
        weight_decay=0.0, max_grad_norm=1.0, bf16=cuda, use_cpu=not cuda, logging_steps=5,
        optim="adamw_torch_fused" if cuda else "adamw_torch",
        save_strategy="no", report_to="none", torch_compile=spec.get("compile", False), seed=42,
        dataloader_drop_last=True, disable_tqdm=True, use_liger_kernel=spec.get("liger", False),
    )  # fmt: skip
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collate, callbacks=[Timer()])
    trainer.train()
    w, s = spec["warm"], end
    tok_s = (s - w) * b * acc * SEQ / (marks[str(s)] - marks[str(w)])
    losses = {h["step"]: h["loss"] for h in trainer.state.log_history if "loss" in h}
    res = {
        "tokens_per_s": round(tok_s),
        "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "first_step_s": round(marks["1"] - t0, 1),
        "losses": losses,
        "measured_steps": s - w,
    }
    if "p" in profiled:  # the same summary as tibcpt's profile_steps (training/profile.py)
        from tibcpt.training.profile import summarize_kernels
        from torch.autograd import DeviceType

        p = profiled["p"]
        kernels = [(e.name, e.time_range.elapsed_us()) for e in p.events() if e.device_type == DeviceType.CUDA]
        res["profile"] = summarize_kernels(kernels, profiled["wall_us"], prof_n)
        table = p.key_averages().table(sort_by="self_device_time_total", row_limit=40, max_name_column_width=90)
        Path(spec["result"]).with_name("kernels.txt").write_text(table)
    Path(spec["result"]).write_text(json.dumps(res))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
