"""Stage 9: tokenize the clean corpus and pack fixed-length token shards — `tibcpt pack`.

Reads `out/corpus/data/*.parquet`, tokenizes documents in batches on the fast
tokenizer's own worker thread pool (`encode_batch_fast`, `--workers` threads), puts the model
family's document separators around every document (`separators.py`: `<|endoftext|>` after each for
SmolLM2, `<s>` before each for Llama-2), concatenates and cuts the stream into `seq_len` sequences
(the last partial one is dropped), splits train/validation by document (id hash, the same rule as the
tokenizer's held-out set), puts evaluation-only sources into `test` (never train) and writes the
shard folder of docs/CONTRACTS.md: `tokenizer/` (a copy: the folder is self-contained), `train/`,
`validation/` and `test/` Parquet shards, and `manifest.json` written last.

Source weights (sources.yaml `weight`) apply to train only: weight 2.0 puts each document in two
passes over the corpus (a second copy lands far from the first, not in the same sequence), 0.5
keeps a deterministic half by id hash. Validation keeps every validation document exactly once so
that its bits per byte compare across weightings.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tibcpt.pipeline.tokens.heldout import SourceInfo, is_heldout, source_info
from tibcpt.pipeline.tokens.packing import Packer, copies, sequences_table
from tibcpt.pipeline.tokens.separators import config_token, document_separators
from tibcpt.pipeline.tokens.tokenizer import corpus_files, files_sha256, iter_docs
from tqdm import tqdm

from tibcpt.config import config_hash, load_config, to_dict
from tibcpt.errors import InputError
from tibcpt.io import check_replaceable, write_json_atomic
from tibcpt.shards import shard_name, write_table

log = logging.getLogger(__name__)

FORMAT = "tibcpt-shards-v1"
SPLITS = ("train", "validation", "test")
"""`test`: documents of evaluation-only sources (sources.yaml `eval_only: true`), packed source by
source (no sequence mixes two of them), never weighted; `datasets` loads it as the `test` split."""


@dataclass
class PackConfig:
    seq_len: int = 2048
    """Tokens per packed sequence (Llama-2 context length)."""
    validation_fraction: float = 0.02
    """Documents whose id hash falls below this go to validation (same rule and default as the
    tokenizer's held-out set, so fertility is measured on documents the model never trains on)."""
    shard_mb: int = 128
    """Target size of a shard's token ids in MiB (int32); the last shard of a split is smaller."""
    batch_docs: int = 512
    """Most documents per tokenization batch sent to a worker."""
    batch_bytes: int = 4 * 1024 * 1024
    """A batch also closes at this much text, so a few book-length documents still spread over the
    tokenizer threads (the 17 MB sample is ~500 docs: by count alone it would be one batch)."""
    compression: str = "zstd"
    """Parquet compression codec."""

    def __post_init__(self) -> None:
        if not 16 <= self.seq_len <= 1 << 20:
            raise ValueError(f"seq_len must be in [16, 1048576], got {self.seq_len}")
        if not 0.0 <= self.validation_fraction < 0.5:
            raise ValueError(f"validation_fraction must be in [0, 0.5), got {self.validation_fraction}")
        if self.shard_mb < 1:
            raise ValueError(f"shard_mb must be >= 1, got {self.shard_mb}")
        if self.batch_docs < 1:
            raise ValueError(f"batch_docs must be >= 1, got {self.batch_docs}")
        if self.batch_bytes < 1:
            raise ValueError(f"batch_bytes must be >= 1, got {self.batch_bytes}")
        if self.compression not in ("zstd", "snappy", "gzip", "none"):
            raise ValueError(f"compression must be zstd, snappy, gzip or none, got {self.compression!r}")

    @property
    def rows_per_shard(self) -> int:
        return max(1, (self.shard_mb << 20) // (4 * self.seq_len))


# --- tokenization ---------------------------------------------------------------------------------

_TOKENIZER = None


def _load_tokenizer(tokenizer_json: str, threads: int):
    # encode_batch_fast parallelises over the batch on the tokenizer's Rust (rayon) thread pool;
    # RAYON_NUM_THREADS is read when that pool starts, i.e. at the first batch of this process.
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    os.environ.setdefault("RAYON_NUM_THREADS", str(max(1, threads)))
    global _TOKENIZER
    from tokenizers import Tokenizer

    _TOKENIZER = Tokenizer.from_file(tokenizer_json)
    # Corpus text is text: a literal "<|endoftext|>" or "<s>" in a document (WikiText's "<unk>" for
    # Llama-2) must not become a control token, or documents could forge separators. sentencepiece
    # reads such strings as text too, so this is also what tokenizer.model gives.
    _TOKENIZER.encode_special_tokens = True
    return _TOKENIZER


def encode_texts(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of `texts` (no special tokens) as one flat int32 array plus per-text lengths."""
    encs = _TOKENIZER.encode_batch_fast(texts, add_special_tokens=False)
    lengths = np.fromiter((len(e.ids) for e in encs), np.int64, len(encs))
    flat = np.fromiter(itertools.chain.from_iterable(e.ids for e in encs), np.int32, int(lengths.sum()))
    return flat, lengths


def _encode_item(item: tuple[list[str], list]) -> tuple[np.ndarray, np.ndarray, list]:
    texts, meta = item
    flat, lengths = encode_texts(texts)
    return flat, lengths, meta


# --- the stage -----------------------------------------------------------------------------------


def _batches(files: list[Path], info: SourceInfo, cfg: PackConfig) -> Iterator[tuple[list[str], list]]:
    """(texts, [(split, source, n_bytes, doc_id)]) batches: pass k streams docs with more than k copies."""
    weights = info.weights
    max_copies = max([1] + [math.ceil(w) for w in weights.values()])
    for k in range(max_copies):
        texts, meta, size = [], [], 0
        for row in iter_docs(files, ("id", "text", "source")):
            if row["source"] in info.eval_only:  # evaluation text: once, and never in train
                if k > 0:
                    continue
                split = "test"
            elif is_heldout(row["id"], cfg.validation_fraction):
                if k > 0:
                    continue
                split = "validation"
            elif copies(row["id"], weights.get(row["source"], 1.0)) <= k:
                continue
            else:
                split = "train"
            n_bytes = len(row["text"].encode("utf-8"))
            texts.append(row["text"])
            meta.append((split, row["source"], n_bytes, row["id"]))
            size += n_bytes
            if len(texts) >= cfg.batch_docs or size >= cfg.batch_bytes:
                yield texts, meta
                texts, meta, size = [], [], 0
        if texts:
            yield texts, meta


def _tokenizer_info(folder: Path, tok) -> tuple[int | None, int]:
    """(eos_token_id or None, vocab size incl. added tokens) as `AutoTokenizer` will report them.

    Read with `tokenizers` and tokenizer_config.json rather than `AutoTokenizer`: importing
    transformers (and torch) costs more than tokenizing a small corpus.
    """
    eos = config_token(folder, "eos_token")
    eos_id = tok.token_to_id(eos) if eos else None
    return eos_id, tok.get_vocab_size(with_added_tokens=True)


def pack(
    corpus: Path, tokenizer: Path, out: Path, cfg: PackConfig, sources: str | Path | None = None,
    workers: int = 1, force: bool = False, weights: dict[str, float] | None = None,
    eval_only: set[str] | None = None,
) -> dict:  # fmt: skip
    """Write the token shard folder `out`; return its manifest. Skips if `out` is up to date.

    Source weights and evaluation-only sources come from `sources` (sources.yaml) and the corpus
    manifest or, for callers that have them, `weights` / `eval_only`.
    """
    files = corpus_files(corpus)
    tok_files = sorted(p for p in tokenizer.iterdir() if p.is_file())
    info = source_info(sources, corpus)
    if weights is not None:
        info.weights = dict(weights)
    if eval_only is not None:
        info.eval_only = set(eval_only)
    weights = info.weights
    key = {
        "config": config_hash(cfg),
        "corpus": files_sha256(files),
        "tokenizer": files_sha256(tok_files),
        "weights": weights,
        "eval_only": sorted(info.eval_only),
    }
    check_replaceable(out, "manifest.json", "a token shard folder", fmt=FORMAT)  # it is replaced at the end
    if not force and (out / "manifest.json").is_file():
        old = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        if old.get("key") == key:
            log.info("pack: %s is up to date (same config, corpus, tokenizer, weights); skipping", out)
            return old

    # One load of tokenizer.json (a 20k-piece extension takes ~0.3 s to parse).
    tok = _load_tokenizer(str(tokenizer / "tokenizer.json"), workers)
    eos_id, vocab_size = _tokenizer_info(tokenizer, tok)
    sep = document_separators(tokenizer, tok.get_vocab(with_added_tokens=True))
    eos_id = sep.eos_token_id if sep.eos_token_id is not None else eos_id
    if eos_id is None:
        raise InputError(f"{tokenizer}: tokenizer_config.json names no eos_token known to tokenizer.json")
    source_names = sorted(
        {s for f in files for s in pq.read_table(f, columns=["source"]).column("source").unique().to_pylist()}
    )
    src_index = {s: i for i, s in enumerate(source_names)}
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix=f".tmp-{out.name}-", dir=out.parent) as td:
        stage = Path(td) / "shards"
        shutil.copytree(tokenizer, stage / "tokenizer")
        packers: dict[tuple[str, str], Packer] = {}  # (split, source for test / "" otherwise)
        pending: dict[str, list[pa.Table]] = {s: [] for s in SPLITS}
        stats = {
            s: {"sequences": 0, "tokens": 0, "bytes": 0, "per_source": {}, "shards": [], "docs": 0} for s in SPLITS
        }
        held_ids: dict[str, set[str]] = {"validation": set(), "test": set()}

        def flush(split: str, final: bool = False) -> None:
            rows = sum(t.num_rows for t in pending[split])
            while rows >= cfg.rows_per_shard or (final and rows):
                table = pa.concat_tables(pending[split])
                take = min(rows, cfg.rows_per_shard)
                name = f"{split}/{shard_name(len(stats[split]['shards']))}"
                write_table(stage / name, table.slice(0, take), cfg.compression, row_group_size=1024)
                stats[split]["shards"].append(name)
                pending[split] = [table.slice(take)] if take < rows else []
                rows -= take

        batches = _batches(files, info, cfg)
        # In-process on the tokenizer's own thread pool (`workers` threads), not a process pool:
        # measured 700k tokens/s on 2 cores against 600k for 2 worker processes, which pay for
        # shipping texts and ids between processes (bench/results/pack.json). Batches stay in order,
        # so the output does not depend on the number of threads.
        results = map(_encode_item, batches)
        n_tokens_in = 0
        for flat, lengths, meta in tqdm(results, desc="pack", unit="batch", mininterval=5):
            n_tokens_in += int(lengths.sum())
            doc_starts = np.cumsum(lengths) - lengths
            groups: dict[tuple[str, str], list[int]] = {}
            for i, m in enumerate(meta):  # test: one packer per source, so no sequence mixes two sets
                groups.setdefault((m[0], m[1] if m[0] == "test" else ""), []).append(i)
            for (split, group), idx in groups.items():
                ids = np.concatenate([flat[doc_starts[i] : doc_starts[i] + lengths[i]] for i in idx])
                nb = np.array([meta[i][2] for i in idx], np.int64)
                src = np.array([src_index[meta[i][1]] for i in idx], np.int32)
                stats[split]["docs"] += len(idx)
                if split in held_ids:
                    held_ids[split].update(meta[i][3] for i in idx)
                if (split, group) not in packers:
                    packers[split, group] = Packer(cfg.seq_len, len(source_names), sep.bos_token_id, sep.eos_token_id)
                batch = packers[split, group].add(ids, lengths[np.array(idx)], nb, src)
                if len(batch["ids"]):
                    _count(stats[split], batch, source_names)
                    pending[split].append(sequences_table(batch, source_names))
                    flush(split)
        for split in SPLITS:
            flush(split, final=True)
        elapsed = time.time() - t0
        for split in SPLITS:
            stats[split]["per_source"] = dict(sorted(stats[split]["per_source"].items()))
        manifest = {
            "format": FORMAT,
            "seq_len": cfg.seq_len,
            "eos_token_id": eos_id,
            "bos_token_id": sep.bos_token_id,
            "document_separator": sep.to_dict(),
            "vocab_size": vocab_size,
            "tokenizer": {"path": "tokenizer", "sha256": key["tokenizer"]},  # the copy's files are the source's
            "splits": stats,
            "validation_doc_ids": sorted(held_ids["validation"]),
            "eval_only_sources": sorted(info.eval_only),
            "test_doc_ids": sorted(held_ids["test"]),
            "source_weights": {s: weights.get(s, 1.0) for s in source_names},
            "config": to_dict(cfg),
            "key": key,
        }
        write_json_atomic(stage / "manifest.json", manifest)
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(stage), str(out))
    log.info(
        "pack: %d tokens in %.1fs (%.0f tokens/s, %d threads); train %d seqs, validation %d, test %d",
        n_tokens_in, elapsed, n_tokens_in / max(elapsed, 1e-9), workers,
        stats["train"]["sequences"], stats["validation"]["sequences"], stats["test"]["sequences"],
    )  # fmt: skip
    return manifest


def _count(st: dict, batch: dict, source_names: list[str]) -> None:
    n = len(batch["ids"])
    st["sequences"] += n
    st["tokens"] += n * batch["ids"].shape[1]
    st["bytes"] += int(batch["n_bytes"].sum())
    for i, c in enumerate(batch["source_counts"].sum(axis=0)):
        if c:
            st["per_source"][source_names[i]] = st["per_source"].get(source_names[i], 0) + int(c)


def add_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", required=True, help="clean corpus folder (data/*.parquet)")
    parser.add_argument("--tokenizer", required=True, help="tokenizer folder (tokenizer.json)")
    parser.add_argument("--out", required=True, help="output shard folder")
    parser.add_argument("--sources", default=None, help="sources.yaml: per-source weights and eval_only sources")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="tokenizer threads")
    parser.add_argument("--config", default=None, help="YAML config (configs/pipeline/pack.yaml)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the output is up to date")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")


def cli(args: argparse.Namespace) -> int:
    cfg = load_config(PackConfig, args.config, args.overrides)
    m = pack(Path(args.corpus), Path(args.tokenizer), Path(args.out), cfg, args.sources, args.workers, args.force)
    print(json.dumps({s: {k: m["splits"][s][k] for k in ("sequences", "tokens", "bytes")} for s in SPLITS}))
    return 0
