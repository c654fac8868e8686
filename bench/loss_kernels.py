"""The output layer + loss in isolation: which implementation is fastest at the trainer's shape.

    python bench/loss_kernels.py --out bench/results/loss_kernels.json        # on a CUDA GPU
    python bench/loss_kernels.py --device cpu --tokens 256 --vocab 1000 --out /tmp/x.json  # smoke

Issue 11 names two fused losses: liger-kernel's fused linear cross-entropy (measured in the trainer:
168k tok/s against 320k for the compiled region, README "Trainer speed") and cut-cross-entropy
(Wijmans et al. 2024, "Cut Your Losses in Large-Vocabulary Language Models", arXiv:2411.09009),
not yet measured. Each implementation runs forward + backward of mean next-token cross-entropy of
`hidden @ weight.T` on the SmolLM2-135M shape with the extended vocabulary (16 x 2048 tokens, 576
wide, 68,857 rows, bf16), timed with CUDA events (median of `--iters` after warm-up), with its peak
memory above the inputs and its loss and gradients against an fp32 reference. cut-cross-entropy's
default drops small softmax entries from the gradient (filter_eps="high"); it is measured with and
without that filter. An implementation that is not installed is recorded with the reason.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tibcpt.training.kernels import head_loss  # noqa: E402

from tibcpt.io import write_json_atomic  # noqa: E402


def shifted(labels: torch.Tensor) -> torch.Tensor:
    """Next-token targets of [batch, seq] labels, flattened; the last position of each row -100."""
    return F.pad(labels[:, 1:], (0, 1), value=-100).reshape(-1)


def plain(hidden, weight, labels):  # transformers' ForCausalLMLoss: full bf16 logits, upcast to fp32
    return F.cross_entropy((hidden.reshape(-1, hidden.shape[-1]) @ weight.T).float(), shifted(labels))


def implementations(device: str) -> dict:
    impls = {"plain_eager": plain, "compiled_head_loss (default)": torch.compile(head_loss, dynamic=False)}
    if device != "cuda":
        return impls
    try:
        from liger_kernel.transformers.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyLoss

        liger = LigerFusedLinearCrossEntropyLoss()
        impls["liger_fused_linear_ce"] = lambda h, w, y: liger(w, h.reshape(-1, h.shape[-1]), shifted(y))
    except ImportError as e:
        impls["liger_fused_linear_ce"] = f"not installed: {e}"
    try:
        from cut_cross_entropy import linear_cross_entropy

        impls["cut_cross_entropy"] = lambda h, w, y: linear_cross_entropy(
            h, w, shifted(y).view(y.shape), filter_eps=None
        )
        impls["cut_cross_entropy_filtered"] = lambda h, w, y: linear_cross_entropy(h, w, shifted(y).view(y.shape))
    except ImportError as e:
        impls["cut_cross_entropy"] = f"not installed: {e}"
    return impls


def measure(fn, hidden, weight, labels, iters: int, device: str, warmup: int = 3) -> dict:
    h = hidden.detach().clone().requires_grad_(True)
    w = weight.detach().clone().requires_grad_(True)
    for _ in range(warmup):  # compilation, autotuning
        h.grad = w.grad = None
        fn(h, w, labels).backward()
    times = []
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    for _ in range(iters):
        h.grad = w.grad = None
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        loss = fn(h, w, labels)
        loss.backward()
        if device == "cuda":
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
    out = {"loss": loss.item(), "grads": (h.grad.float(), w.grad.float())}
    if times:
        out["ms_fwd_bwd_median"] = round(statistics.median(times), 3)
        out["peak_gib_above_inputs"] = round((torch.cuda.max_memory_allocated() - base) / 2**30, 2)
    return out


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=2048, help="sequence length")
    ap.add_argument("--hidden", type=int, default=576)
    ap.add_argument("--vocab", type=int, default=68_857)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    g = torch.Generator(device="cpu").manual_seed(0)
    dtype = torch.bfloat16 if a.device == "cuda" else torch.float32
    hidden = torch.randn(a.batch, a.tokens, a.hidden, generator=g).to(a.device, dtype)
    weight = (torch.randn(a.vocab, a.hidden, generator=g) * 0.02).to(a.device, dtype)
    labels = torch.randint(0, a.vocab, (a.batch, a.tokens), generator=g).to(a.device)
    ref = measure(plain, hidden.float(), weight.float(), labels, 1, "untimed", warmup=0)  # the fp32 reference
    results = {}
    for name, fn in implementations(a.device).items():
        if isinstance(fn, str):
            results[name] = {"skipped": fn}
            continue
        try:
            m = measure(fn, hidden, weight, labels, a.iters, a.device)
        except Exception as e:  # noqa: BLE001 - a failing implementation is a result, not the end of the bench
            results[name] = {"error": f"{type(e).__name__}: {e}"[:300]}
            continue
        m["loss_abs_err_vs_fp32"] = round(abs(m["loss"] - ref["loss"]), 5)
        m["grad_hidden_rel_err_vs_fp32"] = round(rel(m["grads"][0], ref["grads"][0]), 5)
        m["grad_weight_rel_err_vs_fp32"] = round(rel(m["grads"][1], ref["grads"][1]), 5)
        del m["grads"]
        results[name] = m
        print(name, m, flush=True)
    setup = {k: getattr(a, k) for k in ("device", "batch", "tokens", "hidden", "vocab", "iters")}
    if a.device == "cuda":
        setup["gpu"] = torch.cuda.get_device_name()
    setup["torch"] = torch.__version__
    write_json_atomic(Path(a.out), {"setup": setup, "results": results})


if __name__ == "__main__":
    main()
