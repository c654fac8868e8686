"""`tibcpt generate` never starts a syllable with a vowel sign or subjoined letter (issue 10)."""

from __future__ import annotations

import pytest
import torch
from tibcpt.training.generate import GenerateConfig, generate
from tibcpt.training.wellformed import MARKS, WellFormedTibetan, in_stack, token_bytes

PROMPT = "བོད་ཀྱི་"


def ill_formed_positions(text: str) -> list[int]:
    """Indices of combining marks that follow no Tibetan letter or mark (e.g. `།ྱ`, `་ི`, ` ོ`)."""
    return [i for i, ch in enumerate(text) if ord(ch) in MARKS and not in_stack(text[i - 1] if i else None)]


def test_the_check_itself():
    assert ill_formed_positions("བོད་ཀྱི་ཡུལ།") == []
    assert ill_formed_positions("ཡུལ།ྱ") == [4] and ill_formed_positions("ཀ་ི") == [2] and ill_formed_positions("ོ") == [0]


def mark_loving_model(assets, tokenizer):
    """A tiny Llama whose every next-token choice is a token that starts with a combining mark."""
    from transformers import LlamaConfig, LlamaForCausalLM

    pieces = WellFormedTibetan(tokenizer).pieces
    whole = [i for i, b in enumerate(pieces) if b.decode("utf-8", errors="replace")[:1] in {chr(m) for m in MARKS}]
    marks = torch.tensor(whole)  # complete characters, so the decoded text shows what was chosen
    assert len(marks) > 5, "the test tokenizer must have mark-initial pieces (byte-level BPE on Tibetan)"
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256, mlp_bias=True,
    )  # fmt: skip
    model = LlamaForCausalLM(cfg).eval()
    v = torch.randn(32)
    v /= v.norm()
    with torch.no_grad():
        model.model.layers[-1].mlp.down_proj.bias.copy_(100 * v)  # the residual stream points along v
        model.model.norm.weight.fill_(1.0)
        model.lm_head.weight.mul_(0.01)
        model.lm_head.weight[marks] = 10 * v + 0.5 * torch.randn(len(marks), 32)
    return model


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_mask_removes_ill_formed_starts_that_the_model_prefers(assets, temperature):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(assets["tibetan"] / "tokenizer")
    model = mark_loving_model(assets, tok)
    cfg = dict(max_new_tokens=24, temperature=temperature, top_k=0, top_p=1.0, seed=3)
    raw = generate(model, tok, PROMPT, GenerateConfig(**cfg, well_formed=False))
    assert ill_formed_positions(PROMPT + raw), "without the mask this model starts syllables with marks"
    masked = generate(model, tok, PROMPT, GenerateConfig(**cfg, well_formed=True))
    assert masked and ill_formed_positions(PROMPT + masked) == []


def test_token_bytes_round_trip_the_tokenizer(assets):
    """Per-token bytes concatenate to the text's bytes, also for pieces that split a character."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(assets["tibetan"] / "tokenizer")
    pieces = token_bytes(tok)
    for text in ["བོད་ཀྱི་ཡུལ། ཀྲུང་གོ", "English, café ཨོཾ་མ་ཎི་པདྨེ་ཧཱུྃ།"]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert b"".join(pieces[i] for i in ids) == text.encode("utf-8")
    base = AutoTokenizer.from_pretrained(assets["model"])
    partial = [b for b in token_bytes(base) if b and b[0] in (0xBD, 0xBE)]
    assert partial, "byte-level BPE has pieces that start inside a Tibetan character"


def test_output_stays_valid_utf8_after_a_partial_character(assets):
    """After a piece that ends inside a character only its continuations are allowed; with no
    character pending no piece may start with a continuation byte (both gave U+FFFD in samples)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(assets["model"])  # byte-level BPE: pieces split characters
    proc = WellFormedTibetan(tok)
    pieces = proc.pieces

    def allowed(ids: list[int]) -> list[bytes]:
        scores = proc(torch.tensor([ids]), torch.zeros(1, len(pieces)))
        return [pieces[i] for i in torch.isfinite(scores[0]).nonzero().flatten().tolist()]

    def is_cont(b: int) -> bool:
        return 0x80 <= b < 0xC0

    complete = tok("བོད་ཀྱི་", add_special_tokens=False)["input_ids"]
    ok = allowed(complete)
    assert ok and not any(b and is_cont(b[0]) for b in ok)
    lead = [i for i, b in enumerate(pieces) if b and b[-1] == 0xE0]  # ends with a 3-byte lead byte
    assert lead, "the base tokenizer has pieces that end inside a character"
    ok = allowed(complete + lead[:1])
    assert ok and all(is_cont(b[0]) and (len(b) < 2 or is_cont(b[1])) for b in ok if b)
    for b in ok:
        if len(b) >= 2:  # the character completes
            (pieces[lead[0]] + b[:2]).decode("utf-8", errors="strict")
