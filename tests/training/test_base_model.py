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
