"""tibcpt's trainer against the HF Trainer at the seed's scale: the Llama-2-7B shape on 2 GPUs with FSDP (issue 11).

Both frameworks shard the same model with FSDP (v1, FULL_SHARD, one unit per LlamaDecoderLayer,
use_orig_params, bf16 mixed precision over fp32 master weights) on the same two GPUs, with the same
micro-batch, accumulation, optimizer (fused AdamW, no weight decay, clip 1.0) and data (tibcpt pack
shards, Llama-2 tokenizer extended with Tibetan pieces). Two recipes: full fine-tuning (activation
checkpointing, HF's own non-reentrant checkpointing in both) and the seed's freeze recipe (last 2
decoder layers + embed_tokens + lm_head train; no checkpointing needed). A resume check: the
tibcpt freeze run saves a checkpoint at step SAVE_AT and runs on; a second invocation resumes from
that checkpoint and must log the same losses at the same steps.

    python bench/train_fsdp.py --shards .fsdp/shards --out $OUT/train_fsdp.json [--runs a,b] [--smoke]

Weights are random (FLOPs, memory and communication do not depend on them). Throughput leaves out
the first WARM steps (tibcpt: its train_log.jsonl, one record per step, the interval holding a
checkpoint save left out; HF (bench/train_fsdp_hf.py, torchrun): a callback that synchronises the GPU at steps WARM and last). Peak
memory is torch.cuda.max_memory_allocated, the max over both ranks. MFU: tibcpt's formula
(metrics.flops_per_token = 6N + 12·L·H·Q·T over the H200's dense bf16 peak, times 2 GPUs) for both;
for the freeze recipe 6N counts weight gradients that are not computed, so it overstates the work.
Every run has a timeout; results are rewritten after each run, and runs that would not fit in
--deadline are recorded as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import llama_params  # bench/ is this script's folder, so on sys.path
from bench_proc import launch, max_loss_gap, merge_results, read_train_log

from tibcpt.io import write_json_atomic

REPO = Path(__file__).resolve().parents[1]
SHAPES = {
    "llama2-7b": dict(  # meta-llama/Llama-2-7b-hf's config.json; vocab_size = the extended tokenizer's
        hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=32, head_dim=128, tie_word_embeddings=False, rms_norm_eps=1e-5,
        max_position_embeddings=4096, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    ),
    "tiny": dict(  # --smoke on a CPU: checks the plumbing, measures nothing
        hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=4, head_dim=16, tie_word_embeddings=False, rms_norm_eps=1e-5,
        max_position_embeddings=2048, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    ),
}  # fmt: skip
MICRO, ACCUM, WORLD, SEQ = 4, 2, 2, 2048  # 4 x 2048 per GPU x 2 accumulation x 2 GPUs = 32,768 tokens a step
SMOKE_MICRO = 1  # a CPU: 4 x 2048 x 51,691 fp32 logits alone are 1.7 GB
LR, WARMUP, SAVE_AT = 2e-4, 2, 6
FSDP_YAML = REPO / "configs/accelerate/fsdp.yaml"


def R(name, fw, ft, gc, steps=10, warm=3, **kw):
    return {
        "name": name,
        "fw": fw,
        "ft": ft,
        "gc": gc,
        "steps": steps,
        "warm": warm,
        "micro": MICRO,
        "accum": ACCUM,
        **kw,
    }


RUNS = [
    R("tibcpt_full", "tibcpt", "full", True),
    R("hf_full", "hf", "full", True),
    # the uninterrupted reference: saves at SAVE_AT, runs to 11; the resumed run continues from SAVE_AT
    R("tibcpt_freeze", "tibcpt", "freeze", False, steps=11, save=SAVE_AT),
    R("tibcpt_freeze_resumed", "tibcpt", "freeze", False, steps=11, warm=SAVE_AT + 1, resume="tibcpt_freeze"),
    R("hf_freeze", "hf", "freeze", False),
    # a second uninterrupted run: the GPU's run-to-run spread, against which the resume gap is read
    # (round 3: resumed step 7 matched to 4 digits, steps 8-11 differed by up to 0.051)
    R("tibcpt_freeze_repeat", "tibcpt", "freeze", False, steps=11, warm=SAVE_AT + 1),
    # Round 7: the same resume check for full fine-tuning (checkpoint: 7B fp32 weights + Adam, ~84 GB)
    R("tibcpt_full_ckpt", "tibcpt", "full", True, steps=11, save=SAVE_AT),
    R("tibcpt_full_resumed", "tibcpt", "full", True, steps=11, warm=SAVE_AT + 1, resume="tibcpt_full_ckpt"),
    # Round 13: both pairs again after training/train.py reads an interval's clock after its GPU
    # work (every tibcpt figure before read it first; the HF callback always synchronised).
    *[R(f"{fw}_{ft}_r13", fw, ft, ft == "full") for ft in ("full", "freeze") for fw in ("tibcpt", "hf")],
]


def make_model(shape: str, vocab: int, folder: str) -> None:
    """A random model of `shape` initialised on the GPU in bf16 and saved as bf16 safetensors."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    cfg = LlamaConfig(**SHAPES[shape], vocab_size=vocab, bos_token_id=1, eos_token_id=2)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    tmp = Path(folder + ".tmp")
    model.save_pretrained(tmp, safe_serialization=True)
    tmp.rename(folder)  # a half-written model is never taken for a finished one


def tibcpt_args(run: dict, model: Path, shards: str, out: Path, work: Path, smoke: bool) -> list[str]:
    sets = [
        f"model.model_name_or_path={model}", f"model.finetuning_type={run['ft']}",
        f"model.gradient_checkpointing={str(run['gc']).lower()}", "model.kernels=none", "model.compile=false",
        f"data.shards={shards}", "data.replay_shards=null", "data.replay_ratio=0", "data.eval_max_sequences=8",
        f"optim.learning_rate={LR}", f"optim.warmup_steps={WARMUP}", "optim.lr_scheduler_type=cosine",
        f"output_dir={out}", f"per_device_train_batch_size={run['micro']}", "per_device_eval_batch_size=4",
        f"gradient_accumulation_steps={run['accum']}", f"max_steps={run['steps']}",
        f"mixed_precision={'no' if smoke else 'bf16'}", "logging_steps=1", "eval_steps=0",
        f"save_steps={run.get('save', 0)}", "save_total_limit=1", "tensorboard=false", "eval_at_start=false",
        "seed=42",
    ]  # fmt: skip
    if (
        run["ft"] == "freeze"
    ):  # the seed's recipe trains the embeddings; here no resize happens (vocab already extended)
        sets.append("model.freeze_train_embeddings=true")
    if run.get("resume"):
        sets.append(f"resume_from_checkpoint={work / 'runs' / run['resume'] / 'checkpoints' / f'step-{SAVE_AT:07d}'}")
    return ["--config", str(REPO / "configs/train/smollm2-135m.yaml"), *sets]


def tibcpt_result(run: dict, out: Path, world: int) -> dict:
    """Per-step records: throughput over steps after `warm` (the interval holding a save left out)."""
    train = read_train_log(out)
    tok_step = run["micro"] * run["accum"] * world * SEQ
    pairs = [
        (p, r) for p, r in zip(train, train[1:]) if p["step"] >= run["warm"] and p["step"] != run.get("save")
    ]  # fmt: skip
    steps = sum(r["step"] - p["step"] for p, r in pairs)
    secs = sum((r["step"] - p["step"]) * tok_step / r["tokens_per_s"] for p, r in pairs)
    res = {
        "tokens_per_s": round(steps * tok_step / secs) if pairs else None,
        "peak_mem_gib": max((r["peak_mem_gib"] for r in train if r.get("peak_mem_gib")), default=None),
        "losses": {str(r["step"]): round(r["loss"], 5) for r in train},
        "measured_steps": steps,
        "first_logged_step": train[0]["step"] if train else None,
    }
    if run.get("save") and len(train) > run["save"]:  # the interval holding the save, as seconds
        rec = next(r for r in train if r["step"] == run["save"] + 1)
        res["interval_with_save_s"] = round(tok_step / rec["tokens_per_s"], 1)
    return res


def n_params(shape: str, vocab: int) -> int:
    return llama_params.n_params(SHAPES[shape], vocab)


def mfu_of(shape: str, vocab: int, tok_s: float | None, gpu: str | None, world: int) -> float | None:
    from tibcpt.training.metrics import flops_per_token, mfu, peak_flops

    c = SHAPES[shape]
    f = flops_per_token(n_params(shape, vocab), c["num_hidden_layers"], c["num_attention_heads"], c["head_dim"], SEQ)
    m = mfu(tok_s, f, peak_flops(gpu), world) if tok_s else None
    return round(m, 4) if m is not None else None


def gpu_name() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True)
        return out.stdout.decode().splitlines()[0].strip() or None
    except (OSError, IndexError):
        return None


def summarize(runs: dict) -> dict:
    ok = {k: v for k, v in runs.items() if v.get("rc") == 0 and "error" not in v}

    def pair(key: str, a: str, b: str):
        return [ok.get(a, {}).get(key), ok.get(b, {}).get(key)]

    def ratio(a: str, b: str):
        ta, tb = pair("tokens_per_s", a, b)
        return round(ta / tb, 3) if ta and tb else None

    def losses(name: str) -> dict:
        return ok.get(name, {}).get("losses", {})

    def gap(a: str, b: str) -> float | None:
        return max_loss_gap(losses(a), losses(b), digits=5)

    # Round 6 (after the optimizer-state fix) ran freeze and its resume in one call; round 5 ran the
    # freeze twice (run-to-run spread) and resumed before the fix; round 3's runs are the HF pair.
    ref, resumed = ("tibcpt_freeze_r6", "tibcpt_freeze_resumed_r6")
    if ref not in ok:
        ref, resumed = "tibcpt_freeze", "tibcpt_freeze_resumed"
    res = losses(resumed)
    return {
        "full: tokens/s tibcpt / hf": pair("tokens_per_s", "tibcpt_full", "hf_full"),
        "full: speed ratio tibcpt / hf": ratio("tibcpt_full", "hf_full"),
        "full: peak GiB (max over ranks) tibcpt / hf": pair("peak_mem_gib", "tibcpt_full", "hf_full"),
        "full: MFU tibcpt / hf": pair("mfu_same_formula", "tibcpt_full", "hf_full"),
        "freeze: tokens/s tibcpt / hf": pair("tokens_per_s", "tibcpt_freeze", "hf_freeze"),
        "freeze: speed ratio tibcpt / hf": ratio("tibcpt_freeze", "hf_freeze"),
        "freeze: peak GiB (max over ranks) tibcpt / hf": pair("peak_mem_gib", "tibcpt_freeze", "hf_freeze"),
        "resume: first logged step (expected)": [min(map(int, res)) if res else None, SAVE_AT + 1],
        "resume: steps compared": sorted(int(k) for k in set(res) & set(losses(ref))),
        "resume: max |loss gap| vs uninterrupted": gap(ref, resumed),
        "resume before the optimizer-state fix (round 5): max |loss gap|": gap(
            "tibcpt_freeze_round5", "tibcpt_freeze_resumed_round5"
        ),
        "round 13 (clock after the GPU work): full, freeze: tokens/s ratio tibcpt / hf": [
            ratio("tibcpt_full_r13", "hf_full_r13"),
            ratio("tibcpt_freeze_r13", "hf_freeze_r13"),
        ],
        "full fine-tuning resume: max |loss gap| vs uninterrupted": gap("tibcpt_full_ckpt", "tibcpt_full_resumed"),
        "repeat: max |loss gap| of two uninterrupted runs (round 5)": gap(
            "tibcpt_freeze_round5", "tibcpt_freeze_repeat"
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shards", help="token shard folder (tibcpt pack, Llama-2-extended tokenizer, seq_len 2048)")
    ap.add_argument("--work", default="/tmp/train-fsdp", help="scratch on local disk: model, runs, checkpoints")
    ap.add_argument("--out", required=True, help="results JSON (merged with what is already there)")
    ap.add_argument("--runs", default="", help="comma-separated run names (default: all, in order)")
    ap.add_argument("--timeout", type=float, default=200, help="seconds per run")
    ap.add_argument("--deadline", type=float, default=480, help="seconds for everything; later runs are skipped")
    ap.add_argument("--smoke", action="store_true", help="tiny shape, one CPU process, no FSDP: checks the plumbing")
    ap.add_argument("--merge", nargs="*", help="only merge these results JSONs into --out")
    a = ap.parse_args()
    t_start = time.time()
    out_path = Path(a.out)
    if a.merge is not None:
        return print(json.dumps(merge_results(out_path, a.merge, lambda r: summarize(r["runs"])), indent=1))
    results = json.loads(out_path.read_text()) if out_path.is_file() else {}
    results.setdefault("runs", {})
    if not a.shards:
        raise SystemExit("--shards is required")
    import torch
    import transformers
    from transformers import AutoTokenizer

    shape, world = ("tiny", 1) if a.smoke else ("llama2-7b", WORLD)
    manifest = json.loads(Path(a.shards, "manifest.json").read_text())
    vocab = max(manifest["vocab_size"], len(AutoTokenizer.from_pretrained(Path(a.shards, "tokenizer"))))
    names = a.runs.split(",") if a.runs else [r["name"] for r in RUNS]
    unknown = set(names) - {r["name"] for r in RUNS}
    if unknown:
        raise SystemExit(f"--runs: unknown {sorted(unknown)}")
    wanted = [r for n in names for r in RUNS if r["name"] == n]
    if a.smoke:  # shorter: save at SAVE_AT still, 2 steps after it
        wanted = [dict(r, steps=SAVE_AT + 2, warm=min(r["warm"], SAVE_AT + 1), micro=SMOKE_MICRO) for r in wanted]
    work = Path(a.work)
    (work / "runs").mkdir(parents=True, exist_ok=True)
    gpu = gpu_name() if torch.cuda.is_available() else None
    import accelerate

    results["setup"] = {
        "gpu": f"{world} x {gpu}" if gpu else "cpu (smoke: 1 process, no FSDP)",
        "torch": torch.__version__, "transformers": transformers.__version__, "accelerate": accelerate.__version__,
        "shape": f"{shape} {SHAPES[shape]}, vocab {vocab}, {n_params(shape, vocab) / 1e9:.3f}B parameters, random",
        "batch": f"{wanted[0]['micro'] if wanted else MICRO} x {SEQ} per GPU x {ACCUM} accumulation x {world} GPUs",
        "fsdp": "v1 FULL_SHARD, LlamaDecoderLayer units, use_orig_params, bf16 params/reduce, fp32 master",
        "data": f"{a.shards}: tibcpt pack shards (Llama-2 tokenizer extended with Tibetan pieces)",
        "script": "bench/train_fsdp.py",
    }  # fmt: skip
    model = work / f"model-{shape}"
    if not (model / "config.json").is_file():
        t0 = time.time()
        code = f"import sys; sys.path.insert(0, {str(REPO / 'bench')!r}); import train_fsdp as b; "
        code += f"b.make_model({shape!r}, {vocab}, {str(model)!r})"
        try:
            subprocess.run([sys.executable, "-c", code], check=True, timeout=240, cwd=REPO)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
            results["setup"]["error"] = f"making the model failed: {err}"
            write_json_atomic(out_path, results)
            raise SystemExit(results["setup"]["error"]) from None
        results["setup"]["make_model_s"] = round(time.time() - t0, 1)
        print(f"made {model} in {time.time() - t0:.0f}s", flush=True)
    for run in wanted:
        left = a.deadline - (time.time() - t_start)
        if left < 60:
            results["runs"][run["name"]] = {
                "spec": run,
                "rc": None,
                "error": f"skipped: {left:.0f}s left of --deadline",
            }
            print(f"{run['name']:<24} skipped ({left:.0f}s left)", flush=True)
            continue
        out = work / "runs" / run["name"]
        shutil.rmtree(out, ignore_errors=True)  # this script's own scratch run folder
        out.mkdir(parents=True)
        log_path = work / f"{run['name']}.log"
        t0 = time.time()
        env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
        if run["fw"] == "tibcpt":
            args = tibcpt_args(run, model, a.shards, out, work, a.smoke)
            # train_log's peak_mem_gib is the fullest rank's (training/metrics.peak_memory_all_ranks)
            me = ["-m", "tibcpt.training.train", *args]
            launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(FSDP_YAML)]
            cmd = [sys.executable, *me] if a.smoke else [*launcher, "--num_processes", str(world), *me]
            rc, _, wall = launch(cmd, env, log_path, out, run["steps"], min(a.timeout, left))
        else:
            spec = dict(run, model=str(model), shards=a.shards, out=str(out), result=str(out / "r.json"), t0=t0)
            me = [str(REPO / "bench/train_fsdp_hf.py"), json.dumps(spec)]
            torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={world}"]
            cmd = [sys.executable, *me] if a.smoke else [*torchrun, *me]
            rc, _, wall = launch(cmd, env, log_path, None, None, min(a.timeout, left))
        text = log_path.read_text(errors="replace")
        res: dict = {"rc": rc, "wall_s": round(wall, 1)}
        try:
            if run["fw"] == "tibcpt":
                res.update(tibcpt_result(run, out, world))
                res["resumed_line"] = next((x[-160:] for x in text.splitlines() if "resumed from" in x), None)
                res["trainable_line"] = next((x[-60:] for x in text.splitlines() if "parameters train" in x), None)
                ck = out / "checkpoints"
                if ck.is_dir():
                    size = subprocess.run(["du", "-sb", str(ck)], capture_output=True, text=True).stdout.split()[0]
                    res["checkpoint_gib"] = round(int(size) / 2**30, 2)
            else:
                ranks = [json.loads(Path(f"{out / 'r.json'}.{r}").read_text()) for r in range(world)]
                res.update(ranks[0], peak_mem_gib=max(r["peak_mem_gib"] or 0 for r in ranks) or None)
                res["peak_mem_gib_per_rank"] = [r["peak_mem_gib"] for r in ranks]
            res["mfu_same_formula"] = mfu_of(shape, vocab, res["tokens_per_s"], gpu, world)
            if not res["losses"]:
                raise ValueError("no training step was logged")
        except (OSError, ValueError, KeyError, ZeroDivisionError, IndexError, TypeError, StopIteration) as err:
            res["error"] = f"{type(err).__name__}: {err}"
        if "error" in res or rc != 0:
            res["log_tail"] = text[-4000:]
        results["runs"][run["name"]] = {"spec": run, **res}
        results["summary"] = summarize(results["runs"])
        write_json_atomic(out_path, results)
        short = {k: res.get(k) for k in ("rc", "wall_s", "tokens_per_s", "mfu_same_formula", "peak_mem_gib")}
        print(f"{run['name']:<24} {short} {res.get('error', '')}", flush=True)
        if "log_tail" in res:
            print(res["log_tail"][-2500:], flush=True)
    print(json.dumps(results.get("summary"), indent=1), flush=True)


if __name__ == "__main__":
    main()
