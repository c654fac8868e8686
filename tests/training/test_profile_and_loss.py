"""The compiled output-layer + loss region, the attention-backend choice and the step profiler
(training/parallelize.py, training/profile.py; issue 11)."""

from __future__ import annotations

import copy
import gzip
import json
import re

import pytest
import torch
from test_speed import batch, cheap_compile, loss_and_grads, run_tiny, tiny  # noqa: F401 (fixture)
from tibcpt.training.kernels import head_loss
from tibcpt.training.parallelize import attention_context, compile_layers, compile_loss
from tibcpt.training.profile import category, device_kernels, summarize_kernels


def test_head_loss_is_transformers_causal_lm_loss(tmp_path):
    model = tiny(tmp_path)
    ids = batch()
    ids[0, 5] = -100  # an ignored label
    with torch.no_grad():
        hidden = model.model(input_ids=ids.clamp(min=0)).last_hidden_state
        expect = model.loss_function(model.lm_head(hidden), ids, vocab_size=model.config.vocab_size)
        got = head_loss(hidden, model.lm_head.weight, ids)
    assert got == pytest.approx(expect.item(), rel=1e-6)


@pytest.mark.parametrize("vocab", [300, 320])  # padded to 320 (VOCAB_ALIGN 64), already aligned
def test_head_loss_padding_keeps_loss_and_gradients(vocab):
    from tibcpt.training.kernels import VOCAB_ALIGN

    assert VOCAB_ALIGN == 64 and vocab % 64 in (44, 0)
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 17, 24, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(vocab, 24, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, vocab, (3, 17), generator=g)
    labels[1, 4] = -100
    loss = head_loss(hidden, weight, labels)
    loss.backward()
    # The textbook form: shift the hidden states, unpadded logits.
    h2, w2 = hidden.detach().clone().requires_grad_(), weight.detach().clone().requires_grad_()
    logits = (h2[:, :-1] @ w2.T).reshape(-1, vocab)
    expect = torch.nn.functional.cross_entropy(logits, labels[:, 1:].reshape(-1), ignore_index=-100)
    expect.backward()
    assert loss.item() == pytest.approx(expect.item(), rel=1e-6)  # head_loss's fp32 softmax
    assert weight.grad.shape == (vocab, 24)
    assert torch.allclose(weight.grad, w2.grad, rtol=1e-5, atol=1e-7)
    assert torch.allclose(hidden.grad, h2.grad, rtol=1e-5, atol=1e-7)
    assert hidden.grad[:, -1].abs().max() == 0  # the last position predicts nothing


@pytest.mark.parametrize("tie", [True, False])
def test_compiled_loss_matches_eager_loss_and_gradients(tmp_path, cheap_compile, tie):  # noqa: F811
    ref = tiny(tmp_path, tie=tie)
    model = copy.deepcopy(ref)
    compile_layers(model, backend="aot_eager")
    compile_loss(model, backend="aot_eager")
    ids = batch()
    ref_loss, ref_grads = loss_and_grads(ref, ids)
    loss, grads = loss_and_grads(model, ids)
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-5)
    assert set(grads) == set(ref_grads)  # the output layer (tied or not) still gets its gradient
    for n, g in grads.items():
        assert torch.allclose(g, ref_grads[n], rtol=1e-4, atol=1e-6), n
    graphs = cheap_compile["stats"]["unique_graphs"]
    # Evaluation and generation keep the model's own forward: logits, nothing compiled.
    with torch.no_grad():
        out = model(input_ids=batch(3, shape=(3, 11)), labels=batch(3, shape=(3, 11)))
        expect = ref(input_ids=batch(3, shape=(3, 11)), labels=batch(3, shape=(3, 11)))
    assert out.logits is not None and torch.allclose(out.logits, expect.logits, atol=1e-5)
    assert cheap_compile["stats"]["unique_graphs"] == graphs


def test_trainer_compiled_loss_and_attention_backend_keep_the_losses(assets, tmp_path, cheap_compile):  # noqa: F811
    extra = ["max_steps=3", "save_steps=0", "eval_at_start=false"]
    eager, _ = run_tiny(assets, tmp_path / "eager", *extra)
    fast, _ = run_tiny(
        assets,
        tmp_path / "fast",
        "model.compile=true",
        "model.kernels=none",
        "model.compiled_loss=true",
        "model.attention_backend=cudnn",  # not on a CPU: the fallback order keeps the fused CPU kernel
        *extra,
    )
    assert fast == pytest.approx(eager, rel=1e-4)
    assert cheap_compile["stats"]["unique_graphs"] == 2  # one decoder-layer graph + the loss


def test_attention_context_orders_backends_and_auto_changes_nothing():
    from torch.nn.attention import SDPBackend

    q = torch.randn(1, 2, 8, 4)
    ref = torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
    for backend in ("auto", "cudnn", "flash", "efficient"):
        with attention_context(backend):
            out = torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
            if backend == "cudnn":
                assert torch._C._get_sdp_priority_order()[0] == int(SDPBackend.CUDNN_ATTENTION)
        assert torch.allclose(out, ref, atol=1e-6)


def test_kernel_categories_from_real_kernel_names():
    names = {
        "void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128, 128, 4>, true>": "attention",
        "cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_knob_3_64x64x64_4x1x1_kernel0_0": "attention",
        "nvjet_tst_192x192_64x4_2x1_v_bz_coopA_TNT": "matmul",
        "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1": "matmul",
        "triton_red_fused__log_softmax__to_copy_nll_loss_forward_0": "loss",
        "triton_poi_fused_add_mul_rsqrt_0": "fused_elementwise",
        "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<FusedAdamMathFunctor>": "optimizer",
        "ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevKernelArgsStorage<4096ul>)": "communication",
        "Memcpy HtoD (Pinned -> Device)": "other",
    }
    assert {n: category(n) for n in names} == names
    s = summarize_kernels([("nvjet_x", 600.0), ("flash_bwd", 300.0), ("Memset", 100.0)], wall_us=2000.0, steps=2)
    assert s["ms_per_step_by_category"] == {"matmul": 0.3, "attention": 0.15, "other": 0.05}
    assert s["device_busy_share"] == 0.5 and s["wall_ms_per_step"] == 1.0


def test_device_time_counts_kernels_not_the_annotations_around_them():
    """Round 5's 2-GPU profile: DDP's forward range, the optimizer-step range and NCCL's own range sit on
    the GPU timeline beside the kernels they span; counting them put 153 ms of device time in 118 ms."""
    from torch.autograd import DeviceType
    from torch.autograd.profiler_util import FunctionEvent

    def event(i, name, us, device=DeviceType.CUDA, annotation=False):
        return FunctionEvent(i, name, 0, 0, us, device_type=device, is_user_annotation=annotation)

    events = [
        event(1, "DistributedDataParallel.forward", 42_000.0, annotation=True),
        event(2, "nvjet_sm90_tst_192x192_64x3_1x2_h_bz_coopB_NNN", 11_000.0),
        event(3, "nccl:all_reduce", 2_900.0, annotation=True),
        event(4, "ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevKernelArgsStorage<4096ul>)", 2_900.0),
        event(5, "Optimizer.step#AdamW.step", 1_200.0, annotation=True),
        event(6, "aten::mm", 50.0, device=DeviceType.CPU),
    ]
    kernels = device_kernels(events)
    assert [n for n, _ in kernels] == [events[1].name, events[3].name]
    s = summarize_kernels(kernels, wall_us=20_000.0, steps=1)
    assert s["ms_per_step_by_category"] == {"matmul": 11.0, "communication": 2.9}


def test_profile_steps_writes_a_trace_a_table_and_a_summary(assets, tmp_path):
    out = tmp_path / "prof"
    run_tiny(assets, out, "max_steps=4", "save_steps=0", "eval_at_start=false", "profile_steps=2",
             "profile_start_step=1")  # fmt: skip
    summary = json.loads((out / "profile" / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["kernels"] > 0 and summary["wall_ms_per_step"] > 0
    # the host's CPU time is the kernel table's "Self CPU time total" over the profiled steps
    table = (out / "profile" / "kernels.txt").read_text()
    total_ms = float(re.search(r"Self CPU time total: ([\d.]+)(ms|s)", table).group(1))
    total_ms *= 1000 if re.search(r"Self CPU time total: [\d.]+s\b", table) else 1
    assert summary["host_cpu_ms_per_step"] == pytest.approx(total_ms / 2, rel=0.01)
    assert "aten::" in (out / "profile" / "kernels.txt").read_text()
    with gzip.open(out / "profile" / "trace.json.gz") as f:
        assert json.load(f)["traceEvents"]
    assert not list((out / "profile").glob("*.part")) and not list((out / "profile").glob(".tmp-*"))


def test_peak_memory_is_the_highest_over_ranks(monkeypatch):
    """FSDP ranks hold different shards and buffers: the logged peak is the largest, not rank 0's."""
    from types import SimpleNamespace

    from tibcpt.training import metrics

    cpu = SimpleNamespace(device=torch.device("cpu"), num_processes=2)
    assert metrics.peak_memory_all_ranks(cpu) is None  # no GPU: nothing to report, no collective
    monkeypatch.setattr(metrics, "peak_memory_gib", lambda device: 3.0)
    other_rank = torch.tensor([7.5])
    two = SimpleNamespace(device=torch.device("cpu"), num_processes=2, gather=lambda t: torch.cat([t, other_rank]))
    assert metrics.peak_memory_all_ranks(two) == 7.5
    one = SimpleNamespace(device=torch.device("cpu"), num_processes=1)
    assert metrics.peak_memory_all_ranks(one) == 3.0
