"""`tibcpt eval --model DIR NAME=FILE ...`: bits per byte of a model on raw text, any tokenizer.

Bits per byte = Σ NLL of the document's tokens (bits) / Σ UTF-8 bytes of the document, so a base
model with its own tokenizer and a continued-pretraining model with an extended one are compared
on the same bytes (Gao et al. 2020, "The Pile", §4; the metric of issue 10). Each document is
scored on its own: it starts after one document-start token (the tokenizer's EOS, as between packed
documents, or BOS where there is none) and long documents are covered by sliding windows
(window `window` tokens, each new window advancing `stride` tokens and scoring only tokens no
earlier window scored, each with up to window − stride tokens of context; the Hugging Face
perplexity recipe). A document whose tokens do not decode back to its text (unknown pieces) is
counted in `lossy_docs`, since its bits would not describe all its bytes.

FILE is a Parquet corpus shard (`text` column), a JSONL file (`text` field per line), a folder of
.txt / .md files (one document each; Markdown `#` lines dropped) or a plain text file (documents
separated by blank lines; a file without blank lines is one document).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tibcpt.training.model import is_sentencepiece_style

from tibcpt.errors import InputError
from tibcpt.io import write_json_atomic

log = logging.getLogger(__name__)

BASE_TEXT_EVAL = "eval_sets_base.json"
"""Base-model figures on `data.eval_sets`, written before the first step (kept when resuming)."""


@dataclass
class TextEvalConfig:
    """Sliding-window settings."""

    window: int = 2048
    """Tokens per forward pass (SmolLM2's pretraining context is 2048)."""
    stride: int = 1024
    """New tokens scored per window after the first; the rest is context."""
    batch_size: int = 8
    """Windows per forward pass."""
    max_docs: int | None = None
    """Score only the first N documents of each set (null = all)."""

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError(f"window: must be >= 2, got {self.window}")
        if not 1 <= self.stride <= self.window - 1:
            raise ValueError(f"stride: must be in [1, window - 1], got {self.stride}")
        if self.batch_size < 1:
            raise ValueError("batch_size: must be >= 1")


def read_documents(path: str | Path) -> list[str]:
    """Documents of an evaluation file (formats in the module docstring); empty ones dropped."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"evaluation file not found: {p}")
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in (".txt", ".md"))
        # Markdown (e.g. global-asp-stories): `#` heading and page-marker lines are layout, not text.
        docs = [
            "\n".join(x for x in f.read_text(encoding="utf-8").splitlines() if not x.startswith("#"))
            if f.suffix == ".md"
            else f.read_text(encoding="utf-8")
            for f in files
        ]
    elif p.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(p)
        if "text" not in table.column_names:
            raise InputError(f"{p}: no `text` column (columns: {table.column_names})")
        docs = table.column("text").to_pylist()
    elif p.suffix == ".jsonl":
        docs = []
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    docs.append(json.loads(line)["text"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise InputError(f"{p}:{i}: not a JSON object with a `text` field") from None
    else:
        text = p.read_text(encoding="utf-8")
        docs = [d for d in text.replace("\r\n", "\n").split("\n\n")]
    docs = [d.strip("\n") for d in docs if d and d.strip()]
    if not docs:
        raise InputError(f"{p}: no documents")
    return docs


SEPARATOR_FILE = "document_separator.json"
"""Written by the trainer into the model folder: the shard manifest's `document_separator`."""


def document_separator(tokenizer) -> dict | None:
    """The separators the model was trained with, where they are on record: the model folder's
    SEPARATOR_FILE, or the shard manifest beside a shard folder's tokenizer/ (None for a base model)."""
    folder = Path(getattr(tokenizer, "name_or_path", "") or ".")
    if (folder / SEPARATOR_FILE).is_file():
        return json.loads((folder / SEPARATOR_FILE).read_text(encoding="utf-8"))
    manifest = folder.parent / "manifest.json"
    if folder.name == "tokenizer" and manifest.is_file():
        return json.loads(manifest.read_text(encoding="utf-8")).get("document_separator")
    return None


def start_token(tokenizer) -> int:
    """The token packed shards put before each document (pipeline/tokens/separators.py): the recorded
    BOS, else the recorded EOS that ended the document before (`document_separator`). Without a
    record (a base model): BOS where the tokenizer starts every encoding with it or is a SentencePiece
    one (Llama-2 `<s>`), else `<|endoftext|>` where the vocabulary has it (SmolLM2 pretraining), else EOS,
    else BOS."""
    sep = document_separator(tokenizer)
    if sep and (sep.get("bos_token_id") is not None or sep.get("eos_token_id") is not None):
        return int(sep["bos_token_id"] if sep.get("bos_token_id") is not None else sep["eos_token_id"])
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    if bos is not None and (tokenizer("a")["input_ids"][:1] == [bos] or is_sentencepiece_style(tokenizer)):
        return bos  # Llama-2 (SentencePiece): <s> before every document
    # SmolLM2/GPT-2 byte-level BPE: <|endoftext|> separated pretraining documents, whatever the
    # folder calls EOS (the SmolLM2 Instruct GGUF's is the chat turn end <|im_end|>); the same rule
    # as pipeline/tokens/separators.py, which training/ does not import.
    endoftext = tokenizer.get_vocab().get("<|endoftext|>")
    if endoftext is not None:
        return endoftext
    tid = eos if eos is not None else bos
    if tid is None:
        raise InputError("the tokenizer has neither a BOS nor an EOS token to start a document with")
    return tid


def windows(ids: list[int], window: int, stride: int) -> list[tuple[list[int], int]]:
    """(input ids, number of leading positions whose prediction is already scored) per window.

    `ids` starts with the document-start token, which is context only; every later token is
    predicted exactly once."""
    out, scored_until, begin = [], 1, 0
    while scored_until < len(ids):
        end = min(begin + window, len(ids))
        # positions begin..end-1 are inputs; predictions for tokens scored_until..end-1 count
        out.append((ids[begin:end], scored_until - begin - 1))
        scored_until = end
        begin = end - (window - stride) if end < len(ids) else end
        begin = max(begin, 0)
    return out


@torch.no_grad()
def score_windows(model, items: list[tuple[list[int], int]], batch_size: int, accelerator=None) -> float:
    """Σ NLL (nats) of the scored positions of every window; windows split over ranks when distributed."""
    device = next(model.parameters()).device
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    order = sorted(range(len(items)), key=lambda i: -len(items[i][0]))  # similar lengths batch together
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    per_rank = -(-len(batches) // world)
    total = torch.zeros((), dtype=torch.float64, device=device)
    was_training = model.training
    model.eval()
    for j in range(per_rank):
        b = j * world + rank
        # Every rank runs per_rank forwards (FSDP all-gathers in each); extra ones score nothing.
        idx = batches[b] if b < len(batches) else batches[0][:1]
        width = max(len(items[i][0]) for i in idx)
        ids = torch.zeros(len(idx), width, dtype=torch.long)
        mask = torch.zeros(len(idx), width - 1, dtype=torch.bool)
        for r, i in enumerate(idx):
            seq, skip = items[i]
            ids[r, : len(seq)] = torch.tensor(seq)
            mask[r, skip : len(seq) - 1] = True  # right padding: causal attention never sees it
        ids, mask = ids.to(device), mask.to(device)
        logits = model(input_ids=ids).logits[:, :-1].float()
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none")
        if b < len(batches):
            total += (nll.view(mask.shape) * mask).sum().double()
    if was_training:
        model.train()
    if accelerator is not None and world > 1:
        total = accelerator.reduce(total, reduction="sum")
    return float(total)


def evaluate_documents(model, tokenizer, docs: list[str], cfg: TextEvalConfig, accelerator=None) -> dict:
    """Bits per byte of `model` (with `tokenizer`) on `docs`, each document scored separately."""
    docs = docs[: cfg.max_docs] if cfg.max_docs else docs
    first = start_token(tokenizer)
    items, n_tokens, n_bytes, lossy = [], 0, 0, 0
    for doc in docs:
        ids = tokenizer(doc, add_special_tokens=False)["input_ids"]
        if tokenizer.decode(ids) != doc:
            lossy += 1
        items += windows([first, *ids], cfg.window, cfg.stride)
        n_tokens += len(ids)
        n_bytes += len(doc.encode("utf-8"))
    nll = score_windows(model, items, cfg.batch_size, accelerator)
    return {
        "bits_per_byte": nll / math.log(2) / n_bytes,
        "loss": nll / n_tokens,
        "tokens_per_byte": n_tokens / n_bytes,
        "docs": len(docs),
        "bytes": n_bytes,
        "tokens": n_tokens,
        "lossy_docs": lossy,
    }


class TextSets:
    """The trainer's named raw-text sets (`data.eval_sets`), read once before any compute."""

    def __init__(self, paths: dict[str, str], window: int, batch_size: int, max_docs: int | None = None):
        self.docs = {name: read_documents(path) for name, path in paths.items()}
        self.cfg = TextEvalConfig(window=window, stride=window // 2, batch_size=batch_size, max_docs=max_docs)

    def __bool__(self) -> bool:
        return bool(self.docs)

    def evaluate(self, model, tokenizer, accelerator=None) -> dict[str, dict]:
        """Bits per byte per set; under accelerate in its autocast, as the training forward runs."""
        ctx = accelerator.autocast() if accelerator is not None else contextlib.nullcontext()
        with ctx:
            return {
                name: evaluate_documents(model, tokenizer, docs, self.cfg, accelerator)
                for name, docs in self.docs.items()
            }


def evaluate_base(model, tokenizer, model_name_or_path: str, text_sets: TextSets, accelerator, out: Path) -> None:
    """Bits per byte of the base model as loaded, with its own `tokenizer` (None: it has none, no
    figures), on every text set: the baseline that the trained model, with the extended tokenizer,
    is compared with on the same bytes."""
    if tokenizer is None:
        log.warning("%s has no tokenizer: no base-model figures for data.eval_sets", model_name_or_path)
        return
    results = text_sets.evaluate(model.to(accelerator.device), tokenizer, accelerator)
    if accelerator.is_main_process:
        write_json_atomic(out / BASE_TEXT_EVAL, {"model": model_name_or_path, "sets": results})
        for name, res in results.items():
            log.info("base model on %s: %.4f bits/byte", name, res["bits_per_byte"])


def parse_sets(items: list[str]) -> dict[str, str]:
    sets = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"evaluation set {item!r} must look like NAME=FILE")
        if name in sets:
            raise InputError(f"evaluation set name {name!r} given twice")
        sets[name] = path
    return sets


def add_cli(parser: argparse.ArgumentParser) -> None:
    d = TextEvalConfig()
    parser.add_argument("--model", required=True, help="HF model folder (its own tokenizer is used)")
    parser.add_argument("sets", nargs="+", metavar="NAME=FILE", help="evaluation sets (parquet, jsonl, txt, folder)")
    parser.add_argument("--window", type=int, default=d.window)
    parser.add_argument("--stride", type=int, default=d.stride)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--max-docs", type=int, default=None)
    parser.add_argument("--out", default=None, help="also write the results as JSON here")


def cli(args: argparse.Namespace) -> int:
    from tibcpt.training.artifacts import load_model_folder

    try:
        cfg = TextEvalConfig(args.window, args.stride, args.batch_size, args.max_docs)
    except ValueError as e:
        raise InputError(str(e)) from None
    sets = {name: read_documents(path) for name, path in parse_sets(args.sets).items()}
    model, tokenizer = load_model_folder(args.model)
    results = {name: evaluate_documents(model, tokenizer, docs, cfg) for name, docs in sets.items()}
    for name, r in results.items():
        print(
            f"{name}: {r['bits_per_byte']:.4f} bits/byte over {r['docs']} docs, {r['bytes']:,} bytes "
            f"({r['tokens_per_byte']:.3f} tokens/byte, {r['lossy_docs']} lossy)"
        )
    if args.out:
        write_json_atomic(Path(args.out), {"model": str(args.model), "config": vars(cfg), "sets": results})
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    p = argparse.ArgumentParser(prog="tibcpt eval", description="bits per byte on raw text files")
    add_cli(p)
    sys.exit(cli(p.parse_args()))
