"""Fixtures for trainer tests: real-text shard folders and tiny random Llama models.

The pack stage is not imported (training/ must stand on the shard folder format alone): the
fixture trains a small byte-level BPE on real Tibetan (../shared/corpus) and English
(../shared/general/english-wikitext2) text, extends it with Tibetan syllables as added tokens
(so the model must be resized), and packs both languages per docs/CONTRACTS.md.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SEQ_LEN = 64
EOS = "<|endoftext|>"
TIBETAN_FILES = [
    "classical/classical-tibetan-corpus/mila.txt",
    "modern/udhr/udhr_bod.txt",
    "classical/old-tibetan-corpus/otannals.txt",
]


def tibetan_docs(max_chars: int = 60_000) -> list[str]:
    docs: list[str] = []
    for rel in TIBETAN_FILES:
        text = (SHARED / "corpus" / rel).read_text(encoding="utf-8")[: max_chars // len(TIBETAN_FILES)]
        docs += [p.strip() for p in text.split("\n") if len(p.strip()) > 40]
    return docs


def english_docs(max_chars: int = 40_000) -> list[str]:
    text = (SHARED / "general" / "english-wikitext2" / "valid.txt").read_text(encoding="utf-8")[:max_chars]
    return [p.strip() for p in text.split("\n") if len(p.strip()) > 40]


def make_tokenizers(out: Path):
    """(base, extended) PreTrainedTokenizerFast; extended = base + Tibetan syllables as added tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(tibetan_docs() + english_docs(), trainer)
    base = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS)
    base.save_pretrained(out / "base-tokenizer")
    ext = PreTrainedTokenizerFast.from_pretrained(out / "base-tokenizer")
    syllables: dict[str, int] = {}
    for d in tibetan_docs(20_000):
        for s in d.split("\u0f0b"):  # tsheg
            if 1 < len(s) < 6:
                syllables[s] = syllables.get(s, 0) + 1
    top = [s for s, _ in sorted(syllables.items(), key=lambda kv: -kv[1])[:40]]
    ext.add_tokens(top)
    return base, ext


def pack(tokenizer, docs: list[str], source: str) -> list[dict]:
    """Concatenate doc tokens + EOS, cut into SEQ_LEN rows; bytes shared out per token of each doc."""
    ids: list[int] = []
    byte_share: list[float] = []
    for d in docs:
        t = tokenizer(d, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids += t
        byte_share += [len(d.encode("utf-8")) / len(t)] * len(t)
    rows = []
    for i in range(len(ids) // SEQ_LEN):
        chunk = slice(i * SEQ_LEN, (i + 1) * SEQ_LEN)
        rows.append(
            {
                "input_ids": ids[chunk],
                "n_bytes": round(sum(byte_share[chunk])),
                "sources": [source],
                "source_tokens": [SEQ_LEN],
            }
        )
    return rows


SCHEMA = pa.schema(
    [
        ("input_ids", pa.list_(pa.int32())),
        ("n_bytes", pa.int64()),
        ("sources", pa.list_(pa.string())),
        ("source_tokens", pa.list_(pa.int32())),
    ]
)


def write_shard_folder(folder: Path, tokenizer, docs: list[str], source: str, n_val: int) -> Path:
    rows = pack(tokenizer, docs, source)
    splits = {"validation": rows[:n_val], "train": rows[n_val:]}
    tokenizer.save_pretrained(folder / "tokenizer")
    tok_sha = hashlib.sha256((folder / "tokenizer" / "tokenizer.json").read_bytes()).hexdigest()
    manifest = {
        "format": "tibcpt-shards-v1",
        "seq_len": SEQ_LEN,
        "eos_token_id": tokenizer.eos_token_id,
        # as `tibcpt pack` records it for a byte-level BPE base: EOS after each document, no BOS
        "document_separator": {
            "family": "byte-level-endoftext",
            "bos_token": None,
            "bos_token_id": None,
            "eos_token": tokenizer.eos_token,
            "eos_token_id": tokenizer.eos_token_id,
            "rule": "test fixture: EOS after each document",
        },
        "vocab_size": len(tokenizer),
        "tokenizer": {"path": "tokenizer", "sha256": tok_sha},
        "splits": {},
        "validation_doc_ids": [],
    }
    for name, split_rows in splits.items():
        (folder / name).mkdir(parents=True)
        table = pa.Table.from_pylist(split_rows, schema=SCHEMA)
        # Small row groups so the two-level shuffle and row-group skipping are exercised.
        pq.write_table(table, folder / name / "shard-00000.parquet", row_group_size=16, compression="zstd")
        manifest["splits"][name] = {
            "sequences": len(split_rows),
            "tokens": len(split_rows) * SEQ_LEN,
            "bytes": int(sum(r["n_bytes"] for r in split_rows)),
            "per_source": {source: len(split_rows) * SEQ_LEN},
            "shards": [f"{name}/shard-00000.parquet"],
        }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return folder


def make_tiny_model(path: Path, vocab_size: int, tokenizer=None, tie: bool = False, layers: int = 2) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=tie,
        eos_token_id=0,
        bos_token_id=0,
    )
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(path, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def assets(tmp_path_factory) -> dict[str, Path]:
    """Tibetan + English shard folders (extended tokenizer) and a tiny model with the base vocab."""
    root = tmp_path_factory.mktemp("train-assets")
    base, ext = make_tokenizers(root)
    tib = write_shard_folder(root / "shards-bo", ext, tibetan_docs(), "tibetan-sample", n_val=16)
    eng = write_shard_folder(root / "shards-en", ext, english_docs(), "wikitext2", n_val=16)
    model = make_tiny_model(root / "tiny-model", len(base), tokenizer=base)
    return {
        "root": root,
        "tibetan": tib,
        "english": eng,
        "model": model,
        "base_vocab": len(base),
        "ext_vocab": len(ext),
    }


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
