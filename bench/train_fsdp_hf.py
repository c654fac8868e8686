"""The HF Trainer side of bench/train_fsdp.py: one process per GPU under torchrun (FSDP), or one CPU process.

    python -m torch.distributed.run --standalone --nproc_per_node=2 bench/train_fsdp_hf.py SPEC_JSON

Same data, optimizer, schedule, micro-batch and accumulation as the tibcpt runs; FSDP configured as
configs/accelerate/fsdp.yaml (v1, FULL_SHARD, LlamaDecoderLayer units, use_orig_params); rank r
writes SPEC["result"].r (its peak memory; rank 0 also tokens/s over steps after "warm" and losses).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from hf_data import collate, packed_sequences  # bench/ is this script's folder, so on sys.path
from train_fsdp import LR, SEQ, WARMUP


def main(spec: dict) -> None:
    import dataclasses

    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    cuda, fsdp = torch.cuda.is_available(), world > 1
    data = packed_sequences(spec["shards"])

    marks: dict[int, float] = {}
    w, s = spec["warm"], spec["steps"]

    class Timer(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step in (1, w, s):
                if cuda:
                    torch.cuda.synchronize()
                marks[state.global_step] = time.time()

    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    ckpt_arg = "gradient_checkpointing" if "gradient_checkpointing" in fields else "activation_checkpointing"
    extra = {ckpt_arg: spec["gc"], f"{ckpt_arg}_kwargs": {"use_reentrant": False}} if spec["gc"] else {}
    if fsdp:  # the same FSDP as configs/accelerate/fsdp.yaml
        extra["fsdp"] = "full_shard auto_wrap"
        extra["fsdp_config"] = {
            "version": 1, "transformer_layer_cls_to_wrap": ["LlamaDecoderLayer"], "backward_prefetch": "backward_pre",
            "use_orig_params": True, "sync_module_states": True, "cpu_ram_efficient_loading": False,
        }  # fmt: skip
    args = TrainingArguments(
        output_dir=spec["out"], per_device_train_batch_size=spec["micro"], gradient_accumulation_steps=spec["accum"],
        max_steps=s, learning_rate=LR, warmup_steps=WARMUP, lr_scheduler_type="cosine", weight_decay=0.0,
        max_grad_norm=1.0, bf16=cuda, use_cpu=not cuda, logging_steps=1, save_strategy="no", report_to="none",
        optim="adamw_torch_fused" if cuda else "adamw_torch", seed=42, dataloader_drop_last=True,
        disable_tqdm=True, **extra,
    )  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=torch.float32, attn_implementation="sdpa")
    if spec["ft"] == "freeze":  # tibcpt's rule (training/model.py _freeze): last 2 layers + embeddings
        n = model.config.num_hidden_layers
        keep = tuple(f"model.layers.{i}." for i in (n - 2, n - 1))
        for name, p in model.named_parameters():
            p.requires_grad = name.startswith(keep) or "embed_tokens" in name or "lm_head" in name
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collate, callbacks=[Timer()])
    trainer.train()
    res = {
        "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "wrapper": type(trainer.model_wrapped).__name__,
        "trainable_params": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
    }
    if rank == 0:
        res["tokens_per_s"] = round((s - w) * spec["micro"] * spec["accum"] * world * SEQ / (marks[s] - marks[w]))
        res["first_step_s"] = round(marks[1] - spec["t0"], 1)
        res["losses"] = {str(h["step"]): h["loss"] for h in trainer.state.log_history if "loss" in h}
        res["measured_steps"] = s - w
    Path(f"{spec['result']}.{rank}").write_text(json.dumps(res))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
