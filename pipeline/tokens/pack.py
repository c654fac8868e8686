"""Stage 9: tokenize the clean corpus and pack fixed-length token shards — `tibcpt pack`.

Reads `out/corpus/data/*.parquet`, tokenizes documents in batches on the fast
tokenizer's own worker thread pool (`encode_batch_fast`, `--workers` threads), appends EOS after every document, concatenates and cuts the stream
into `seq_len` sequences (the last partial one is dropped), splits train/validation by document
(id hash, the same rule as the tokenizer's held-out set) and writes the shard folder of
docs/CONTRACTS.md: `tokenizer/` (a copy: the folder is self-contained), `train/` and `validation/`
Parquet shards, and `manifest.json` written last.

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
from tibcpt.pipeline.sources.registry import load_sources
from tibcpt.pipeline.tokens.tokenizer import corpus_files, files_sha256, id_fraction, is_heldout, iter_docs
from tqdm import tqdm

from tibcpt.config import config_hash, load_config, to_dict
from tibcpt.io import write_json_atomic
from tibcpt.shards import shard_name, write_table

log = logging.getLogger(__name__)

FORMAT = "tibcpt-shards-v1"
SPLITS = ("train", "validation")
SHARD_SCHEMA = pa.schema(
    [
        ("input_ids", pa.list_(pa.int32())),
        ("n_bytes", pa.int64()),
        ("sources", pa.list_(pa.string())),
        ("source_tokens", pa.list_(pa.int32())),
    ]
)


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


# --- pure helpers --------------------------------------------------------------------------------


def copies(doc_id: str, weight: float) -> int:
    """How many times a training document appears: floor(weight), plus one with probability frac(weight).

    The fractional part is decided by id hash, so the same documents are kept on every run.
    """
    whole = math.floor(weight)
    return whole + int(id_fraction(doc_id, "weight") < weight - whole)


def token_bytes(lengths: np.ndarray, n_bytes: np.ndarray) -> np.ndarray:
    """UTF-8 bytes attributed to each token of documents with `lengths` tokens and `n_bytes` bytes.

    Token j of a document covers floor((j+1)B/T) - floor(jB/T) bytes: proportional within a document,
    exact per document (sums to B), integer. Exact per-token offsets would need `offsets` per token
    from the tokenizer, which costs more than the tokenization itself; bits per byte only needs the
    sums to be right, and sequence-level sums are off by less than one token's share at each cut.
    """
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    j = np.arange(total, dtype=np.int64) - starts
    T = np.repeat(lengths.astype(np.int64), lengths)
    B = np.repeat(n_bytes.astype(np.int64), lengths)
    return ((j + 1) * B) // np.maximum(T, 1) - (j * B) // np.maximum(T, 1)


def with_eos(ids: np.ndarray, lengths: np.ndarray, eos_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Insert `eos_id` after each document of the flat `ids`; return (ids, new lengths)."""
    ends = np.cumsum(lengths)
    return np.insert(ids, ends, eos_id).astype(np.int32), lengths + 1


class Packer:
    """Concatenates documents of one split and cuts full `seq_len` sequences; keeps the remainder."""

    def __init__(self, seq_len: int, n_sources: int) -> None:
        self.seq_len = seq_len
        self.n_sources = n_sources
        self.ids = np.zeros(0, np.int32)
        self.nbytes = np.zeros(0, np.int64)
        self.src = np.zeros(0, np.int32)

    def add(self, ids: np.ndarray, lengths: np.ndarray, n_bytes: np.ndarray, src: np.ndarray, eos_id: int) -> dict:
        """Add documents (flat ids, without EOS); return the finished sequences as column arrays."""
        tb = token_bytes(lengths, n_bytes)
        ids, lengths_eos = with_eos(ids, lengths, eos_id)
        tb = np.insert(tb, np.cumsum(lengths), 0)  # EOS covers no source text
        self.ids = np.concatenate([self.ids, ids])
        self.nbytes = np.concatenate([self.nbytes, tb])
        self.src = np.concatenate([self.src, np.repeat(src.astype(np.int32), lengths_eos)])
        n = len(self.ids) // self.seq_len
        cut = n * self.seq_len
        seqs = self.ids[:cut].reshape(n, self.seq_len)
        seq_bytes = self.nbytes[:cut].reshape(n, self.seq_len).sum(axis=1)
        counts = np.stack([np.bincount(r, minlength=self.n_sources) for r in self.src[:cut].reshape(n, self.seq_len)])
        self.ids, self.nbytes, self.src = self.ids[cut:], self.nbytes[cut:], self.src[cut:]
        return {"ids": seqs, "n_bytes": seq_bytes, "source_counts": counts.reshape(n, self.n_sources)}


def sequences_table(batch: dict, source_names: list[str]) -> pa.Table:
    """Arrow table of packed sequences (SHARD_SCHEMA) from `Packer.add` output."""
    ids = batch["ids"]
    n, L = ids.shape
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * L)
    input_ids = pa.ListArray.from_arrays(offsets, pa.array(ids.reshape(-1), pa.int32()))
    sources, source_tokens = [], []
    for row in batch["source_counts"]:
        nz = np.nonzero(row)[0]
        sources.append([source_names[i] for i in nz])
        source_tokens.append(row[nz].astype(np.int32).tolist())
    return pa.Table.from_arrays(
        [input_ids, pa.array(batch["n_bytes"], pa.int64()), pa.array(sources, pa.list_(pa.string())),
         pa.array(source_tokens, pa.list_(pa.int32()))],
        schema=SHARD_SCHEMA,
    )  # fmt: skip


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


def load_weights(sources_yaml: str | Path | None) -> dict[str, float]:
    """Source name -> weight from sources.yaml (all enabled sources); empty when not given."""
    if not sources_yaml:
        return {}
    return {s.name: s.weight for s in load_sources(sources_yaml)}


def _batches(files: list[Path], weights: dict[str, float], cfg: PackConfig) -> Iterator[tuple[list[str], list]]:
    """(texts, [(split, source, n_bytes, doc_id)]) batches: pass k streams docs with more than k copies."""
    max_copies = max([1] + [math.ceil(w) for w in weights.values()])
    for k in range(max_copies):
        texts, meta, size = [], [], 0
        for row in iter_docs(files, ("id", "text", "source")):
            if is_heldout(row["id"], cfg.validation_fraction):
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


def _tokenizer_info(folder: Path, tok) -> tuple[int, int]:
    """(eos_token_id, vocab size incl. added tokens) as `AutoTokenizer` will report them.

    Read with `tokenizers` and tokenizer_config.json rather than `AutoTokenizer`: importing
    transformers (and torch) costs more than tokenizing a small corpus.
    """
    conf_path = folder / "tokenizer_config.json"
    conf = json.loads(conf_path.read_text(encoding="utf-8")) if conf_path.is_file() else {}
    eos = conf.get("eos_token")
    eos = eos.get("content") if isinstance(eos, dict) else eos
    eos_id = tok.token_to_id(eos) if eos else None
    if eos_id is None:
        raise ValueError(f"{folder}: tokenizer_config.json names no eos_token known to tokenizer.json")
    return int(eos_id), tok.get_vocab_size(with_added_tokens=True)


def pack(
    corpus: Path, tokenizer: Path, out: Path, cfg: PackConfig, sources: str | Path | None = None,
    workers: int = 1, force: bool = False, weights: dict[str, float] | None = None,
) -> dict:  # fmt: skip
    """Write the token shard folder `out`; return its manifest. Skips if `out` is up to date.

    Source weights come from `sources` (sources.yaml) or, for callers that have them, `weights`.
    """
    files = corpus_files(corpus)
    tok_files = sorted(p for p in tokenizer.iterdir() if p.is_file())
    weights = dict(weights) if weights is not None else load_weights(sources)
    key = {
        "config": config_hash(cfg),
        "corpus": files_sha256(files),
        "tokenizer": files_sha256(tok_files),
        "weights": weights,
    }
    if not force and (out / "manifest.json").is_file():
        old = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        if old.get("key") == key:
            log.info("pack: %s is up to date (same config, corpus, tokenizer, weights); skipping", out)
            return old

    # One load of tokenizer.json (a 20k-piece extension takes ~0.3 s to parse).
    eos_id, vocab_size = _tokenizer_info(tokenizer, _load_tokenizer(str(tokenizer / "tokenizer.json"), workers))
    source_names = sorted(
        {s for f in files for s in pq.read_table(f, columns=["source"]).column("source").unique().to_pylist()}
    )
    src_index = {s: i for i, s in enumerate(source_names)}
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix=f".tmp-{out.name}-", dir=out.parent) as td:
        stage = Path(td) / "shards"
        shutil.copytree(tokenizer, stage / "tokenizer")
        packers = {s: Packer(cfg.seq_len, len(source_names)) for s in SPLITS}
        pending: dict[str, list[pa.Table]] = {s: [] for s in SPLITS}
        stats = {
            s: {"sequences": 0, "tokens": 0, "bytes": 0, "per_source": {}, "shards": [], "docs": 0} for s in SPLITS
        }
        val_ids: set[str] = set()

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

        batches = _batches(files, weights, cfg)
        # In-process on the tokenizer's own thread pool (`workers` threads), not a process pool:
        # measured 700k tokens/s on 2 cores against 600k for 2 worker processes, which pay for
        # shipping texts and ids between processes (bench/results/pack.json). Batches stay in order,
        # so the output does not depend on the number of threads.
        results = map(_encode_item, batches)
        n_tokens_in = 0
        for flat, lengths, meta in tqdm(results, desc="pack", unit="batch", mininterval=5):
            n_tokens_in += int(lengths.sum())
            doc_starts = np.cumsum(lengths) - lengths
            for split in SPLITS:
                sel = np.array([m[0] == split for m in meta], bool)
                if not sel.any():
                    continue
                idx = np.nonzero(sel)[0]
                ids = np.concatenate([flat[doc_starts[i] : doc_starts[i] + lengths[i]] for i in idx])
                nb = np.array([meta[i][2] for i in idx], np.int64)
                src = np.array([src_index[meta[i][1]] for i in idx], np.int32)
                stats[split]["docs"] += len(idx)
                if split == "validation":
                    val_ids.update(meta[i][3] for i in idx)
                batch = packers[split].add(ids, lengths[idx], nb, src, eos_id)
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
            "vocab_size": vocab_size,
            "tokenizer": {"path": "tokenizer", "sha256": files_sha256(sorted((stage / "tokenizer").iterdir()))},
            "splits": stats,
            "validation_doc_ids": sorted(val_ids),
            "source_weights": {s: weights.get(s, 1.0) for s in source_names},
            "config": to_dict(cfg),
            "key": key,
        }
        write_json_atomic(stage / "manifest.json", manifest)
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(stage), str(out))
    log.info(
        "pack: %d tokens in %.1fs (%.0f tokens/s, %d threads); train %d seqs, validation %d seqs",
        n_tokens_in, elapsed, n_tokens_in / max(elapsed, 1e-9), workers,
        stats["train"]["sequences"], stats["validation"]["sequences"],
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
    parser.add_argument("--sources", default=None, help="sources.yaml, for per-source weights")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="tokenizer threads")
    parser.add_argument("--config", default=None, help="YAML config (configs/pipeline/pack.yaml)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the output is up to date")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")


def cli(args: argparse.Namespace) -> int:
    cfg = load_config(PackConfig, args.config, args.overrides)
    m = pack(Path(args.corpus), Path(args.tokenizer), Path(args.out), cfg, args.sources, args.workers, args.force)
    print(json.dumps({s: {k: m["splits"][s][k] for k in ("sequences", "tokens", "bytes")} for s in SPLITS}))
    return 0
