"""`profile_steps=N`: where a training step's time goes, from torch.profiler (torchtitan's `profiling`).

After `profile_start_step` optimizer steps (compilation and warm-up stay out), the next
`profile_steps` steps run under torch.profiler. `output_dir/profile/` then holds:

- `trace.json.gz`: the Chrome/Perfetto trace (open in https://ui.perfetto.dev);
- `kernels.txt`: the 40 GPU kernels (CPU ops on a CPU run) that took the most time;
- `summary.json`: device time per category (matmul, attention, loss, fused elementwise, optimizer,
  communication, other), the wall time of the profiled steps and the share of it the device was busy.
  A busy share well below 1 means the host (Python, kernel launches, synchronisation) is the limit,
  not the GPU.

Under DDP/FSDP every rank profiles the same steps (rank r > 0 writes to `profile/rank{r}/`): a rank
that waits for the others shows a lower busy share than they do.

Only kernels count as device time: the profiler also puts user annotations on the GPU timeline
(`DistributedDataParallel.forward`, `Optimizer.step#AdamW.step`, `nccl:all_reduce`), which span
kernels already counted; before round 7 they were summed too (the 2-GPU profile of round 5 read 153
ms of device time in a 118 ms step).

The categories are decided by kernel name (cuBLAS/CUTLASS GEMMs, flash/cuDNN/efficient attention,
Triton kernels from Inductor or liger-kernel, fused AdamW's multi-tensor kernels, NCCL).
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import shutil
import time
from pathlib import Path

import torch

from tibcpt.io import atomic_path, write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

# First match wins; names as CUDA kernels are called on Hopper (cuBLAS "nvjet"/"sm90_xmma", CUTLASS,
# PyTorch's flash-attention "flash_fwd/bwd", cuDNN's "cudnn_generated_fort_native_sdpa"/"fmha").
CATEGORIES: list[tuple[str, re.Pattern]] = [
    ("communication", re.compile(r"nccl", re.I)),
    ("attention", re.compile(r"flash|fmha|sdpa|attention|attn", re.I)),
    ("loss", re.compile(r"cross_entropy|nll_loss|log_softmax|liger.*(ce|cross)|_ce_", re.I)),
    ("optimizer", re.compile(r"multi_tensor|adam|foreach", re.I)),
    ("matmul", re.compile(r"gemm|nvjet|xmma|cutlass|cublas|matmul|wgmma|sm90_|sm80_", re.I)),
    ("fused_elementwise", re.compile(r"triton|fused", re.I)),
]


def category(kernel_name: str) -> str:
    """The category of a device kernel's name (see CATEGORIES); "other" when none matches."""
    for name, pattern in CATEGORIES:
        if pattern.search(kernel_name):
            return name
    return "other"


def device_kernels(events) -> list[tuple[str, float]]:
    """(name, microseconds) of the device kernels among torch.profiler's events: GPU events that are
    not user annotations (those only span kernels, see the module docstring)."""
    from torch.autograd import DeviceType

    return [
        (e.name, e.time_range.elapsed_us())
        for e in events
        if e.device_type == DeviceType.CUDA and not getattr(e, "is_user_annotation", False)
    ]


def summarize_kernels(kernels: list[tuple[str, float]], wall_us: float, steps: int) -> dict:
    """Per-category device milliseconds per step and the device-busy share of the wall time.

    `kernels`: (name, duration in microseconds) of every device kernel in the profiled window."""
    per_cat: dict[str, float] = {}
    for name, us in kernels:
        c = category(name)
        per_cat[c] = per_cat.get(c, 0.0) + us
    busy = sum(per_cat.values())
    return {
        "steps": steps,
        "wall_ms_per_step": round(wall_us / 1000 / max(steps, 1), 3),
        "device_ms_per_step": round(busy / 1000 / max(steps, 1), 3),
        "device_busy_share": round(busy / wall_us, 4) if wall_us else None,
        "ms_per_step_by_category": {
            k: round(v / 1000 / max(steps, 1), 3) for k, v in sorted(per_cat.items(), key=lambda kv: -kv[1])
        },
        "kernels": len(kernels),
    }


class StepProfiler:
    """Profiles optimizer steps [start, start + steps); call `step_done()` after every optimizer step."""

    def __init__(self, out_dir: Path, start: int, steps: int, rank: int = 0):
        self.out = Path(out_dir) / "profile" / (f"rank{rank}" if rank else "")
        self.rank = rank
        self.start, self.steps = start, steps
        self.enabled = steps > 0
        self.prof = None
        self.t0 = 0.0
        self.done = 0

    def step_done(self, step: int) -> None:
        """`step`: the number of optimizer steps finished so far."""
        if not self.enabled:
            return
        if self.prof is None and step == self.start:
            self._begin()
        elif self.prof is not None:
            self.done += 1
            if self.done == self.steps:
                self._end()

    def _begin(self) -> None:
        from torch.profiler import ProfilerActivity, profile

        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.prof = profile(activities=acts, record_shapes=False)
        self.prof.__enter__()
        self.t0 = time.perf_counter()

    def _end(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        wall_us = (time.perf_counter() - self.t0) * 1e6
        prof, self.prof, self.enabled = self.prof, None, False
        prof.__exit__(None, None, None)
        self.out.mkdir(parents=True, exist_ok=True)
        on_device = torch.cuda.is_available()
        if on_device:
            kernels = device_kernels(prof.events())
        else:  # a CPU run: the top-level CPU ops stand in for kernels
            kernels = [(e.name, e.cpu_time_total) for e in prof.events() if e.cpu_parent is None]
        summary = {"rank": self.rank, **summarize_kernels(kernels, wall_us, self.steps)}
        # The host's side: CPU time of every profiled op (main and autograd threads), per step.
        averages = prof.key_averages()
        host_us = sum(e.self_cpu_time_total for e in averages)
        summary["host_cpu_ms_per_step"] = round(host_us / 1000 / max(self.steps, 1), 3)
        sort_by = "self_device_time_total" if on_device else "self_cpu_time_total"
        table = averages.table(sort_by=sort_by, row_limit=40, max_name_column_width=90)
        write_text_atomic(self.out / "kernels.txt", table)
        write_json_atomic(self.out / "summary.json", summary)
        tmp = self.out / "trace.json.part"
        prof.export_chrome_trace(str(tmp))
        with atomic_path(self.out / "trace.json.gz") as part, tmp.open("rb") as src, gzip.open(part, "wb") as dst:
            shutil.copyfileobj(src, dst)
        tmp.unlink()
        log.info("profile of %d steps: %s (%s)", self.steps, json.dumps(summary["ms_per_step_by_category"]), self.out)
