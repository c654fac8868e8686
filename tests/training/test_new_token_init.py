"""New-token embedding init (training/model.py `resize_embeddings`) on real extended tokenizers.

Both families tibcpt extends: byte-level BPE with Tibetan added tokens (SmolLM2 style, built by the
trainer fixtures and `tibcpt.pipeline.tokens.bpe.extend_fast_tokenizer`) and Llama-2's real
SentencePiece model with Tibetan pieces appended to its proto (`extend_spm_file`). The expected base
ids are computed here from the tokenizers' public encode/decode, not from the code under test.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import torch
from conftest import SHARED, make_tiny_model, make_tokenizers, tibetan_docs
from tibcpt.pipeline.tokens.bpe import extend_fast_tokenizer
from tibcpt.pipeline.tokens.spm import extend_spm_file
from tibcpt.training.model import resize_embeddings
from transformers import AutoTokenizer, LlamaForCausalLM

LLAMA2 = SHARED / "tokenizers" / "llama2"


def syllables(n: int) -> list[str]:
    """The `n` most frequent multi-letter Tibetan syllables of the real sample text."""
    counts: dict[str, int] = {}
    for d in tibetan_docs(20_000):
        for s in d.split("\u0f0b"):
            if 1 < len(s) < 6 and " " not in s:
                counts[s] = counts.get(s, 0) + 1
    return [s for s, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


@pytest.fixture(scope="module")
def bytelevel(tmp_path_factory):
    """(base, extended): byte-level BPE + 40 Tibetan syllables + space-led pieces (" ས" style)."""
    base, ext = make_tokenizers(tmp_path_factory.mktemp("bl"))
    extend_fast_tokenizer(ext, [("\u2581" + s, 0.0) for s in syllables(5)] + [("\u0f0b\u0f0d", 0.0)])
    return base, ext


@pytest.fixture(scope="module")
def llama2(tmp_path_factory):
    """(base, extended): Llama-2's real tokenizer.model with Tibetan pieces appended, word-start
    ("▁X", = " X") and word-internal ("X") forms of the same syllables."""
    out = tmp_path_factory.mktemp("l2")
    shutil.copy(LLAMA2 / "tokenizer.model", out / "tokenizer.model")
    sylls = syllables(8)
    pieces = [(s, 0.0) for s in sylls] + [("\u2581" + s, 0.0) for s in sylls]
    ext_dir = out / "ext"
    ext_dir.mkdir()
    extend_spm_file(LLAMA2 / "tokenizer.model", pieces, ext_dir / "tokenizer.model")
    return AutoTokenizer.from_pretrained(out), AutoTokenizer.from_pretrained(ext_dir)


def model_for(tmp_path: Path, vocab: int, tie: bool) -> LlamaForCausalLM:
    return LlamaForCausalLM.from_pretrained(make_tiny_model(tmp_path / "m", vocab, tie=tie))


def bytelevel_expected(base, ext, i: int) -> list[int]:
    text = ext.decode([i])
    ids = base(text, add_special_tokens=False)["input_ids"]
    assert base.decode(ids) == text and ids
    return ids


def llama2_expected(base, ext, i: int) -> list[int]:
    """Base ids of new piece i as Llama-2 itself splits that text where the piece stands: "▁X" at a
    word start (encode("X"): the dummy prefix is the space), "X" inside a word (encode("X") minus
    the dummy-prefix token "▁" it gains)."""
    piece = ext.convert_ids_to_tokens(i)
    ids = base(piece.lstrip("\u2581"), add_special_tokens=False)["input_ids"]
    if not piece.startswith("\u2581"):
        assert base.convert_ids_to_tokens(ids[:1]) == ["\u2581"], piece
        ids = ids[1:]
    assert base.convert_tokens_to_string(["a", *base.convert_ids_to_tokens(ids)]) == "a" + piece.replace("\u2581", " ")
    return ids


FAMILIES = [("bytelevel", bytelevel_expected), ("llama2", llama2_expected)]


@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("family,expected", FAMILIES)
def test_subword_mean_rows_are_the_mean_of_the_base_rows(request, tmp_path, family, expected, tie):
    base, ext = request.getfixturevalue(family)
    old, new = len(base), len(ext)
    model = model_for(tmp_path, old, tie)
    emb0 = model.get_input_embeddings().weight.detach().clone()
    out0 = model.get_output_embeddings().weight.detach().clone()
    assert resize_embeddings(model, new, "subword_mean", base, ext)
    emb, out = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    assert emb.shape[0] == new and model.config.vocab_size == new
    assert torch.equal(emb[:old], emb0) and torch.equal(out[:old], out0)  # base rows unchanged
    checked = 0
    for i in range(old, new):
        ids = expected(base, ext, i)
        torch.testing.assert_close(emb[i], emb0[ids].mean(0), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out[i], (emb0 if tie else out0)[ids].mean(0), rtol=1e-5, atol=1e-6)
        checked += 1
    assert checked == new - old >= 10
    if tie:
        assert out.data_ptr() == emb.data_ptr()
    # distinct tokens, distinct rows (under "mean" they would all coincide)
    assert len({tuple(r.tolist()) for r in emb[old:]}) == new - old


def test_sentencepiece_word_start_and_inside_pieces_differ(llama2, tmp_path):
    """ "▁X" and "X" are different tokens: one row carries the base's space piece, the other does not."""
    base, ext = llama2
    model = model_for(tmp_path, len(base), tie=False)
    emb0 = model.get_input_embeddings().weight.detach().clone()
    resize_embeddings(model, len(ext), "subword_mean", base, ext)
    vocab = ext.get_vocab()
    s = syllables(1)[0]
    inside, start = vocab[s], vocab["\u2581" + s]
    space = base.convert_tokens_to_ids("\u2581")
    parts = base(s, add_special_tokens=False)["input_ids"]  # ["▁", *letters]: Llama-2 prepends the space
    assert parts[0] == space
    emb = model.get_input_embeddings().weight
    torch.testing.assert_close(emb[start], emb0[parts].mean(0))
    torch.testing.assert_close(emb[inside], emb0[parts[1:]].mean(0))


def test_mean_init_gives_identical_rows_and_the_alias_still_works(bytelevel, tmp_path):
    base, ext = bytelevel
    for grow in (
        lambda m: resize_embeddings(m, len(ext), "mean", base, ext),
        lambda m: resize_embeddings(m, len(ext), init="mean"),
    ):
        model = model_for(tmp_path / str(id(grow)), len(base), tie=False)
        emb0 = model.get_input_embeddings().weight.detach().clone()
        out0 = model.get_output_embeddings().weight.detach().clone()
        assert grow(model)
        emb, out = model.get_input_embeddings().weight, model.get_output_embeddings().weight
        assert torch.equal(emb[: len(base)], emb0)
        torch.testing.assert_close(emb[len(base) :], emb0.mean(0).expand(len(ext) - len(base), -1))
        torch.testing.assert_close(out[len(base) :], out0.mean(0).expand(len(ext) - len(base), -1))


def test_no_base_ids_falls_back_to_the_all_rows_mean(tmp_path, caplog):
    """A base without byte fallback encodes Tibetan to [UNK] only: no subword carries its meaning,
    so those rows get the mean of all base rows; an English added token still gets its subwords."""
    from conftest import english_docs
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(english_docs(), trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]"]))
    base = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
    ext = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(tok.to_str()), unk_token="[UNK]")
    ext.add_tokens(["བོད", "ཡིག", "themselves"])
    model = model_for(tmp_path, len(base), tie=False)
    emb0 = model.get_input_embeddings().weight.detach().clone()
    with caplog.at_level(logging.INFO, logger="tibcpt.training.model"):
        resize_embeddings(model, len(ext), "subword_mean", base, ext)
    assert "1 rows from base subwords, 2 rows the all-rows mean" in caplog.text
    emb, vocab = model.get_input_embeddings().weight, ext.get_vocab()
    for t in ("བོད", "ཡིག"):
        torch.testing.assert_close(emb[vocab[t]], emb0.mean(0))
    ids = base("themselves", add_special_tokens=False)["input_ids"]
    assert base.unk_token_id not in ids
    torch.testing.assert_close(emb[vocab["themselves"]], emb0[ids].mean(0))


def test_without_a_base_tokenizer_every_new_row_is_the_mean(bytelevel, tmp_path):
    base, ext = bytelevel
    model = model_for(tmp_path, len(base), tie=True)
    emb0 = model.get_input_embeddings().weight.detach().clone()
    assert resize_embeddings(model, len(ext), "subword_mean", None, ext)
    torch.testing.assert_close(model.get_input_embeddings().weight[-1], emb0.mean(0))
    assert not resize_embeddings(model, len(ext), "subword_mean", None, ext)  # nothing left to add
