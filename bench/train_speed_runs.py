"""The runs of bench/train_speed.py (issue 11): model shapes, batch, and every run of every device round.

Each device round added its runs at the end with a comment saying why; a run's name never changes
meaning once measured (bench/results/train_speed.json keeps every run under its name, with the call
that made it). `R` fills the defaults of one run.
"""

from __future__ import annotations

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


def C(name, **kw):
    """A tibcpt compiled run measured over steps 11-50 that ends after step 50, the shape of every
    1-GPU / DDP pair since round 11; two processes when its name says `_ddp2`."""
    run = {"steps": 60, "end": 50, "compile": True, "stop": 50, **({"procs": 2} if "_ddp2" in name else {})}
    return R(name, "tibcpt", **{**run, **kw})


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
    *[C(f"tibcpt_compiled_{p}_{v}{s}", extra=["model.cuda_graphs=true"] if v == "cgcfg" else [])
      for s in ("", "_b") for v in ("r11", "cgcfg") for p in ("1gpu", "ddp2")],
    # Round 11b: round 7's host CPU per matmul call was 31 us on one GPU, 39-40 us on each DDP rank.
    # Each process bound to its own half of the physical cores (bench/pin/sitecustomize.py), the
    # 1-GPU run to one half too; and both ranks profiled with it.
    *[C(f"tibcpt_compiled_{p}_pin{s}", pin=2) for s in ("", "_b") for p in ("1gpu", "ddp2")],
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
    *[C(f"tibcpt_compiled_{p}_r13{s}") for s in ("", "_b") for p in ("1gpu", "ddp2")],
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
    *[C(f"tibcpt_compiled_{p}_r14{s}", extra=["ddp_gradient_as_bucket_view=true"] if p == "ddp2_bucketview" else [])
      for s in ("", "_b", "_c") for p in ("1gpu", "ddp2", "ddp2_bucketview")],
    R("tibcpt_compiled_ddp2_bucketview_prof_r14", "tibcpt", steps=60, end=50, compile=True, procs=2,
      profile=(50, 5), extra=["ddp_gradient_as_bucket_view=true"]),
    # Round 15 (bench/gpu_round15.sh): bucket views are the default now; three more pairs with the
    # default config, and two runs with them off again.
    *[C(f"tibcpt_compiled_{p}_r15{s}", extra=["ddp_gradient_as_bucket_view=false"] if p == "ddp2_nobucketview" else [])
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
    # Round 18 (bench/gpu_round18.sh): the overlap itself costs more than it hides. NVLink moves the
    # 540 MB of fp32 gradients in about 1.5 ms, while round 14's profile has each rank's matmuls
    # 5 ms per step slower beside the overlapping all-reduces. One 1 GB bucket defers the
    # all-reduce to the end of the backward pass (torch DDP keeps its small first bucket). Against
    # the default and NCCL high-priority streams (round 17: +7.6 %, one run), three interleaved rounds.
    *[C(f"tibcpt_compiled_{p}_r18{s}", extra=["ddp_bucket_cap_mb=1024"] if "bucket1024" in p else [],
        env={"TORCH_NCCL_HIGH_PRIORITY": "1"} if "ncclhigh" in p else {})
      for s in ("", "_b", "_c") for p in ("1gpu", "ddp2", "ddp2_bucket1024", "ddp2_ncclhigh")],
    # Round 19 (bench/gpu_round19.sh): round 18 had the default, one 1 GB bucket (no overlap) and NCCL
    # high priority all at 1.87x, so neither the overlap nor the all-reduce's length sets the cost.
    # Headroom: DDP with torch's no-op communication hook (reducer and buckets, no all-reduce), and two
    # independent 1-GPU processes at once, one per GPU (what sharing the host costs without DDP).
    *[C(f"tibcpt_compiled_{p}_r19{s}", **({"ddp_hook": "noop"} if "noop" in p else {}))
      for s in ("", "_b") for p in ("1gpu", "ddp2", "ddp2_noop")],
    *[C(f"tibcpt_compiled_1gpu_conc{g}_r19{s}") for s in ("", "_b") for g in (0, 1)],
    # Round 20 (bench/gpu_round20.sh): round 19's headroom. Two independent 1-GPU processes at once
    # reach 2.01x and 1.99x, DDP with the no-op hook 1.99x and 1.89x, DDP 1.79x and 1.87x; within a
    # DDP run the 5-step intervals swing by 10 % (a stall on either rank stalls both). Python's
    # garbage collection on a step schedule (gc_interval_steps, torchtitan's gc_freq; round 6 measured
    # it with the old clock only) on 1 and 2 GPUs, three interleaved rounds.
    *[C(f"tibcpt_compiled_{p}_r20{s}", extra=["gc_interval_steps=20"] if "gc20" in p else [])
      for s in ("", "_b", "_c") for p in ("1gpu", "1gpu_gc20", "ddp2", "ddp2_gc20")],
    # Round 21 (bench/gpu_round21.sh): round 20 had the GC schedule slower on 2 GPUs (1.81x against
    # 1.88x). DDP broadcasts the model's buffers (the rotary inv_freq, the same on every rank) at each
    # forward: one more point where the ranks wait for each other. Without it, two rounds.
    *[C(f"tibcpt_compiled_{p}_r21{s}", extra=["ddp_broadcast_buffers=false"] if "nobcast" in p else [])
      for s in ("", "_b") for p in ("1gpu", "ddp2", "ddp2_nobcast")],
    # Round 22 (bench/gpu_round22.sh): every DDP pair so far measured 40 steps (about 4 s). One pair
    # over 280 steps (about 30 s), the window closer to what a long run sees.
    *[C(f"tibcpt_compiled_{p}_long_r22", steps=310, log=10, warm=20, end=300, stop=300) for p in ("1gpu", "ddp2")],
    R("tibcpt_compiled_1gpu_cg_all", "tibcpt", steps=60, end=50, compile=True, stop=50,
      extra=["model.cuda_graphs=true", "gc_interval_steps=20"]),
    R("tibcpt_compiled_ddp2_cg_all", "tibcpt", steps=60, end=50, compile=True, procs=2, stop=50,
      extra=["model.cuda_graphs=true", "gc_interval_steps=20", "ddp_gradient_as_bucket_view=true",
             "ddp_static_graph=true"]),
]  # fmt: skip
