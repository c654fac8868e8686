"""tibcpt's trainer against the Hugging Face Trainer on the same shapes, data and GPU, in one run (issue 11).

Every variant runs in its own process (liger-kernel patches transformers' module globals, and the
time to the first step must include imports and compilation): `tibcpt.training.train` on a token
shard folder, and `transformers.Trainer` on the same packed sequences. Models are random (the
FLOPs, memory and kernels do not depend on the weights): the SmolLM2-135M shape with the extended
68,857-token vocabulary, and the Llama-3.2-1B shape (128,256 tokens) for MFU and peak memory.

    python bench/train_speed.py --shards out/shards --out bench/results/train_speed.json [--runs a,b]
    python bench/train_speed.py --out bench/results/train_speed.json --merge FILE...   (a device call's runs)

Throughput leaves out the first interval (compilation, warm-up): tibcpt's from its train_log.jsonl
(time-weighted over the logged intervals after the first), the HF Trainer's from a callback that
synchronises the GPU at the start and the end of the measured steps. MFU for both: tibcpt's
metrics.flops_per_token (6N + 12·L·H·Q·T) over the H200's dense bf16 peak.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import llama_params  # bench/ is this script's folder, so on sys.path
from bench_proc import launch, max_loss_gap, merge_results, read_train_log

from tibcpt.io import write_json_atomic

REPO = Path(__file__).resolve().parents[1]
SHAPES = {
    "smollm2-135m": dict(  # SmolLM2-135M's config.json with the Tibetan-extended vocabulary
        hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, head_dim=64, vocab_size=68857, tie_word_embeddings=True, rms_norm_eps=1e-5,
        max_position_embeddings=8192, rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
    ),
    "llama-3.2-1b": dict(  # meta-llama/Llama-3.2-1B's config.json
        hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
        num_key_value_heads=8, head_dim=64, vocab_size=128256, tie_word_embeddings=True, rms_norm_eps=1e-5,
        max_position_embeddings=131072, rope_parameters={
            "rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    ),
    "tiny": dict(  # --smoke on a CPU: checks the script, measures nothing
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, vocab_size=68857, tie_word_embeddings=True, rms_norm_eps=1e-5,
        max_position_embeddings=2048, rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
    ),
}  # fmt: skip
# Micro-batch x accumulation: 16 x 2048 tokens per optimizer step for both shapes (issue 11).
BATCH = {"smollm2-135m": (16, 1), "llama-3.2-1b": (8, 2), "tiny": (1, 2)}
SEQ = 2048
LR, WARMUP = 6e-4, 5


def R(name, fw, shape="smollm2-135m", steps=50, log=5, **kw):
    return {"name": name, "fw": fw, "shape": shape, "steps": steps, "log": log, **kw}


# tibcpt: kernels auto|none|all, compile. HF: compile, liger. `stop`: end the process once the
# last needed record is logged (skips final eval/save; those are timed by the first-step runs).
RUNS = [
    R("hf_eager", "hf", steps=40, warm=10),
    R("hf_compiled", "hf", steps=40, warm=10, compile=True),
    R("tibcpt_eager_plain", "tibcpt", kernels="none"),
    R("tibcpt_eager", "tibcpt", kernels="auto"),
    R("tibcpt_first_step_cold", "tibcpt", steps=2, log=1, compile=True, eval_at_start=True, stop=1, cache="fresh"),
    R("tibcpt_first_step_warm", "tibcpt", steps=2, log=1, compile=True, eval_at_start=True, stop=1),
    R("tibcpt_compiled_all_liger", "tibcpt", compile=True, kernel_set="all"),
    R("tibcpt_fp16_eager_plain", "tibcpt", steps=30, kernels="none", precision="fp16"),
    R("tibcpt_fp16_compiled", "tibcpt", steps=30, compile=True, precision="fp16"),
    R("hf_1b_compiled", "hf", shape="llama-3.2-1b", steps=12, warm=4, compile=True),
    R("tibcpt_1b_compiled", "tibcpt", shape="llama-3.2-1b", steps=12, log=4, warm=4, compile=True, stop=12),
    R("hf_liger_compiled", "hf", steps=40, warm=10, compile=True, liger=True),
    # Round 2: where the time goes (torch.profiler after the measured steps), then the candidates.
    R("hf_compiled_prof", "hf", steps=36, warm=10, end=28, compile=True, profile=(30, 5)),
    R("tibcpt_compiled_prof", "tibcpt", steps=60, end=50, compile=True, profile=(50, 5)),
    R("tibcpt_cudnn_prof", "tibcpt", steps=60, end=50, compile=True, attention="cudnn", profile=(50, 5)),
    R("tibcpt_closs_prof", "tibcpt", steps=60, end=50, compile=True, kernels="none", closs=True, profile=(50, 5)),
    R("tibcpt_closs_cudnn_prof", "tibcpt", steps=60, end=50, compile=True, kernels="none", closs=True,
      attention="cudnn", profile=(50, 5)),
    R("tibcpt_eager_cudnn", "tibcpt", kernels="auto", attention="cudnn"),
    R("tibcpt_compiled_ddp2", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50),
    # where the 2-GPU step's extra 8-18 ms go (rank 0's kernel table: communication vs compute)
    R("tibcpt_compiled_ddp2_prof", "tibcpt", steps=60, end=50, compile=True, procs=2, profile=(50, 5)),
    R("tibcpt_compiled_ddp2_bf16reduce", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
      extra=["ddp_reduce_dtype=bf16"]),
    R("tibcpt_compiled_1gpu_ref", "tibcpt", steps=60, end=50, compile=True, stop=50),
    # Round 3 (bench/gpu_round3.sh speed): the defaults after round 2, profiled, and the eager path's profile.
    R("tibcpt_compiled", "tibcpt", steps=60, end=50, compile=True, profile=(50, 5)),
    R("tibcpt_eager_prof", "tibcpt", steps=60, end=50, kernels="auto", profile=(50, 5)),
    R("tibcpt_fp16_eager", "tibcpt", steps=30, kernels="auto", precision="fp16"),
    # Round 6 (bench/gpu_round6.sh speed): round 5 measured the aligned default at 1.817x on 2 GPUs, the
    # bf16 all-reduce slower (1.757x), NCCL 2.9 ms of a 113 ms step, the GPU idle ~8 ms per step: the
    # host, not the link. Candidates: Python's GC on a step schedule (a collection on one rank stalls
    # both at the all-reduce), gradients as bucket views (no copy in and out of the buckets), static
    # graph. Every variant against its own 1-GPU run in the same call.
    R("tibcpt_compiled_1gpu_r6", "tibcpt", steps=60, end=50, compile=True, stop=50),
    R("tibcpt_compiled_ddp2_r6", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50),
    R("tibcpt_compiled_1gpu_gc", "tibcpt", steps=60, end=50, compile=True, stop=50, extra=["gc_interval_steps=20"]),
    R("tibcpt_compiled_ddp2_gc", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
      extra=["gc_interval_steps=20"]),
    R("tibcpt_compiled_ddp2_bucketview", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
      extra=["ddp_gradient_as_bucket_view=true"]),
    R("tibcpt_compiled_ddp2_gc_bucketview", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
      extra=["gc_interval_steps=20", "ddp_gradient_as_bucket_view=true"]),
    R("tibcpt_compiled_ddp2_gc_bucketview_static", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
      extra=["gc_interval_steps=20", "ddp_gradient_as_bucket_view=true", "ddp_static_graph=true"]),
    # round 6b: bucket view again (call-to-call noise) and without the per-forward buffer broadcast
    R("tibcpt_compiled_1gpu_r6b", "tibcpt", steps=60, end=50, compile=True, stop=50),
    R("tibcpt_compiled_ddp2_bucketview_r6b", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
      extra=["ddp_gradient_as_bucket_view=true"]),
    R("tibcpt_compiled_ddp2_bucketview_nobcast", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
      extra=["ddp_gradient_as_bucket_view=true", "ddp_broadcast_buffers=false"]),
    # Round 7 (bench/gpu_round7.sh): where each rank's 2-GPU step waits. Both ranks profile steps
    # 51-55 (profile/rank1/ beside rank 0's) with device time counted from kernels only, against the
    # 1-GPU step profiled the same way; two unprofiled pairs give the call's own spread.
    R("tibcpt_compiled_1gpu_prof_r7", "tibcpt", steps=60, end=50, compile=True, profile=(50, 5)),
    R("tibcpt_compiled_ddp2_prof_r7", "tibcpt", steps=60, end=50, compile=True, procs=2, profile=(50, 5)),
    R("tibcpt_compiled_1gpu_r7", "tibcpt", steps=60, end=50, compile=True, stop=50),
    R("tibcpt_compiled_ddp2_r7", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50),
    R("tibcpt_compiled_1gpu_r7b", "tibcpt", steps=60, end=50, compile=True, stop=50),
    R("tibcpt_compiled_ddp2_r7b", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50),
    # A host-side candidate: Inductor's C++ wrapper launches a graph's ~100 kernels from C++, not
    # Python (torch._inductor.config.cpp_wrapper, set by its environment variable).
    R("tibcpt_compiled_1gpu_cppwrap", "tibcpt", steps=60, end=50, compile=True, stop=50,
      env={"TORCHINDUCTOR_CPP_WRAPPER": "1"}),
    R("tibcpt_compiled_ddp2_cppwrap", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
      env={"TORCHINDUCTOR_CPP_WRAPPER": "1"}),
    # Round 8 (bench/gpu_round8.sh): round 7's profiles showed the rank that runs ahead with 54 ms of
    # NCCL kernels per step waiting for the other, and its matmuls 8.6 ms slower than the 1-GPU
    # step's: a waiting all-reduce holds one SM per channel. Fewer channels (NCCL_MAX_CTAS, and its
    # older name NCCL_MAX_NCHANNELS) leave the SMs to the backward pass that the all-reduce overlaps.
    R("tibcpt_compiled_1gpu_r8", "tibcpt", steps=60, end=50, compile=True, stop=50),
    R("tibcpt_compiled_ddp2_r8", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50),
    *[R(f"tibcpt_compiled_ddp2_nch{n}{s}", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
        env={"NCCL_MAX_CTAS": str(n), "NCCL_MAX_NCHANNELS": str(n)}) for s in ("", "_r8b") for n in (2, 4, 8)],
    R("tibcpt_compiled_1gpu_r8b", "tibcpt", steps=60, end=50, compile=True, stop=50),
    R("tibcpt_compiled_ddp2_r8b", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50),
    # Round 9: torchrun (under accelerate launch) sets OMP_NUM_THREADS=1 for each of several
    # processes; the 1-GPU run keeps torch's default. Round 7-8's 2-GPU runs wait on data 1.3-1.6 %
    # of the time against 0.7 % on one GPU.
    R("tibcpt_compiled_1gpu_r9", "tibcpt", steps=60, end=50, compile=True, stop=50),
    R("tibcpt_compiled_ddp2_omp8", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
      env={"OMP_NUM_THREADS": "8"}),
    R("tibcpt_compiled_ddp2_r9", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50),
    R("tibcpt_compiled_ddp2_omp8_b", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
      env={"OMP_NUM_THREADS": "8"}),
    # Round 10: the 1-GPU step's device is idle 9 % of it (round 7's profile) and DDP adds hooks and
    # NCCL launches to the host's work: Inductor's CUDA graphs (cudagraph trees) replay each compiled
    # region's kernels with one launch.
    R("tibcpt_compiled_1gpu_cg", "tibcpt", steps=60, end=50, compile=True, stop=50,
      env={"TORCHINDUCTOR_CUDAGRAPHS": "1"}),
    R("tibcpt_compiled_ddp2_cg", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
      env={"TORCHINDUCTOR_CUDAGRAPHS": "1"}),
    # Round 11 (bench/gpu_round11.sh): batches without read stalls (training/data.py reads the next
    # row group in a thread; bench/data_speed.py), and CUDA graphs through the config option
    # (model.cuda_graphs, with the step marker), each pair twice for the call's spread and the loss.
    *[R(f"tibcpt_compiled_{p}_{v}{s}", "tibcpt", steps=60, end=50, compile=True, stop=50,
        **({"procs": 2} if p == "ddp2" else {}), extra=["model.cuda_graphs=true"] if v == "cgcfg" else [])
      for s in ("", "_b") for v in ("r11", "cgcfg") for p in ("1gpu", "ddp2")],
    # Round 11b: round 7's host CPU per matmul call was 31 us on one GPU, 39-40 us on each DDP rank.
    # Each process bound to its own half of the physical cores (bench/pin/sitecustomize.py), the
    # 1-GPU run to one half too; and both ranks profiled with it.
    *[R(f"tibcpt_compiled_{p}_pin{s}", "tibcpt", steps=60, end=50, compile=True, stop=50, pin=2,
        **({"procs": 2} if p == "ddp2" else {})) for s in ("", "_b") for p in ("1gpu", "ddp2")],
    R("tibcpt_compiled_ddp2_pin_prof", "tibcpt", steps=60, end=50, compile=True, procs=2, pin=2, profile=(50, 5)),
    R("tibcpt_compiled_1gpu_r11_prof", "tibcpt", steps=60, end=50, compile=True, profile=(50, 5)),
    R("tibcpt_compiled_ddp2_r11_prof", "tibcpt", steps=60, end=50, compile=True, procs=2, profile=(50, 5)),
    # Round 12 (bench/gpu_round12.sh): round 11's first model.cuda_graphs run logged steps 41-45 0.10
    # above every other run and step 50 equal to them again (a wrong logged loss or one bad update?):
    # the loss of every step, three runs with CUDA graphs and one without. And round 11b's host CPU
    # (140 ms per step on a DDP rank, 109 on one GPU, 131 pinned): every DDP option that saves host
    # work at once (CUDA graphs, bucket views, static graph, GC on a schedule), against its 1-GPU run.
    *[R(f"tibcpt_compiled_1gpu_cgcfg_log1{s}", "tibcpt", steps=60, log=1, end=50, compile=True, stop=50,
        extra=["model.cuda_graphs=true"]) for s in ("", "_b", "_c")],
    R("tibcpt_compiled_1gpu_log1", "tibcpt", steps=60, log=1, end=50, compile=True, stop=50),
    # Round 12b: the same after training/train.py synchronises before reading an interval's clock.
    R("tibcpt_compiled_1gpu_r12", "tibcpt", steps=60, end=50, compile=True, stop=50),
    R("tibcpt_compiled_ddp2_r12", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50),
    R("tibcpt_compiled_1gpu_log1_r12", "tibcpt", steps=60, log=1, end=50, compile=True, stop=50),
    # Round 13 (bench/gpu_round13.sh): the figures still measured with the clock before the GPU
    # work, again: the 1B pair, the cold start, and two more DDP pairs.
    R("hf_1b_compiled_r13", "hf", shape="llama-3.2-1b", steps=12, warm=4, compile=True),
    R("tibcpt_1b_compiled_r13", "tibcpt", shape="llama-3.2-1b", steps=12, log=4, warm=4, compile=True, stop=12),
    R("tibcpt_first_step_cold_r13", "tibcpt", steps=2, log=1, compile=True, eval_at_start=True, stop=1,
      cache="fresh"),
    *[R(f"tibcpt_compiled_{p}_r13{s}", "tibcpt", steps=60, end=50, compile=True, stop=50,
        **({"procs": 2} if p == "ddp2" else {})) for s in ("", "_b") for p in ("1gpu", "ddp2")],
    # fewer, larger gradient buckets: fewer all-reduce launches on a host-bound step (round 11b: a DDP
    # rank launches 3,071 kernels per step against 2,476 on one GPU)
    *[R(f"tibcpt_compiled_ddp2_bucket{mb}_r13", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
        extra=[f"ddp_bucket_cap_mb={mb}"]) for mb in (100, 200)],
    # Round 14 (bench/gpu_round14.sh): round 11b's profiles put DDP's cost in 595 more kernels per
    # step (one copy of each of ~272 gradients into its bucket and one back out, plus the all-reduces)
    # on a host-bound step, and matmuls 10 % slower beside the all-reduces. Bucket views drop the copy
    # back out; round 6 measured them with the clock before the GPU work (1.788x, then 1.628x).
    # Three interleaved triples with the corrected clock, and the bucket-view rank profiled. (Bucket
    # views were off by default until this round: re-running an earlier DDP run as it was measured
    # needs ddp_gradient_as_bucket_view=false.)
    *[R(f"tibcpt_compiled_{p}_r14{s}", "tibcpt", steps=60, end=50, compile=True, stop=50,
        **({"procs": 2} if p != "1gpu" else {}),
        extra=["ddp_gradient_as_bucket_view=true"] if p == "ddp2_bucketview" else [])
      for s in ("", "_b", "_c") for p in ("1gpu", "ddp2", "ddp2_bucketview")],
    R("tibcpt_compiled_ddp2_bucketview_prof_r14", "tibcpt", steps=60, end=50, compile=True, procs=2,
      profile=(50, 5), extra=["ddp_gradient_as_bucket_view=true"]),
    # Round 15 (bench/gpu_round15.sh): bucket views are the default now; three more pairs with the
    # default config, and two runs with them off again.
    *[R(f"tibcpt_compiled_{p}_r15{s}", "tibcpt", steps=60, end=50, compile=True, stop=50,
        **({"procs": 2} if p != "1gpu" else {}),
        extra=["ddp_gradient_as_bucket_view=false"] if p == "ddp2_nobucketview" else [])
      for s in ("", "_b", "_c") for p in ("1gpu", "ddp2", "ddp2_nobucketview") if p != "ddp2_nobucketview" or s != "_c"],
    # Round 16 (bench/gpu_round16.sh): round 13's cold start took 31.2 s (round 9: 29.3 s; target 30):
    # about 15 s before the model is loaded, 4 s before compilation is set up, 11 s in the first
    # step. The same run under cProfile (one step, so that the profile is written), and once plain.
    R("tibcpt_first_step_cold_r16", "tibcpt", steps=2, log=1, compile=True, eval_at_start=True, stop=1,
      cache="fresh"),
    R("tibcpt_first_step_cold_cprofile_r16", "tibcpt", steps=1, log=1, compile=True, eval_at_start=True,
      cache="fresh", cprofile=True),
    # Round 17 (bench/gpu_round17.sh): round 14's profile has each DDP rank's matmuls 10 % slower
    # beside the overlapping all-reduces. Two ways to shorten that overlap: bf16 all-reduce (half the
    # bytes) and NCCL on high-priority streams (TORCH_NCCL_HIGH_PRIORITY), against two 1-GPU runs.
    R("tibcpt_compiled_1gpu_r17", "tibcpt", steps=60, end=50, compile=True, stop=50),
    R("tibcpt_compiled_ddp2_r17", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50),
    R("tibcpt_compiled_ddp2_bf16reduce_r17", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
      extra=["ddp_reduce_dtype=bf16"]),
    R("tibcpt_compiled_ddp2_ncclhigh_r17", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
      env={"TORCH_NCCL_HIGH_PRIORITY": "1"}),
    R("tibcpt_compiled_1gpu_r17_b", "tibcpt", steps=60, end=50, compile=True, stop=50),
    R("tibcpt_compiled_1gpu_cg_all", "tibcpt", steps=60, end=50, compile=True, stop=50,
      extra=["model.cuda_graphs=true", "gc_interval_steps=20"]),
    R("tibcpt_compiled_ddp2_cg_all", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
      extra=["model.cuda_graphs=true", "gc_interval_steps=20", "ddp_gradient_as_bucket_view=true",
             "ddp_static_graph=true"]),
]  # fmt: skip


def make_model(shape: str, folder: Path) -> Path:
    """A random model of `shape` (fp32 init on the GPU, saved as safetensors in bf16 to halve the I/O)."""
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    cfg = LlamaConfig(**SHAPES[shape], bos_token_id=1, eos_token_id=2, attention_bias=False, mlp_bias=False)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    model.to(torch.bfloat16).save_pretrained(folder, safe_serialization=True)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # the runs are other processes: give them the memory
    return folder


def tibcpt_cmd(run: dict, model: Path, shards: str, out: Path, cache: Path) -> list[str]:
    b, acc = BATCH[run["shape"]]
    kernels = run.get("kernels", "auto")
    sets = [
        f"model.model_name_or_path={model}", "model.finetuning_type=full", f"model.kernels={kernels}",
        f"model.compile={str(run.get('compile', False)).lower()}", f"model.compile_cache_dir={cache}",
        f"data.shards={shards}", "data.replay_ratio=0", "data.replay_shards=null", "data.eval_max_sequences=16",
        f"optim.learning_rate={LR}",
        f"optim.warmup_steps={WARMUP}", "optim.lr_scheduler_type=cosine", f"output_dir={out}",
        f"per_device_train_batch_size={b}", "per_device_eval_batch_size=8", f"gradient_accumulation_steps={acc}",
        f"max_steps={run['steps']}", f"mixed_precision={run.get('precision', 'bf16')}",
        f"logging_steps={run['log']}", "eval_steps=0", "save_steps=0", "tensorboard=false",
        f"eval_at_start={str(run.get('eval_at_start', False)).lower()}", "seed=42",
    ]  # fmt: skip
    # Only what a run sets differs from the config's defaults (round 2 passed compiled_loss=false to
    # every run without `closs`, so its DDP and first-step runs measured the plain loss, not the default).
    if "attention" in run:
        sets.append(f"model.attention_backend={run['attention']}")
    if "closs" in run:
        sets.append(f"model.compiled_loss={str(run['closs']).lower()}")
    if run.get("profile"):
        sets += [f"profile_start_step={run['profile'][0]}", f"profile_steps={run['profile'][1]}"]
    sets += run.get("extra", [])
    args = ["--config", str(REPO / "configs/train/smollm2-135m.yaml")] + sets
    if run.get("kernel_set") == "all":  # bench-only variant: all four liger kernels under compile as well
        return [sys.executable, "-c", ALL_KERNELS_LAUNCHER] + args
    if run.get("procs", 1) > 1:  # DDP on this host's GPUs, as the README says to run it
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                  str(REPO / "configs/accelerate/ddp.yaml"), "--num_processes", str(run["procs"])]  # fmt: skip
        return launch + ["-m", "tibcpt.training.train"] + args
    if run.get("cprofile"):  # where the cold start's seconds go (written when the run ends)
        return [sys.executable, "-m", "cProfile", "-o", str(out / "run.cprofile"), "-m", "tibcpt.training.train"] + args
    return [sys.executable, "-m", "tibcpt.training.train"] + args


def cprofile_top(path: Path, n: int = 60) -> list[list]:
    """The `n` functions (not the import machinery's frames) with the most cumulative seconds in a
    cProfile dump: [seconds, function]."""
    import pstats

    stats = pstats.Stats(str(path)).stats
    rows = sorted(
        ((v[3], f"{k[0]}:{k[1]}({k[2]})") for k, v in stats.items() if not k[0].startswith(("<", "~"))),
        reverse=True,
    )[:n]
    return [[round(t, 2), f] for t, f in rows]


ALL_KERNELS_LAUNCHER = """import runpy, sys
import tibcpt.training.kernels as k
k.kernel_set = lambda compiled, fp16=False: ("fused_linear_cross_entropy", "rms_norm", "swiglu", "rope")
sys.argv = ["tibcpt.training.train"] + sys.argv[1:]
runpy.run_module("tibcpt.training.train", run_name="__main__", alter_sys=True)
"""


def tibcpt_result(run: dict, out: Path) -> dict:
    """Throughput over the logged intervals after step `warm` (time-weighted), losses, memory."""
    train = read_train_log(out)
    b, acc = BATCH[run["shape"]]
    tok_step = b * acc * SEQ * run.get("procs", 1)
    end = run.get("end", run["steps"])
    pairs = [
        (p, r) for p, r in zip(train, train[1:]) if p["step"] >= run.get("warm", 2 * run["log"]) and r["step"] <= end
    ]
    steps = sum(r["step"] - p["step"] for p, r in pairs)
    secs = sum((r["step"] - p["step"]) * tok_step / r["tokens_per_s"] for p, r in pairs)
    last = train[-1]
    return {
        "tokens_per_s": round(steps * tok_step / secs) if pairs else None,
        "mfu_logged": last.get("mfu"),
        "peak_mem_gib": round(last["peak_mem_gib"], 2) if last.get("peak_mem_gib") else None,
        "losses": {str(r["step"]): r["loss"] for r in train},  # str keys, as read back from --out
        "skipped_steps": last["skipped_steps"],
        "data_share": round(sum(r["data_share"] for _, r in pairs) / len(pairs), 4) if pairs else None,
        "measured_steps": steps,
        **read_profile(out / "profile", out.parent.parent / f"{run['name']}.kernels.log"),
    }


def read_profile(folder: Path, table_copy: Path) -> dict:
    """training/profile.py's summary (and its kernel table, copied beside the logs), if the run profiled."""
    if not (folder / "summary.json").is_file():
        return {}
    shutil.copyfile(folder / "kernels.txt", table_copy)
    found = {"profile": json.loads((folder / "summary.json").read_text())}
    for other in sorted(folder.glob("rank*/summary.json")):  # the other ranks of a DDP run
        found[f"profile_{other.parent.name}"] = json.loads(other.read_text())
        shutil.copyfile(other.parent / "kernels.txt", table_copy.with_suffix(f".{other.parent.name}.log"))
    return found


def count_compile_events(log_text: str) -> dict:
    return {
        "recompiles": log_text.count("Recompiling function"),
        "graph_breaks": log_text.count("Graph break"),
        # Inductor's warning when a region runs without its CUDA graph (mutated inputs, CPU ops, ...)
        "cudagraph_skips": log_text.count("skipping cudagraphs"),
    }


def n_params(shape: str) -> int:
    """Parameters of `shape` (tied embeddings, its own vocabulary)."""
    return llama_params.n_params(SHAPES[shape], SHAPES[shape]["vocab_size"])


def mfu_of(shape: str, tok_s: float | None, world: int = 1) -> float | None:
    """tibcpt's MFU formula (metrics.py) for either trainer: `tok_s` over all `world` GPUs against
    their dense bf16 peak."""
    import torch
    from tibcpt.training.metrics import flops_per_token, mfu, peak_flops

    c = SHAPES[shape]
    peak = peak_flops(torch.cuda.get_device_name()) if torch.cuda.is_available() else None
    if not tok_s or not peak:
        return None
    f = flops_per_token(n_params(shape), c["num_hidden_layers"], c["num_attention_heads"], c["head_dim"], SEQ)
    return round(mfu(tok_s, f, peak, world), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shards", help="token shard folder (tibcpt pack, seq_len 2048)")
    ap.add_argument("--work", default="/tmp/train-speed", help="scratch folder (models, run outputs, caches)")
    ap.add_argument("--out", required=True, help="results JSON")
    ap.add_argument("--runs", default="", help="comma-separated run names (default: all)")
    ap.add_argument("--timeout", type=float, default=240, help="seconds per run")
    ap.add_argument("--smoke", action="store_true", help="tiny model, 4 steps, no compile: check the script on a CPU")
    ap.add_argument("--merge", nargs="*", help="only merge these results JSONs' runs into --out (device calls)")
    a = ap.parse_args()
    if a.merge is not None:
        return print(json.dumps(merge_results(Path(a.out), a.merge, summarize), indent=1))
    if not a.shards:
        raise SystemExit("--shards is required")
    import torch
    import transformers

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    names = a.runs.split(",") if a.runs else [r["name"] for r in RUNS]
    unknown = set(names) - {r["name"] for r in RUNS}
    if unknown:
        raise SystemExit(f"--runs: unknown {sorted(unknown)}")
    wanted = [r for n in names for r in RUNS if r["name"] == n]  # in the order asked
    if a.smoke:
        wanted = [dict(r, shape="tiny", steps=4, log=1, warm=2, stop=None) for r in wanted if not r.get("compile")]
    out_path = Path(a.out)
    results = json.loads(out_path.read_text()) if out_path.is_file() else {}
    results.setdefault("runs", {})
    results["setup"] = {
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (smoke)",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "liger_kernel": _version("liger-kernel"),
        "data": f"{a.shards}: packed Tibetan sequences of 2048 tokens (tibcpt pack)",
        "models": "random init; shapes " + ", ".join(k for k in SHAPES if k != "tiny"),
        "batch": {k: f"{b} x {SEQ} x {acc} accumulation" for k, (b, acc) in BATCH.items() if k != "tiny"},
        "script": "bench/train_speed.py",
    }
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", TORCH_LOGS="recompiles,graph_breaks")
    cache = work / "inductor-cache"
    for run in wanted:
        model = make_model(run["shape"], work / run["shape"])
        out = work / "runs" / run["name"]
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        if run.get("cache") == "fresh":
            shutil.rmtree(cache, ignore_errors=True)
        log_path = work / f"{run['name']}.log"
        t_start = time.time()
        if run["fw"] == "tibcpt":
            cmd = tibcpt_cmd(run, model, a.shards, out, cache)
            run_env = {**env, **run.get("env", {})}
            if run.get("pin"):  # bench/pin/sitecustomize.py binds each rank to its block of cores
                path = [str(REPO / "bench" / "pin"), env.get("PYTHONPATH", "")]
                run_env.update(TIBCPT_BENCH_PIN=str(run["pin"]), PYTHONPATH=os.pathsep.join(p for p in path if p))
            rc, first, wall = launch(cmd, run_env, log_path, out, run.get("stop"), a.timeout)
        else:
            spec = dict(run, model=str(model), shards=a.shards, out=str(out), result=str(out / "r.json"), t0=t_start)
            cmd = [sys.executable, str(Path(__file__).with_name("train_speed_hf.py")), json.dumps(spec)]
            # One GPU: with several visible the HF Trainer wraps the model in DataParallel (round 2:
            # out of memory gathering the outputs on GPU 0).
            hf_env = {**env, "CUDA_VISIBLE_DEVICES": env.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]}
            rc, first, wall = launch(cmd, hf_env, log_path, None, None, a.timeout)
        text = log_path.read_text(errors="replace")
        res: dict = {"rc": rc, "wall_s": round(wall, 1), **count_compile_events(text)}
        try:
            if run["fw"] == "tibcpt":
                res.update(tibcpt_result(run, out), first_step_s=round(first, 1) if first else None)
                if (out / "run.cprofile").is_file():
                    res["cprofile_cumulative_s"] = cprofile_top(out / "run.cprofile")
            else:
                res.update(json.loads((out / "r.json").read_text()))
                if (out / "kernels.txt").is_file():
                    shutil.copyfile(out / "kernels.txt", work / f"{run['name']}.kernels.log")
            res["mfu_same_formula"] = mfu_of(run["shape"], res["tokens_per_s"], run.get("procs", 1))
        except (OSError, ValueError, KeyError, ZeroDivisionError, IndexError, TypeError) as err:
            res["error"] = f"{type(err).__name__}: {err}"
            res["log_tail"] = text[-3000:]
        results["runs"][run["name"]] = {"spec": run, **res}
        results["summary"] = summarize(results)
        write_json_atomic(out_path, results)
        short = {k: res.get(k) for k in ("rc", "tokens_per_s", "mfu_same_formula", "peak_mem_gib", "first_step_s")}
        print(
            f"{run['name']:<28} {short} recompiles={res['recompiles']} breaks={res['graph_breaks']} cudagraph_skips={res['cudagraph_skips']}",
            flush=True,
        )
        if "error" in res:
            print(res["log_tail"][-1500:], flush=True)


# The compiled default's 1-GPU runs since round 4 (the aligned output matmul), all the same config.
COMPILED_DEFAULT_1GPU = [
    "tibcpt_compiled",
    "tibcpt_compiled_1gpu_ref",
    "tibcpt_compiled_1gpu_r6",
    "tibcpt_compiled_1gpu_r6b",
]


def summarize(results: dict) -> dict:
    """The issue-11 targets, each with what was measured (from the runs present)."""
    r = {k: v for k, v in results["runs"].items() if "error" not in v and v.get("rc") == 0}

    def ratio(a: str, b: str):
        ok = a in r and b in r and r[a].get("tokens_per_s") and r[b].get("tokens_per_s")
        return round(r[a]["tokens_per_s"] / r[b]["tokens_per_s"], 3) if ok else None

    def loss(name: str) -> dict:
        return r.get(name, {}).get("losses", {})

    out = {
        # Round 12b ran tibcpt_eager, hf_eager, hf_compiled and the r12 pairs in one call, the first
        # with training/train.py reading an interval's clock after its GPU work (every tibcpt figure
        # before it read the clock first; the HF callback always synchronised).
        "eager_vs_hf_eager (target >= 1.5)": ratio("tibcpt_eager", "hf_eager"),
        "compiled_vs_hf_compiled (target >= 1.3)": ratio("tibcpt_compiled_1gpu_r12", "hf_compiled"),
        "ddp 2 GPUs / 1 GPU, default config (target >= 1.9)": ratio(
            "tibcpt_compiled_ddp2_r12", "tibcpt_compiled_1gpu_r12"
        ),
        "round 5 (clock before the GPU work): compiled vs hf compiled, ddp 2/1": [
            ratio("tibcpt_compiled_1gpu_ref", "hf_compiled_prof"),
            ratio("tibcpt_compiled_ddp2", "tibcpt_compiled_1gpu_ref"),
        ],
        "ddp 2 GPUs / 1 GPU, round-1 default (liger fused loss)": ratio(
            "tibcpt_compiled_flce_ddp2", "tibcpt_compiled_flce_1gpu_ref"
        ),
        "ddp 2 GPUs / 1 GPU, plain transformers loss": ratio(
            "tibcpt_compiled_plainloss_ddp2", "tibcpt_compiled_plainloss_1gpu_ref"
        ),
        "ddp 2 GPUs / 1 GPU, round 3: compiled loss, unaligned output matmul": ratio(
            "tibcpt_compiled_round3_ddp2", "tibcpt_compiled_round3_1gpu_ref"
        ),
        "ddp 2 GPUs / 1 GPU, round 4: aligned output matmul, batches read ahead (since reverted)": ratio(
            "tibcpt_compiled_prefetch_ddp2", "tibcpt_compiled_prefetch_1gpu_ref"
        ),
        "ddp 2 GPUs / 1 GPU, bf16 gradient all-reduce (ddp_reduce_dtype=bf16)": ratio(
            "tibcpt_compiled_ddp2_bf16reduce", "tibcpt_compiled_1gpu_ref"
        ),
        "max |loss gap| bf16 vs fp32 gradient all-reduce, 2 GPUs": max_loss_gap(
            loss("tibcpt_compiled_ddp2_bf16reduce"), loss("tibcpt_compiled_ddp2")
        ),
        "round 6, ddp 2 GPUs / 1 GPU in one call": {
            "defaults of round 5": ratio("tibcpt_compiled_ddp2_r6", "tibcpt_compiled_1gpu_r6"),
            "gc every 20 steps": ratio("tibcpt_compiled_ddp2_gc", "tibcpt_compiled_1gpu_gc"),
            "bucket view": ratio("tibcpt_compiled_ddp2_bucketview", "tibcpt_compiled_1gpu_r6"),
            "gc + bucket view": ratio("tibcpt_compiled_ddp2_gc_bucketview", "tibcpt_compiled_1gpu_gc"),
            "gc + bucket view + static graph": ratio(
                "tibcpt_compiled_ddp2_gc_bucketview_static", "tibcpt_compiled_1gpu_gc"
            ),
            "call 6b: bucket view": ratio("tibcpt_compiled_ddp2_bucketview_r6b", "tibcpt_compiled_1gpu_r6b"),
            "call 6b: bucket view, no buffer broadcast": ratio(
                "tibcpt_compiled_ddp2_bucketview_nobcast", "tibcpt_compiled_1gpu_r6b"
            ),
        },
        "round 7, ddp 2 GPUs / 1 GPU, Inductor C++ wrapper": ratio(
            "tibcpt_compiled_ddp2_cppwrap", "tibcpt_compiled_1gpu_cppwrap"
        ),
        "round 7, 1 GPU, Inductor C++ wrapper / default": ratio(
            "tibcpt_compiled_1gpu_cppwrap", "tibcpt_compiled_1gpu_r7"
        ),
        "round 7, ddp 2 GPUs / 1 GPU, default, two pairs in one call": [
            ratio("tibcpt_compiled_ddp2_r7", "tibcpt_compiled_1gpu_r7"),
            ratio("tibcpt_compiled_ddp2_r7b", "tibcpt_compiled_1gpu_r7b"),
        ],
        "round 8, ddp 2 GPUs / 1 GPU by NCCL channels (two pairs in one call)": {
            label: [
                ratio(f"tibcpt_compiled_ddp2_{k}", "tibcpt_compiled_1gpu_r8"),
                ratio(
                    f"tibcpt_compiled_ddp2_{k}b" if k == "r8" else f"tibcpt_compiled_ddp2_{k}_r8b",
                    "tibcpt_compiled_1gpu_r8b",
                ),
            ]
            for label, k in [("default", "r8"), ("2", "nch2"), ("4", "nch4"), ("8", "nch8")]
        },
        "round 10, Inductor CUDA graphs (env), 1 GPU tok/s against round 9's default (the call before), and 2 GPUs / 1": [
            ratio("tibcpt_compiled_1gpu_cg", "tibcpt_compiled_1gpu_r9"),
            ratio("tibcpt_compiled_ddp2_cg", "tibcpt_compiled_1gpu_cg"),
        ],
        "round 11, ddp 2 GPUs / 1 GPU, default and model.cuda_graphs, two pairs each": {
            v: [ratio(f"tibcpt_compiled_ddp2_{v}{s}", f"tibcpt_compiled_1gpu_{v}{s}") for s in ("", "_b")]
            for v in ("r11", "cgcfg")
        },
        "round 11b, ddp 2 GPUs / 1 GPU, each process on its own half of the cores, two pairs": [
            ratio(f"tibcpt_compiled_ddp2_pin{s}", f"tibcpt_compiled_1gpu_pin{s}") for s in ("", "_b")
        ],
        "round 11b, host CPU ms per step (profiled): 1 GPU, 2 GPUs, 2 GPUs pinned (rank 0, rank 1)": [
            r.get(k, {}).get(pk, {}).get("host_cpu_ms_per_step")
            for k, pk in [
                ("tibcpt_compiled_1gpu_r11_prof", "profile"),
                ("tibcpt_compiled_ddp2_r11_prof", "profile"),
                ("tibcpt_compiled_ddp2_r11_prof", "profile_rank1"),
                ("tibcpt_compiled_ddp2_pin_prof", "profile"),
                ("tibcpt_compiled_ddp2_pin_prof", "profile_rank1"),
            ]
        ],
        "round 11, 1 GPU model.cuda_graphs / default tok/s": [
            ratio(f"tibcpt_compiled_1gpu_cgcfg{s}", f"tibcpt_compiled_1gpu_r11{s}") for s in ("", "_b")
        ],
        "round 13 (clock after the GPU work): 1B MFU tibcpt / hf, peak GiB tibcpt / hf, cold start s": [
            r.get("tibcpt_1b_compiled_r13", {}).get("mfu_same_formula"),
            r.get("hf_1b_compiled_r13", {}).get("mfu_same_formula"),
            r.get("tibcpt_1b_compiled_r13", {}).get("peak_mem_gib"),
            r.get("hf_1b_compiled_r13", {}).get("peak_mem_gib"),
            r.get("tibcpt_first_step_cold_r13", {}).get("first_step_s"),
        ],
        "round 13, ddp 2 GPUs / 1 GPU, gradient buckets of 100 and 200 MB (against the first 1-GPU run)": [
            ratio(f"tibcpt_compiled_ddp2_bucket{mb}_r13", "tibcpt_compiled_1gpu_r13") for mb in (100, 200)
        ],
        "round 13, ddp 2 GPUs / 1 GPU, two pairs": [
            ratio(f"tibcpt_compiled_ddp2_r13{s}", f"tibcpt_compiled_1gpu_r13{s}") for s in ("", "_b")
        ],
        "round 14, ddp 2 GPUs / 1 GPU, three triples: default then, gradient bucket views": {
            v: [ratio(f"tibcpt_compiled_{p}_r14{s}", f"tibcpt_compiled_1gpu_r14{s}") for s in ("", "_b", "_c")]
            for v, p in (("default then (no bucket views)", "ddp2"), ("bucket views", "ddp2_bucketview"))
        },
        "round 14, a DDP rank with bucket views: kernels in 5 profiled steps, host CPU ms per step (rank 0, rank 1)": [
            r.get("tibcpt_compiled_ddp2_bucketview_prof_r14", {}).get(pk, {}).get(k)
            for pk in ("profile", "profile_rank1")
            for k in ("kernels", "host_cpu_ms_per_step")
        ],
        "round 15, ddp 2 GPUs / 1 GPU: default (bucket views) three pairs, bucket views off two": {
            "default": [
                ratio(f"tibcpt_compiled_ddp2_r15{s}", f"tibcpt_compiled_1gpu_r15{s}") for s in ("", "_b", "_c")
            ],
            "bucket views off": [
                ratio(f"tibcpt_compiled_ddp2_nobucketview_r15{s}", f"tibcpt_compiled_1gpu_r15{s}") for s in ("", "_b")
            ],
        },
        "round 16, cold start s (fresh compile cache, evaluation at start; target <= 30)": r.get(
            "tibcpt_first_step_cold_r16", {}
        ).get("first_step_s"),
        "round 17, ddp 2 GPUs / 1 GPU (against each 1-GPU run): default, bf16 all-reduce, NCCL high priority": {
            name: [ratio(f"tibcpt_compiled_ddp2{v}_r17", f"tibcpt_compiled_1gpu_r17{s}") for s in ("", "_b")]
            for name, v in (("default", ""), ("bf16 all-reduce", "_bf16reduce"), ("NCCL high priority", "_ncclhigh"))
        },
        "round 12, ddp 2 GPUs / 1 GPU, CUDA graphs + gc 20 + bucket view + static graph": ratio(
            "tibcpt_compiled_ddp2_cg_all", "tibcpt_compiled_1gpu_cg_all"
        ),
        "round 12, logging every step: tok/s with the clock before / after the GPU work (two calls)": [
            r.get("tibcpt_compiled_1gpu_log1", {}).get("tokens_per_s"),
            r.get("tibcpt_compiled_1gpu_log1_r12", {}).get("tokens_per_s"),
        ],
        "round 12, max |loss gap| of single steps, 1-50: default vs default, each CUDA graphs run vs default": [
            max_loss_gap(loss("tibcpt_compiled_1gpu_log1"), loss("tibcpt_compiled_1gpu_log1_r12")),
            *[
                max_loss_gap(loss(f"tibcpt_compiled_1gpu_cgcfg_log1{s}"), loss("tibcpt_compiled_1gpu_log1"))
                for s in ("", "_b", "_c")
            ],
        ],
        "max |loss gap| CUDA graphs vs eager (liger set), 1 GPU, 50 steps (target <= 0.01)": {
            k: max_loss_gap(loss(k), loss("tibcpt_eager"))
            for k in ("tibcpt_compiled_1gpu_cg", "tibcpt_compiled_1gpu_cgcfg", "tibcpt_compiled_1gpu_cgcfg_b")
            if loss(k)
        },
        "round 6, max |loss gap| against the round-5 defaults on 2 GPUs": {
            k: max_loss_gap(loss(k), loss("tibcpt_compiled_ddp2_r6"))
            for k in r
            if k.startswith("tibcpt_compiled_ddp2_") and k != "tibcpt_compiled_ddp2_r6" and loss(k)
        },
        "1b_mfu (target >= 0.45)": r.get("tibcpt_1b_compiled", {}).get("mfu_same_formula"),
        "1b_mfu_hf_compiled": r.get("hf_1b_compiled", {}).get("mfu_same_formula"),
        "1b_peak_mem_gib tibcpt / hf (target <=)": [
            r.get("tibcpt_1b_compiled", {}).get("peak_mem_gib"),
            r.get("hf_1b_compiled", {}).get("peak_mem_gib"),
        ],
        "first_step_s cold cache, eval at start (target <= 30)": {
            k: r[k].get("first_step_s")
            for k in (
                "tibcpt_first_step_cold",
                "tibcpt_first_step_cold_plainloss",
                "tibcpt_first_step_cold_flce_round1",
            )
            if k in r
        },
        "first_step_s hf_compiled": r.get("hf_compiled_prof", {}).get("first_step_s"),
        "recompiles in tibcpt runs": sum(v.get("recompiles", 0) for k, v in r.items() if k.startswith("tibcpt")),
        "max |loss gap| compiled vs eager, same kernels, 50 steps (target <= 0.01)": max_loss_gap(
            loss("tibcpt_compiled_flce_round1"), loss("tibcpt_eager_flce_set_round1")
        ),
        "max |loss gap| compiled (new default) vs plain PyTorch eager, 50 steps": max_loss_gap(
            loss("tibcpt_closs_prof"), loss("tibcpt_eager_plain")
        ),
        "max |loss gap| compiled (default) vs eager (liger set), 50 steps (target <= 0.01)": max_loss_gap(
            loss("tibcpt_compiled"), loss("tibcpt_eager")
        ),
        # Every 1-GPU run of the compiled default (rounds 4-6, same config) against the eager run, and
        # against each other: the compiled path's run-to-run spread is as large as its gap to eager.
        "max |loss gap| each compiled default run vs eager (liger set), 50 steps": {
            k: max_loss_gap(loss(k), loss("tibcpt_eager")) for k in COMPILED_DEFAULT_1GPU if loss(k)
        },
        "max |loss gap| between compiled default runs (run-to-run spread), 50 steps": max(
            (
                g
                for i, a in enumerate(COMPILED_DEFAULT_1GPU)
                for b in COMPILED_DEFAULT_1GPU[i + 1 :]
                if (g := max_loss_gap(loss(a), loss(b))) is not None
            ),
            default=None,
        ),
        "max |loss gap| HF compiled vs HF eager": max_loss_gap(loss("hf_compiled_prof"), loss("hf_eager")),
        "max |loss gap| fp16 eager (liger set, no loss kernel) vs fp16 plain eager, 30 steps": max_loss_gap(
            loss("tibcpt_fp16_eager"), loss("tibcpt_fp16_eager_plain")
        ),
        "max |loss gap| fp16 compiled vs fp16 plain eager, 30 steps": max_loss_gap(
            loss("tibcpt_fp16_compiled"), loss("tibcpt_fp16_eager_plain")
        ),
        "profiles, ms per step by category": {
            k: v["profile"]["ms_per_step_by_category"] for k, v in r.items() if "profile" in v
        },
    }
    return out


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
