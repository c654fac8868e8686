"""Saved model folders load as trained: wrappers are stripped, every save is re-loaded and checked,
and `generate` / `eval` refuse a folder whose weights do not match its config (issue 10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from tibcpt.training.artifacts import (
    BrokenModelFolder,
    clean_state_dict,
    load_checked,
    save_final_model,
    unwrap,
    verify_model_folder,
)

REPO = Path(__file__).resolve().parents[2]


def tiny(assets):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(assets["model"]), AutoTokenizer.from_pretrained(assets["model"])


def test_compiled_model_saves_plain_keys_and_reloads_bit_identical(assets, tmp_path):
    """The bug of issue 10: torch.compile's wrapper put `_orig_mod.` before every saved key."""
    model, tok = tiny(assets)
    compiled = torch.compile(model, backend="eager")  # CPU: no C++ toolchain needed
    ids = torch.tensor([[1, 2, 3, 4]])
    compiled(input_ids=ids, labels=ids).loss.backward()  # traced and run once, as in training
    wrapped_keys = list(compiled.state_dict())
    assert all(k.startswith("_orig_mod.") for k in wrapped_keys)
    assert unwrap(compiled) is model
    saved = save_final_model(compiled, compiled.state_dict(), tok, tmp_path / "m", "full")
    keys = set(load_file(str(tmp_path / "m" / "model.safetensors")))
    assert keys == {k.removeprefix("_orig_mod.") for k in wrapped_keys}
    verify_model_folder(tmp_path / "m", saved)
    fresh = load_checked(tmp_path / "m")
    with torch.no_grad():
        assert torch.equal(fresh(input_ids=ids).logits, model(input_ids=ids).logits)


def test_folder_with_wrapper_prefixes_is_refused_everywhere(assets, tmp_path):
    model, tok = tiny(assets)
    folder = tmp_path / "broken"
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    weights = load_file(str(folder / "model.safetensors"))
    save_file({f"_orig_mod.{k}": v for k, v in weights.items()}, str(folder / "model.safetensors"), {"format": "pt"})
    with pytest.raises(BrokenModelFolder, match="missing keys"):
        load_checked(folder)
    with pytest.raises(BrokenModelFolder):
        verify_model_folder(folder, weights)
    for cmd in (
        ["generate", "--model", str(folder), "བོད་"],
        ["eval", "--model", str(folder), f"x={folder / 'config.json'}"],
    ):
        proc = subprocess.run([sys.executable, "-m", "tibcpt.cli", *cmd], capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        lines = [x for x in proc.stderr.splitlines() if "error" in x]
        assert lines and "weights do not match" in lines[-1] and "Traceback" not in proc.stderr


def test_verify_catches_a_weight_that_changed(assets, tmp_path):
    model, tok = tiny(assets)
    saved = save_final_model(model, None, tok, tmp_path / "m", "full")
    changed = dict(saved)
    changed["model.norm.weight"] = saved["model.norm.weight"] + 1
    with pytest.raises(BrokenModelFolder, match="1 changed"):
        verify_model_folder(tmp_path / "m", changed)


def test_clean_state_dict_strips_nested_wrappers_and_refuses_collisions():
    sd = {"module._orig_mod.model.layers.0._orig_mod.w": torch.zeros(1), "lm_head.weight": torch.ones(1)}
    assert set(clean_state_dict(sd)) == {"model.layers.0.w", "lm_head.weight"}
    with pytest.raises(RuntimeError, match="twice"):
        clean_state_dict({"a.w": torch.zeros(1), "_orig_mod.a.w": torch.zeros(1)})


def test_train_with_missing_model_path_is_one_line(assets, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tibcpt.cli",
            "train",
            "--config",
            "configs/train/tiny-cpu.yaml",
            "model.model_name_or_path=models/does-not-exist",
            f"data.shards={assets['tibetan']}",
            f"output_dir={tmp_path / 'o'}",
        ],
        capture_output=True,
        text=True,
        cwd=str(REPO),
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [x for x in proc.stderr.splitlines() if x.startswith("tibcpt train: error:")]
    assert len(errors) == 1 and "models/does-not-exist does not exist" in errors[0]
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_checkpoint_of_a_compiled_model_resumes_into_a_plain_one(assets, tmp_path):
    """Checkpoints hold plain names too, so a run may resume with other compile settings."""
    from accelerate import Accelerator
    from tibcpt.training import checkpoint as ckpt

    acc = Accelerator(cpu=True)
    model, _ = tiny(assets)
    compiled = torch.compile(model, backend="eager")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    ids = torch.tensor([[1, 2, 3, 4]])
    compiled(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    state = {"step": 1, "samples": 4, "skipped_steps": 0}
    folder = ckpt.save_checkpoint(tmp_path, 1, compiled, opt, sched, acc, state, keep=2)
    keys = set(load_file(str(folder / "model.safetensors")))
    assert keys and not any("_orig_mod" in k for k in keys)
    fresh, _ = tiny(assets)
    opt2 = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lambda s: 1.0)
    assert ckpt.load_checkpoint(folder, fresh, opt2, sched2, acc)["step"] == 1
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values()))
