"""The summary of bench/results/train_speed.json: issue 11's targets and every round's comparisons,
computed from the runs present (bench/train_speed.py writes it after each run and on --merge)."""

from __future__ import annotations

from bench_proc import max_loss_gap

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

    def summed_ratio(parts: list[str], b: str):
        """The runs' summed tokens/s (made at the same time, one per GPU) over run b's."""
        toks = [r.get(n, {}).get("tokens_per_s") for n in (*parts, b)]
        return round(sum(toks[:-1]) / toks[-1], 3) if all(toks) else None

    def pairs(ddp: str, one: str, suffixes=("", "_b")) -> list:
        """tibcpt_compiled_ddp2{ddp}{s} over tibcpt_compiled_1gpu{one}{s}: a round's pairs run side by side."""
        return [ratio(f"tibcpt_compiled_ddp2{ddp}{s}", f"tibcpt_compiled_1gpu{one}{s}") for s in suffixes]

    def loss(name: str) -> dict:
        return r.get(name, {}).get("losses", {})

    out = {
        # Round 12b ran tibcpt_eager, hf_eager, hf_compiled and the r12 pairs in one call, the first
        # with training/train.py reading an interval's clock after its GPU work (every tibcpt figure
        # before it read the clock first; the HF callback always synchronised).
        "eager_vs_hf_eager (target >= 1.5)": ratio("tibcpt_eager", "hf_eager"),
        "compiled_vs_hf_compiled (target >= 1.3)": ratio("tibcpt_compiled_1gpu_r12", "hf_compiled"),
        "ddp 2 GPUs / 1 GPU, default config with bucket views, rounds 14, 15, 17-21 (target >= 1.9)": [
            *[
                ratio(f"tibcpt_compiled_ddp2_bucketview_r14{s}", f"tibcpt_compiled_1gpu_r14{s}")
                for s in ("", "_b", "_c")
            ],
            *[ratio(f"tibcpt_compiled_ddp2_r15{s}", f"tibcpt_compiled_1gpu_r15{s}") for s in ("", "_b", "_c")],
            *[ratio("tibcpt_compiled_ddp2_r17", f"tibcpt_compiled_1gpu_r17{s}") for s in ("", "_b")],
            *pairs("_r18", "_r18", ("", "_b", "_c")),
            *pairs("_r19", "_r19"),
            *pairs("_r20", "_r20", ("", "_b", "_c")),
            *pairs("_r21", "_r21"),
        ],
        "ddp 2 GPUs / 1 GPU, default config before round 14 (round 12b)": ratio(
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
        "round 18, ddp 2 GPUs / 1 GPU, three rounds: default, one 1 GB bucket (no overlap), NCCL high priority": {
            name: pairs(f"{v}_r18", "_r18", ("", "_b", "_c"))
            for name, v in (("default", ""), ("1 GB bucket", "_bucket1024"), ("NCCL high priority", "_ncclhigh"))
        },
        "round 19, headroom, 2 GPUs / 1 GPU (two rounds): DDP, DDP with the no-op hook, two independent processes": {
            "ddp": pairs("_r19", "_r19"),
            "ddp, no-op communication hook": pairs("_noop_r19", "_r19"),
            "two independent 1-GPU processes at once (sum)": [
                summed_ratio([f"tibcpt_compiled_1gpu_conc{g}_r19{s}" for g in (0, 1)], f"tibcpt_compiled_1gpu_r19{s}")
                for s in ("", "_b")
            ],
        },
        "round 20, three rounds: ddp 2/1 default, ddp 2/1 both with gc_interval_steps=20, 1 GPU gc 20 / default": {
            "default": pairs("_r20", "_r20", ("", "_b", "_c")),
            "gc 20": pairs("_gc20_r20", "_gc20_r20", ("", "_b", "_c")),
            "1 GPU gc 20 / default": [
                ratio(f"tibcpt_compiled_1gpu_gc20_r20{s}", f"tibcpt_compiled_1gpu_r20{s}") for s in ("", "_b", "_c")
            ],
        },
        "round 21, ddp 2 GPUs / 1 GPU, two rounds: default, no per-forward buffer broadcast": {
            name: pairs(f"{v}_r21", "_r21")
            for name, v in (("default", ""), ("ddp_broadcast_buffers=false", "_nobcast"))
        },
        "round 22, ddp 2 GPUs / 1 GPU over 280 measured steps (one pair)": ratio(
            "tibcpt_compiled_ddp2_long_r22", "tibcpt_compiled_1gpu_long_r22"
        ),
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
