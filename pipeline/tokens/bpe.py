"""Byte-level BPE side of vocabulary extension (SmolLM2, Llama-3 style `tokenizer.json`).

Two ways exist to teach a byte-level BPE tokenizer Tibetan: (a) added tokens, matched
leftmost-longest before pre-tokenization, or (b) new vocab entries plus merges, which also needs a
pre-tokenizer that keeps a Tibetan syllable whole (the GPT-2 split regex `?\\p{L}+` separates the
letters from the vowel signs, category Mn, so merges could never form a syllable). We use (a):

- it cannot change non-Tibetan text: an added token is matched only where its exact Tibetan string
  occurs, and the base model, pre-tokenizer and merges stay byte-identical;
- (b) has to splice a regex into the pre-tokenizer and append merges below the base's ~49k, where
  base merges over the Tibetan UTF-8 lead bytes (e.g. `à¼`) win first and strand many new merges;
- measured (bench/pack.py, bench/results/pack.json): the added-token SmolLM2 reaches 0.99 tokens
  per syllable on held-out modern Tibetan (9.09 before), the same as the SentencePiece-extended
  Llama-2 (1.01), so (b) has nothing left to win on fertility. (b) is built too
  (`tokenizer_bpe_merges`, `bpe_mode: merges`): on out/corpus it reaches the same fertility (1.18 vs
  1.17 modern) but encodes 4x slower, so (a) stays the default (`bench/results/pack.json` bpe_modes).

Pieces come from the SentencePiece model trained by `tibcpt.pipeline.tokens.spm`; its space mark
U+2581 becomes a real space (byte-level tokenizers have no dummy prefix).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tibcpt.pipeline.tokens.spm import SPACE_MARK
from tokenizers import AddedToken

log = logging.getLogger(__name__)


def is_byte_level(tokenizer_json: Path) -> bool:
    """True if the tokenizer.json pre-tokenizes with ByteLevel (GPT-2 / Llama-3 / SmolLM2 family)."""
    spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    return "ByteLevel" in json.dumps(spec.get("pre_tokenizer"))


def added_token_strings(pieces: list[tuple[str, float]], base_vocab: dict[str, int]) -> list[str]:
    """SentencePiece pieces as added-token strings (U+2581 → space), minus ones the base already has."""
    out: list[str] = []
    seen: set[str] = set()
    for piece, _ in pieces:
        s = piece.replace(SPACE_MARK, " ")
        if s in seen or s in base_vocab:
            continue
        seen.add(s)
        out.append(s)
    return out


def extend_fast_tokenizer(tok: Any, pieces: list[tuple[str, float]]) -> int:
    """Add the Tibetan pieces to a transformers fast tokenizer as plain added tokens; return #added.

    `normalized=False`: the strings are matched on the raw text, and byte-level tokenizers have no
    normalizer anyway; `special=False` so `decode(skip_special_tokens=True)` keeps them.
    """
    strings = added_token_strings(pieces, tok.get_vocab())
    return int(tok.add_tokens([AddedToken(s, normalized=False, special=False) for s in strings]))
