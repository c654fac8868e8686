"""`tibcpt eval`: bits per byte on raw text, tokenizer-independent, documents scored separately."""

from __future__ import annotations

import json
import math

import pytest
import torch
from tibcpt.training.evaluate_text import TextEvalConfig, evaluate_documents, read_documents, windows

from tibcpt.cli import main
from tibcpt.errors import InputError


@pytest.mark.parametrize("n,window,stride", [(1, 4, 2), (5, 4, 2), (10, 4, 1), (37, 8, 5), (8, 8, 7)])
def test_windows_predict_every_token_once_with_context(n, window, stride):
    ids = list(range(100, 100 + n + 1))  # position 0 is the document-start token
    predicted = []
    for seq, skip in windows(ids, window, stride):
        assert 2 <= len(seq) <= window
        start = ids.index(seq[0])
        targets = [start + p + 1 for p in range(skip, len(seq) - 1)]
        assert all(t - start >= min(t, window - stride) for t in targets)  # context kept when sliding
        predicted += targets
    assert predicted == list(range(1, n + 1))


def test_uniform_model_scores_log2_vocab_per_token(assets):
    """A zero lm_head gives uniform logits: every token costs log2(V) bits, so bpb is hand-checkable."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(assets["model"])
    tok = AutoTokenizer.from_pretrained(assets["model"])
    with torch.no_grad():
        model.lm_head.weight.zero_()
    docs = ["བཀྲ་ཤིས་བདེ་ལེགས། ཁྱེད་རང་སྐུ་གཟུགས་བདེ་པོ་ཡིན་པས།", "The quick brown fox jumps over the lazy dog. " * 5]
    res = evaluate_documents(model, tok, docs, TextEvalConfig(window=16, stride=8, batch_size=3))
    n_tok = sum(len(tok(d, add_special_tokens=False)["input_ids"]) for d in docs)
    n_bytes = sum(len(d.encode()) for d in docs)
    assert res["tokens"] == n_tok and res["bytes"] == n_bytes and res["docs"] == 2
    assert res["bits_per_byte"] == pytest.approx(n_tok * math.log2(len(tok)) / n_bytes, rel=1e-5)


def test_window_size_barely_changes_a_real_model_and_documents_are_separate(assets):
    """Sliding windows with more context can only help a trained model, never change the bytes."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(assets["tibetan"] / "tokenizer")
    model = AutoModelForCausalLM.from_pretrained(assets["model"])
    model.resize_token_embeddings(len(tok))
    docs = read_documents_from(assets)
    a = evaluate_documents(model, tok, docs, TextEvalConfig(window=64, stride=32))
    b = evaluate_documents(model, tok, docs, TextEvalConfig(window=32, stride=31))
    assert a["bytes"] == b["bytes"] and a["tokens"] == b["tokens"]
    assert a["bits_per_byte"] != b["bits_per_byte"]
    # one document at a time gives the same total as the set: no context crosses documents
    parts = [evaluate_documents(model, tok, [d], TextEvalConfig(window=64, stride=32)) for d in docs[:3]]
    whole = evaluate_documents(model, tok, docs[:3], TextEvalConfig(window=64, stride=32))
    bits = sum(p["bits_per_byte"] * p["bytes"] for p in parts)
    assert bits == pytest.approx(whole["bits_per_byte"] * whole["bytes"], rel=1e-4)


def read_documents_from(assets) -> list[str]:
    from conftest import tibetan_docs

    return tibetan_docs(6_000)[:6]


def test_file_formats_and_bad_input(tmp_path):
    (tmp_path / "a.txt").write_text("one\nstill one\n\n\ntwo\n", encoding="utf-8")
    assert read_documents(tmp_path / "a.txt") == ["one\nstill one", "two"]
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "x y"}) + "\n\n" + json.dumps({"text": "z"}) + "\n")
    assert read_documents(tmp_path / "b.jsonl") == ["x y", "z"]
    (tmp_path / "c.jsonl").write_text('{"txt": 1}\n')
    with pytest.raises(InputError, match="c.jsonl:1"):
        read_documents(tmp_path / "c.jsonl")
    with pytest.raises(InputError, match="not found"):
        read_documents(tmp_path / "missing.txt")


def test_cli_compares_base_and_extended_tokenizer_on_the_same_bytes(assets, tmp_path, capsys):
    """The base model (its own tokenizer) and a resized copy (extended tokenizer) score the same bytes."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ext = AutoTokenizer.from_pretrained(assets["tibetan"] / "tokenizer")
    model = AutoModelForCausalLM.from_pretrained(assets["model"])
    model.resize_token_embeddings(len(ext))
    model.save_pretrained(tmp_path / "cpt")
    ext.save_pretrained(tmp_path / "cpt")
    text = tmp_path / "bo.txt"
    text.write_text("\n\n".join(read_documents_from(assets)), encoding="utf-8")
    out = {}
    for name, folder in (("base", assets["model"]), ("cpt", tmp_path / "cpt")):
        assert (
            main(
                [
                    "eval",
                    "--model",
                    str(folder),
                    "--window",
                    "32",
                    "--stride",
                    "16",
                    f"bo={text}",
                    "--out",
                    str(tmp_path / f"{name}.json"),
                ]
            )
            == 0
        )
        out[name] = json.loads((tmp_path / f"{name}.json").read_text())["sets"]["bo"]
    assert (
        out["base"]["bytes"]
        == out["cpt"]["bytes"]
        == len(text.read_text(encoding="utf-8").replace("\n\n", "").encode())
    )
    assert out["cpt"]["tokens_per_byte"] < out["base"]["tokens_per_byte"]  # the extension packs Tibetan tighter
    assert "bits/byte" in capsys.readouterr().out
    assert main(["eval", "--model", str(assets["model"]), "bo-only-a-name"]) == 2


def test_documents_start_with_the_separator_the_shards_use(shared, assets, tmp_path):
    """Eval and generate start a document after the token the shards put there
    (pipeline/tokens/separators.py): read from the record beside the tokenizer, else guessed."""
    import json
    import shutil

    from tibcpt.training.evaluate_text import SEPARATOR_FILE, start_token
    from transformers import AutoTokenizer

    # A shard folder's tokenizer: the manifest beside it says (byte-level SmolLM2 style: EOS).
    shard_tok = AutoTokenizer.from_pretrained(assets["tibetan"] / "tokenizer")
    manifest = json.loads((assets["tibetan"] / "manifest.json").read_text())
    assert manifest["document_separator"]["bos_token_id"] is None
    assert start_token(shard_tok) == manifest["document_separator"]["eos_token_id"] == shard_tok.eos_token_id
    # A model folder with the record the trainer writes: a Llama-2-style BOS separator wins.
    model_dir = tmp_path / "model"
    shutil.copytree(assets["tibetan"] / "tokenizer", model_dir)
    sep = {"family": "sentencepiece-bos", "bos_token_id": 7, "eos_token_id": None}
    (model_dir / SEPARATOR_FILE).write_text(json.dumps(sep))
    assert start_token(AutoTokenizer.from_pretrained(model_dir)) == 7
    # No record (a base model): a tokenizer that starts every encoding with BOS gets BOS.
    base = tmp_path / "base"
    shutil.copytree(assets["tibetan"] / "tokenizer", base)
    (base / SEPARATOR_FILE).unlink(missing_ok=True)
    plain = AutoTokenizer.from_pretrained(base)
    assert start_token(plain) == plain.eos_token_id == plain.convert_tokens_to_ids("<|endoftext|>")
    # The SmolLM2 Instruct GGUF calls <|im_end|> EOS; its pretraining separator is <|endoftext|>.
    plain.add_special_tokens({"eos_token": "<|im_end|>"})
    assert plain.eos_token_id != plain.convert_tokens_to_ids("<|endoftext|>")
    assert start_token(plain) == plain.convert_tokens_to_ids("<|endoftext|>")
    plain.add_bos_token = True
    if plain("a")["input_ids"][:1] == [plain.bos_token_id]:  # where this transformers honours the flag
        assert start_token(plain) == plain.bos_token_id


def test_a_llama2_base_starts_documents_with_bos(shared, tmp_path):
    """Llama-2 (SentencePiece) put <s> before every pretraining document, also where the tokenizer
    folder (a bare tokenizer.model) does not add it by itself."""
    import shutil

    from tibcpt.training.evaluate_text import start_token
    from transformers import AutoTokenizer

    shutil.copy(shared / "tokenizers" / "llama2" / "tokenizer.model", tmp_path / "tokenizer.model")
    tok = AutoTokenizer.from_pretrained(tmp_path)
    assert start_token(tok) == tok.bos_token_id == 1 != tok.eos_token_id
