"""Throughput, MFU, memory, and the run's logs: one line per interval, JSONL, TensorBoard, report.

MFU follows nanoGPT / PaLM (Chowdhury et al. 2022, appendix B): training FLOPs per token =
6·N (forward + backward of the matrices) + 12·L·H·Q·T (attention scores and values), compared with
the accelerator's dense bf16/fp16 tensor-core peak.
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any

import torch

from tibcpt.io import atomic_path, write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

# Dense (no sparsity) bf16/fp16 tensor-core peak FLOP/s from the vendors' datasheets.
# Matched as substrings of torch.cuda.get_device_name(), most specific first.
PEAK_FLOPS: list[tuple[str, float]] = [
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),  # SXM
    ("H800", 989e12),
    ("GH200", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
    ("A6000", 155e12),
    ("A10G", 70e12),  # AWS A10G is clocked lower than the A10
    ("A10", 125e12),
    ("RTX 4090", 165e12),
    ("RTX 3090", 71e12),
    ("V100", 125e12),  # fp16 only: no bf16 on Volta
    ("T4", 65e12),
]


def peak_flops(device_name: str | None) -> float | None:
    """Peak FLOP/s for a CUDA device name, or None (CPU / unknown: MFU is not reported)."""
    if not device_name:
        return None
    for key, flops in PEAK_FLOPS:
        if key in device_name:
            return flops
    return None


def flops_per_token(n_params: int, n_layers: int, n_heads: int, head_dim: int, seq_len: int) -> float:
    """Training FLOPs per token: 6N + 12·L·H·Q·T (nanoGPT's estimate_mfu)."""
    return 6 * n_params + 12 * n_layers * n_heads * head_dim * seq_len


def mfu(tokens_per_s: float, flops_tok: float, peak: float | None, world: int = 1) -> float | None:
    """Model FLOPs utilisation in [0, 1] over all `world` devices, None when the peak is unknown."""
    if not peak:
        return None
    return tokens_per_s * flops_tok / (peak * world)


def peak_memory_gib(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return None


def peak_memory_all_ranks(acc) -> float | None:
    """The highest peak GPU memory over all processes (FSDP/DDP ranks differ); None on CPU.
    Collective: every rank calls it at the same log step."""
    peak = peak_memory_gib(acc.device)
    if peak is None or acc.num_processes == 1:
        return peak
    return float(acc.gather(torch.tensor([peak], device=acc.device)).max())


def format_line(rec: dict[str, Any]) -> str:
    """One readable line (torchtitan style) from a JSONL record."""
    parts = [f"step {rec['step']:>6}/{rec['max_steps']}", f"loss {rec['loss']:.4f}", f"lr {rec['lr']:.2e}"]
    parts.append(f"gnorm {rec['grad_norm']:.3f}")
    parts.append(f"tok/s {rec['tokens_per_s']:,.0f}")
    if rec.get("mfu") is not None:
        parts.append(f"mfu {100 * rec['mfu']:.1f}%")
    if rec.get("peak_mem_gib") is not None:
        parts.append(f"mem {rec['peak_mem_gib']:.2f}GiB")
    parts.append(f"data {100 * rec['data_share']:.0f}%")
    if rec.get("skipped_steps"):
        parts.append(f"skipped {rec['skipped_steps']}")
    return " | ".join(parts)


class RunLogger:
    """Rank-0 sink for training and eval records: JSONL always, TensorBoard when installed."""

    def __init__(self, out_dir: Path, enabled: bool, tensorboard: bool, append: bool):
        self.enabled = enabled
        self.path = out_dir / "train_log.jsonl"
        self.tb = None
        if not enabled:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        if not append and self.path.exists():
            self.path.unlink()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out_dir / "tensorboard"))
            except ImportError:
                log.info("tensorboard not installed; JSONL only")

    def write(self, rec: dict[str, Any], prefix: str = "train") -> None:
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"kind": prefix, **rec}) + "\n")
        if self.tb is not None:
            for k, v in rec.items():
                if isinstance(v, (int, float)) and k != "step":
                    self.tb.add_scalar(f"{prefix}/{k}", v, rec["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_losses(records: list[dict[str, Any]], png: Path) -> None:
    """Train loss per logged step and eval losses per eval, one PNG (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    train = [r for r in records if r["kind"] == "train"]
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss", lw=1)
    for name in sorted({r["set"] for r in records if r["kind"] == "eval"}):
        ev = [r for r in records if r["kind"] == "eval" and r["set"] == name]
        ax.plot([r["step"] for r in ev], [r["loss"] for r in ev], "o-", label=f"eval loss ({name})")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def text_sets_table(text_sets: dict[str, Any]) -> str:
    """HTML table: base model vs trained model in bits per byte on each raw-text set (`data.eval_sets`)."""
    if not text_sets:
        return ""
    rows = ""
    for name, r in text_sets.items():
        trained = r["trained"]["bits_per_byte"]
        base = r["base"]["bits_per_byte"] if r.get("base") else None
        cells = (
            f"<td>{base:.4f}</td><td>{trained:.4f}</td><td>{(trained / base - 1) * 100:+.1f} %</td>"
            if base
            else (f"<td></td><td>{trained:.4f}</td><td></td>")
        )
        rows += f"<tr><td>{html.escape(name)}</td>{cells}<td>{r['trained']['docs']}</td><td>{r['trained']['bytes']:,}</td></tr>"
    return (
        "<h2>Held-out text: base model vs trained model (bits per byte, each with its own tokenizer)</h2>"
        "<table><tr><th>set</th><th>base</th><th>trained</th><th>change</th><th>docs</th><th>bytes</th></tr>"
        f"{rows}</table>"
    )


def write_report(
    out_dir: Path,
    eval_results: dict[str, Any],
    summary: dict[str, Any],
    start: dict[str, Any] | None = None,
    text_sets: dict[str, Any] | None = None,
) -> None:
    """report.html: the loss plot, the held-out text table and the shard eval table (no external assets).

    `start` (the evaluation before the first step, by set) adds the baseline and the change in bits
    per byte: a rise on the general (English) set is forgetting. `text_sets` (base vs trained model
    on raw text, see training/evaluate_text.py) is the comparison with the base model itself."""
    start = start or {}

    def delta(name: str, r: dict[str, Any]) -> str:
        if name not in start:
            return "<td></td><td></td>"
        b = start[name]["bits_per_byte"]
        return f"<td>{b:.4f}</td><td>{r['bits_per_byte'] - b:+.4f}</td>"

    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{r['loss']:.4f}</td><td>{r['perplexity']:.2f}</td>"
        f"<td>{r['bits_per_byte']:.4f}</td>{delta(name, r)}<td>{r['tokens']:,}</td></tr>"
        for name, r in eval_results.items()
    )
    info = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in summary.items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>tibcpt training report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.2em .8em;text-align:right}}</style>
</head><body><h1>tibcpt training report</h1><ul>{info}</ul>
<h2>Loss</h2><img src="loss.png" alt="loss curve">
{text_sets_table(text_sets or {})}
<h2>Evaluation (final)</h2><table><tr><th>set</th><th>loss</th><th>perplexity</th><th>bits/byte</th>
<th>bits/byte at start</th><th>change</th><th>tokens</th></tr>
{rows}</table></body></html>
"""
    write_text_atomic(out_dir / "report.html", page)


def write_run_outputs(
    out_dir: Path,
    records: list[dict[str, Any]],
    step: int,
    final: dict[str, Any],
    text_sets: dict[str, Any],
    summary: dict[str, Any],
) -> None:
    """eval.json, loss.png and report.html of a finished run from its log records."""
    history = [r for r in records if r["kind"] == "eval"]
    write_json_atomic(out_dir / "eval.json", {"step": step, "final": final, "text_sets": text_sets, "history": history})
    plot_losses(records, out_dir / "loss.png")
    first = min((r["step"] for r in history), default=None)
    start = {r["set"]: r for r in history if r["step"] == first and first != step}
    write_report(out_dir, final, summary, start, text_sets)
