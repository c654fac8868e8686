"""The user's path end to end, through the Makefile: corpus -> tokenizer -> pack -> train -> generate.

A small slice of the real sample corpus, Llama-2's tokenizer.model as the base (extended with
Tibetan pieces), and a tiny random Llama model so CPU training takes seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]


def make(target: str, **vars: str) -> subprocess.CompletedProcess:
    cmd = ["make", "-C", str(REPO), target, *(f"{k}={v}" for k, v in vars.items())]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"make {target} failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    return r


@pytest.mark.slow
def test_make_corpus_tokenizer_pack_train_generate(tmp_path: Path, shared: Path):
    c = shared / "corpus"
    inp = tmp_path / "in"
    inp.mkdir()
    for f in sorted((c / "modern/nanhai-modern-writing").glob("C-D-PD-0[0-4]*.txt")):
        shutil.copy(f, inp / f.name)
    shutil.copy(c / "modern/udhr/udhr_bod.txt", inp / "udhr.txt")
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n  - name: nanhai\n    kind: local\n    license: CC-BY-NC-4.0\n    genre: literature\n"
        f"    path: {inp}\n    segmented: true\n"
    )
    out = tmp_path / "out"
    base_tok = tmp_path / "llama2"
    base_tok.mkdir()
    shutil.copy(shared / "tokenizers/llama2/tokenizer.model", base_tok / "tokenizer.model")

    make("corpus", SOURCES=str(sources), OUT=str(out), WORKERS="2")
    manifest = json.loads((out / "corpus/manifest.json").read_text())
    assert manifest["totals"]["docs_out"] >= 20

    make("tokenizer", OUT=str(out), BASE_TOKENIZER=str(base_tok), TOKENIZER_ARGS="vocab_size=3000 heldout_fraction=0.2")
    # Make names the tokenizer and shard folders after the base (here the folder `llama2`).
    fert = json.loads((out / "tokenizer-llama2/fertility.json").read_text())
    assert fert["pieces_added"] > 500 and fert["vocab_size_after"] == 32000 + fert["pieces_added"]
    assert fert["after"]["tokens_per_syllable"] < fert["before"]["tokens_per_syllable"] / 2

    make("pack", OUT=str(out), SOURCES=str(sources), WORKERS="2", BASE_TOKENIZER=str(base_tok),
         PACK_ARGS="seq_len=128 validation_fraction=0.1")  # fmt: skip
    shards = json.loads((out / "shards-llama2/manifest.json").read_text())
    assert shards["seq_len"] == 128 and shards["splits"]["train"]["sequences"] > 10
    first = pq.read_table(next((out / "shards-llama2/train").glob("*.parquet")))
    assert all(len(x) == 128 for x in first.column("input_ids").to_pylist())

    # English replay shards (the default recipe mixes 20 % replay), packed with the same tokenizer.
    make(
        "replay",
        OUT=str(out),
        WORKERS="2",
        BASE_TOKENIZER=str(base_tok),
        PACK_ARGS="seq_len=128 validation_fraction=0.1",
    )
    assert json.loads((out / "replay-shards/manifest.json").read_text())["splits"]["train"]["sequences"] > 10

    # A tiny random Llama with the *base* vocabulary: the trainer must resize it to the extension.
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=32000, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256)  # fmt: skip
    LlamaForCausalLM(cfg).save_pretrained(tmp_path / "tiny")
    # A base model folder carries its own tokenizer: the trainer scores the base on the eval sets with it.
    AutoTokenizer.from_pretrained(str(base_tok)).save_pretrained(tmp_path / "tiny")
    make(
        "train",
        OUT=str(out),
        TRAIN_CONFIG="configs/train/tiny-cpu.yaml",
        BASE_MODEL=str(tmp_path / "tiny"),
        BASE_TOKENIZER=str(base_tok),
        TRAIN_ARGS="max_steps=6 eval_steps=3 save_steps=3 logging_steps=2",
    )
    model = out / "model"
    assert (model / "model.safetensors").exists() and (model / "config.json").exists()
    assert json.loads((model / "config.json").read_text())["vocab_size"] == shards["vocab_size"]
    ev = json.loads((model / "eval.json").read_text())
    assert "bits_per_byte" in json.dumps(ev)
    assert (model / "loss.png").stat().st_size > 1000
    assert "<img" in (model / "report.html").read_text()

    r = subprocess.run(
        [sys.executable, "-m", "tibcpt.cli", "generate", "--model", str(model), "བོད་ཀྱི་", "--max-new-tokens", "8"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() and not r.stdout.startswith("བོད་ཀྱི་")
