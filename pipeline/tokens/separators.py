"""Document separators per model family, taken from how the base model was pretrained (issue 10).

Continued pretraining should show the model document boundaries the way its pretraining did, or it
spends steps learning a new convention (and `generate` stops at the wrong token). One rule per family,
decided from the tokenizer folder alone (the extended folder keeps every special token of its base):

| family (how recognised) | before a document | after a document | source of the rule |
|---|---|---|---|
| Llama-2 / SentencePiece (`tokenizer.model`) | BOS `<s>` | nothing | Meta's `llama` `Tokenizer.encode(s, bos=True, eos=False)`; HF `LlamaTokenizer` `add_bos_token=True, add_eos_token=False` |
| Llama-3 (`<\\|begin_of_text\\|>` in the vocabulary) | `<\\|begin_of_text\\|>` | `<\\|end_of_text\\|>` | Llama-3 model card: documents end with `<\\|end_of_text\\|>`; the tokenizer adds BOS |
| SmolLM2 / GPT-2 byte-level BPE (`<\\|endoftext\\|>` in the vocabulary) | nothing | `<\\|endoftext\\|>` | SmolLM2's pretraining tokenization (datatrove `DocumentTokenizer`, `eos_token="<\\|endoftext\\|>"`) and its base `tokenizer_config.json` (bos = eos = `<\\|endoftext\\|>`); `<\\|im_end\\|>` is the Instruct model's end of a chat turn, not a document end |
| anything else | nothing | the tokenizer's `eos_token` | fallback; the manifest says so |
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tibcpt.errors import InputError

LLAMA3_BOS, LLAMA3_EOS = "<|begin_of_text|>", "<|end_of_text|>"
ENDOFTEXT = "<|endoftext|>"


@dataclass(frozen=True)
class Separators:
    """Token ids put around every document in the packed stream (None: nothing there)."""

    family: str
    bos_token: str | None
    bos_token_id: int | None
    eos_token: str | None
    eos_token_id: int | None
    rule: str
    """Where the rule comes from (written to the shard manifest)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def config_token(folder: Path, key: str) -> str | None:
    """The token string tokenizer_config.json names under `key` (e.g. "eos_token"), or None."""
    conf_path = folder / "tokenizer_config.json"
    conf = json.loads(conf_path.read_text(encoding="utf-8")) if conf_path.is_file() else {}
    tok = conf.get(key)
    return tok.get("content") if isinstance(tok, dict) else tok


def _spm_bos(model_file: Path) -> str | None:
    from sentencepiece import sentencepiece_model_pb2 as sp_pb2

    m = sp_pb2.ModelProto()
    m.ParseFromString(model_file.read_bytes())
    bos_id = m.trainer_spec.bos_id
    return m.pieces[bos_id].piece if 0 <= bos_id < len(m.pieces) else None


def family_tokens(folder: Path, vocab: dict[str, int]) -> tuple[str, str | None, str | None, str]:
    """(family, bos string or None, eos string or None, rule) for the tokenizer folder `folder`."""
    if (folder / "tokenizer.model").is_file():
        bos = _spm_bos(folder / "tokenizer.model") or config_token(folder, "bos_token")
        return ("llama2-sentencepiece", bos, None,
                "Llama-2: BOS before each document, no EOS (llama Tokenizer.encode(bos=True, eos=False))")  # fmt: skip
    if LLAMA3_BOS in vocab and LLAMA3_EOS in vocab:
        return "llama3", LLAMA3_BOS, LLAMA3_EOS, "Llama-3: <|begin_of_text|> document <|end_of_text|>"
    if ENDOFTEXT in vocab:
        return ("byte-level-endoftext", None, ENDOFTEXT,
                "SmolLM2/GPT-2 pretraining: <|endoftext|> after each document (not the Instruct <|im_end|>)")  # fmt: skip
    return (
        "fallback",
        None,
        config_token(folder, "eos_token"),
        "fallback: the tokenizer's eos_token after each document",
    )


def document_separators(folder: Path, vocab: dict[str, int]) -> Separators:
    """The family's separators with their ids in `vocab` (tokens + added tokens of the folder)."""
    family, bos, eos, rule = family_tokens(folder, vocab)
    for name, tok in (("bos", bos), ("eos", eos)):
        if tok is not None and tok not in vocab:
            raise InputError(f"{folder}: the {family} {name} token {tok!r} is not in the tokenizer's vocabulary")
    if bos is None and eos is None:
        raise InputError(f"{folder}: no document separator (no tokenizer.model, <|endoftext|> or eos_token)")
    return Separators(family, bos, vocab.get(bos) if bos else None, eos, vocab.get(eos) if eos else None, rule)
