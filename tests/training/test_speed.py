"""Fused kernels and regional compilation (training/kernels.py, training/parallelize.py, issue 11).

CPU (CI) covers the fallback and the compiled graph structure; the liger test itself needs CUDA
and liger-kernel and is skipped with that reason elsewhere (it runs in bench/train_speed.py's GPU call).
"""

from __future__ import annotations

import copy
import sys

import pytest
import torch
from conftest import make_tiny_model
from tibcpt.training.kernels import ALL_KERNELS, apply_kernels, kernel_set, liger_unavailable
from tibcpt.training.parallelize import TrainingCompiled, compile_layers, decoder_layers, speed_up, to_device
from tiny import tiny_cfg


def tiny(tmp_path, layers: int = 3, tie: bool = True):
    from transformers import AutoModelForCausalLM

    path = make_tiny_model(tmp_path / "m", vocab_size=300, tie=tie, layers=layers)
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)


def batch(seed: int = 0, shape=(2, 32)) -> torch.Tensor:
    return torch.randint(0, 300, shape, generator=torch.Generator().manual_seed(seed))


def loss_and_grads(model, ids):
    model.zero_grad(set_to_none=True)
    loss = model(input_ids=ids, labels=ids, use_cache=False).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.fixture
def llama_globals(monkeypatch):
    """liger-kernel patches transformers' module globals (its in-place RoPE among them): restored
    after the test, or later tests in the process run liger's RoPE, whose in-place writes make
    Inductor skip CUDA graphs ("mutated inputs"; seen on the GPU when test_speed ran in one process)."""
    from transformers.models.llama import modeling_llama

    for name in ("apply_rotary_pos_emb", "LlamaRMSNorm", "LlamaMLP"):
        monkeypatch.setattr(modeling_llama, name, getattr(modeling_llama, name))


def test_auto_falls_back_with_a_reason_and_the_loss_is_unchanged(tmp_path, caplog):
    model = tiny(tmp_path)
    reason = liger_unavailable(model)
    if reason is None:
        pytest.skip("liger-kernel runs here; the fallback path is for CPU / not installed")
    ids = batch()
    before = model(input_ids=ids, labels=ids).loss
    with caplog.at_level("INFO"):
        assert apply_kernels(model, "auto", compiled=False) == ()
    assert reason in caplog.text
    assert "forward" not in model.__dict__  # nothing swapped in
    assert torch.equal(model(input_ids=ids, labels=ids).loss, before)
    with pytest.raises(ValueError, match="model.kernels: liger was requested but"):
        apply_kernels(model, "liger", compiled=False)
    assert apply_kernels(model, "none", compiled=False) == ()
    with pytest.raises(ValueError, match="must be one of"):
        apply_kernels(model, "triton", compiled=False)


def test_kernel_choice_follows_the_measurements():
    assert kernel_set(compiled=False) == ("cross_entropy", "rms_norm", "swiglu", "rope")
    assert set(kernel_set(compiled=False)) < set(ALL_KERNELS)
    # Under compile inductor fuses norm/SwiGLU/RoPE and the compiled loss region beats liger's
    # fused linear cross-entropy (bench): no liger kernel at all.
    assert kernel_set(compiled=True) == ()
    # fp16: loss kernels that compute gradients in the forward pass stay out (bench).
    assert kernel_set(compiled=False, fp16=True) == ("rms_norm", "swiglu", "rope")
    assert kernel_set(compiled=True, fp16=True) == ()


def test_missing_liger_is_named_even_with_a_gpu(tmp_path, monkeypatch):
    model = tiny(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "liger_kernel.transformers.monkey_patch", None)  # import fails
    assert "liger-kernel is not installed" in liger_unavailable(model)
    with pytest.raises(ValueError, match="pip install 'tibcpt\\[gpu\\]'"):
        apply_kernels(model, "liger", compiled=False)


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="liger-kernel's kernels are Triton and need a CUDA GPU (none here)"
)
@pytest.mark.parametrize(
    "kernels", [None, ("fused_linear_cross_entropy", "rms_norm", "swiglu", "rope")], ids=["eager_set", "fused_loss"]
)
def test_liger_model_computes_the_eager_loss_and_gradients(tmp_path, llama_globals, kernels):
    pytest.importorskip("liger_kernel", reason="liger-kernel is not installed (pip install 'tibcpt[gpu]')")
    ref = tiny(tmp_path).cuda()
    fused = copy.deepcopy(ref)
    ids = batch().cuda()
    ref_loss, ref_grads = loss_and_grads(ref, ids)
    applied = apply_kernels(fused, "liger", compiled=False, kernels=kernels)
    assert applied == (kernels or kernel_set(compiled=False))
    loss, grads = loss_and_grads(fused, ids)
    assert torch.allclose(loss, ref_loss, rtol=1e-4, atol=1e-5)
    assert grads.keys() == ref_grads.keys()
    for n, g in grads.items():
        rel = (g - ref_grads[n]).norm() / ref_grads[n].norm()
        assert rel < 1e-3, (n, rel)


def test_regional_compile_one_graph_same_loss_eager_under_no_grad(tmp_path):
    import torch._dynamo
    from torch._dynamo.utils import counters

    ref = tiny(tmp_path, layers=3)
    model = copy.deepcopy(ref)
    torch._dynamo.reset()
    counters.clear()
    assert compile_layers(model, backend="aot_eager") == 3
    assert all(isinstance(layer.__dict__["forward"], TrainingCompiled) for layer in decoder_layers(model))
    assert list(model.state_dict()) == list(ref.state_dict())  # no _orig_mod. prefixes in checkpoints
    ids = batch()
    ref_loss, ref_grads = loss_and_grads(ref, ids)
    loss, grads = loss_and_grads(model, ids)
    assert torch.allclose(loss, ref_loss, rtol=1e-5)
    for n, g in grads.items():
        assert torch.allclose(g, ref_grads[n], rtol=1e-4, atol=1e-6), n
    # The three layers share one graph: compile time is one layer's.
    assert counters["stats"]["unique_graphs"] == 1
    loss_and_grads(model, batch(1))  # new values, same shape: no recompilation
    assert counters["stats"]["unique_graphs"] == 1
    # Evaluation (no_grad) runs eagerly, at any batch size: nothing new is compiled.
    with torch.no_grad():
        out = model(input_ids=batch(2, shape=(5, 17))).logits
        expect = ref(input_ids=batch(2, shape=(5, 17))).logits
    assert torch.allclose(out, expect, atol=1e-5)
    assert counters["stats"]["unique_graphs"] == 1
    compile_layers(model, backend="aot_eager")  # idempotent: does not wrap twice
    assert isinstance(decoder_layers(model)[0].__dict__["forward"].eager, type(ref.model.layers[0].forward))


def test_speed_up_without_compile_or_gpu_leaves_the_model_alone(tmp_path, llama_globals):
    model = tiny(tmp_path)
    info = speed_up(model, "auto", compile=False)
    if liger_unavailable(model) is not None:
        assert info == {"kernels": [], "compiled_layers": 0, "compiled_loss": False}
    assert all("forward" not in layer.__dict__ for layer in decoder_layers(model))
    t = batch()
    assert to_device(t, torch.device("cpu")) is t


def test_no_decoder_layers_is_a_clear_error():
    with pytest.raises(ValueError, match="no decoder layers"):
        compile_layers(torch.nn.Linear(2, 2))


def test_cuda_graphs_are_refused_where_they_were_not_measured(assets, tmp_path):
    from accelerate.utils import DistributedType
    from tibcpt.training.config import load_train_config
    from tibcpt.training.parallelize import check_launch
    from tibcpt.training.train import train
    from tiny import TINY

    from tibcpt.config import ConfigError

    with pytest.raises(ConfigError, match="cuda_graphs: needs compile=true"):
        load_train_config(TINY, ["model.cuda_graphs=true"])
    with pytest.raises(ConfigError, match="cuda_graphs: not with gradient_checkpointing"):
        load_train_config(TINY, ["model.compile=true", "model.cuda_graphs=true", "model.gradient_checkpointing=true"])
    with pytest.raises(ConfigError, match="model.cuda_graphs: not under FSDP"):
        check_launch(DistributedType.FSDP, cuda_graphs=True)
    with pytest.raises(ValueError, match="needs the inductor backend"):
        compile_layers(tiny(tmp_path), backend="aot_eager", cuda_graphs=True)
    if not torch.cuda.is_available():  # a user's CPU run: one line before any compute
        with pytest.raises(ConfigError, match="model.cuda_graphs: needs a CUDA GPU"):
            train(tiny_cfg(assets, tmp_path / "run", "model.compile=true", "model.cuda_graphs=true"))
        assert not (tmp_path / "run" / "train_log.jsonl").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU (none here)")
def test_cuda_graphs_replay_the_eager_loss_and_gradients(tmp_path):
    import torch._dynamo
    from tibcpt.training.parallelize import compile_loss
    from torch._dynamo.utils import counters
    from torch._inductor import cudagraph_trees

    ref = tiny(tmp_path, layers=3).cuda()
    model = copy.deepcopy(ref)
    torch._dynamo.reset()
    counters.clear()
    compile_layers(model, cuda_graphs=True)
    compile_loss(model, cuda_graphs=True)
    for seed in range(4):  # records, then replays with new values in the same static buffers
        ids = batch(seed).cuda()
        torch.compiler.cudagraph_mark_step_begin()
        loss, grads = loss_and_grads(model, ids)
        ref_loss, ref_grads = loss_and_grads(ref, ids)
        assert torch.allclose(loss, ref_loss, rtol=1e-4), (seed, loss, ref_loss)
        for n, g in grads.items():
            assert (g - ref_grads[n]).norm() <= 1e-3 * ref_grads[n].norm() + 1e-6, (seed, n)
    assert counters["inductor"]["cudagraph_skips"] == 0
    manager = cudagraph_trees.get_manager(torch.cuda.current_device(), create_if_none_exists=False)
    assert manager is not None and manager.roots  # graphs were recorded, not skipped


def run_tiny(assets, out, *extra) -> tuple[list[float], dict]:
    """A tiny-cpu.yaml training run; (train losses per step, eval.json)."""
    import json

    from tibcpt.training.train import train

    train(tiny_cfg(assets, out, "max_steps=6", "logging_steps=1", "eval_steps=0", "save_steps=3", *extra))
    recs = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in recs if r["kind"] == "train"], json.loads((out / "eval.json").read_text())


@pytest.fixture
def cheap_compile(monkeypatch):
    """aot_eager instead of inductor (whose C++ build takes minutes on 2 cores); counters from zero."""
    from tibcpt.training import parallelize
    from torch._dynamo.utils import counters

    monkeypatch.setattr(parallelize, "COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    counters.clear()
    return counters


def test_trainer_with_compile_matches_eager_and_resumes(assets, tmp_path, cheap_compile):
    from safetensors.torch import load_file
    from tibcpt.training.checkpoint import checkpoint_dir

    eager_losses, eager_eval = run_tiny(assets, tmp_path / "eager")
    cheap_compile.clear()
    losses, ev = run_tiny(assets, tmp_path / "compiled", "model.compile=true")
    assert losses == pytest.approx(eager_losses, rel=1e-4)
    assert ev["final"]["tibetan"]["loss"] == pytest.approx(eager_eval["final"]["tibetan"]["loss"], rel=1e-4)
    # Two evaluations (start, end) at another batch size compiled nothing: one decoder-layer
    # graph and the output layer + loss region in all.
    assert cheap_compile["stats"]["unique_graphs"] == 2
    # The saved model has plain parameter names.
    assert set(load_file(str(tmp_path / "compiled" / "model.safetensors"))) == set(
        load_file(str(tmp_path / "eager" / "model.safetensors"))
    )
    # Resume a compiled run from its step-3 checkpoint: the same last three losses.
    step3 = checkpoint_dir(tmp_path / "compiled", 3)
    resumed, _ = run_tiny(assets, tmp_path / "resumed", "model.compile=true", f"resume_from_checkpoint={step3}")
    assert len(resumed) == 3 and resumed == pytest.approx(losses[-3:], rel=1e-4)


@pytest.mark.parametrize("finetuning", ["freeze", "lora"])
def test_compile_with_freeze_and_lora_matches_eager(assets, tmp_path, cheap_compile, finetuning):
    from transformers import AutoModelForCausalLM

    extra = [f"model.finetuning_type={finetuning}", "max_steps=3", "save_steps=0", "eval_at_start=false"]
    eager, _ = run_tiny(assets, tmp_path / "eager", *extra)
    compiled, _ = run_tiny(assets, tmp_path / "compiled", "model.compile=true", *extra)
    assert compiled == pytest.approx(eager, rel=1e-4)
    # freeze: frozen and trainable layers are two graphs; LoRA layers one. Never one per layer.
    assert cheap_compile["stats"]["unique_graphs"] <= 2
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "compiled")  # merged LoRA / plain model folder
    assert model.config.vocab_size == assets["ext_vocab"]
