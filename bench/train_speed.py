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
from bench_proc import launch, merge_results, read_train_log
from train_speed_runs import BATCH, LR, RUNS, SEQ, SHAPES, WARMUP
from train_speed_summary import summarize

from tibcpt.io import write_json_atomic

REPO = Path(__file__).resolve().parents[1]


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
        # fp16 needs CUDA (the trainer refuses it on a CPU in one line), compile is too slow here
        smoke_ok = [r for r in wanted if not r.get("compile") and r.get("precision") != "fp16"]
        wanted = [dict(r, shape="tiny", steps=4, log=1, warm=2, stop=None) for r in smoke_ok]
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
            # bench/pin/sitecustomize.py binds each rank to its block of cores (`pin`) and can put a
            # no-op communication hook on torch DDP (`ddp_hook="noop"`: headroom without all-reduces)
            if run.get("pin") or run.get("ddp_hook"):
                path = [str(REPO / "bench" / "pin"), env.get("PYTHONPATH", "")]
                run_env.update(
                    PYTHONPATH=os.pathsep.join(p for p in path if p),
                    TIBCPT_BENCH_PIN=str(run.get("pin", 0)),
                    TIBCPT_BENCH_DDP_HOOK=run.get("ddp_hook", ""),
                )
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


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
