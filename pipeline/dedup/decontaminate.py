"""Decontamination: drop training documents that share a long syllable n-gram with evaluation data.

Interface the corpus runner calls (`tibcpt corpus --decontaminate PATH`):

    decontaminate(docs: Iterable[tuple[str, str]], eval_path: Path, n: int = 13) -> dict[str, str]
    -> {doc id: detail (the first shared n-gram, previewed)}; the runner drops each with reason
    `contamination`.

The unit is the syllable, n = 13 by default: GPT-3 and the Llama papers check 13-gram overlap with
benchmarks (word 13-grams; a Tibetan syllable is the closest unit to a word token that needs no
segmenter). Both sides are compared on `tibcpt.pipeline.text.normalize.match_key` syllables, so Unicode variants,
ZWSP or U+0F0C in one copy do not hide an overlap, while vowel signs still count (they carry the word).

Eval n-grams are kept as a sorted numpy array of 64-bit xxhash values (8 bytes each); training docs
are checked with `np.isin`, so the eval side may be large and the training side is streamed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import xxhash
from tibcpt.pipeline.text.normalize import match_key
from tibcpt.pipeline.text.segment import syllables
from tqdm import tqdm

from tibcpt.errors import InputError

log = logging.getLogger(__name__)

_SEP = "\x1f"


def load_eval_texts(path: Path) -> list[str]:
    """Evaluation documents: jsonl (one object per line with a "text" field) or plain text (one
    document; an n-gram spanning two lines of a text file is still an n-gram of that file)."""
    path = Path(path)
    raw = path.read_text(encoding="utf-8")
    lines = [ln for ln in raw.splitlines() if ln.strip()]
    if path.suffix == ".jsonl" or (lines and lines[0].lstrip().startswith("{")):
        texts = []
        for k, ln in enumerate(lines, 1):
            obj = json.loads(ln)
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise InputError(f"{path}:{k}: expected a JSON object with a string 'text' field")
            texts.append(obj["text"])
        return texts
    return [raw]


def ngram_hashes(text: str, n: int) -> tuple[np.ndarray, list[str]]:
    """64-bit hashes of the syllable n-grams of `match_key(text)` (in text order) and the syllables."""
    syls = syllables(match_key(text))
    m = len(syls) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64), syls
    h = np.fromiter(
        (xxhash.xxh3_64_intdigest(_SEP.join(syls[i : i + n]).encode()) for i in range(m)), np.uint64, count=m
    )
    return h, syls


def eval_ngrams(texts: Iterable[str], n: int) -> np.ndarray:
    """Sorted unique n-gram hashes of all evaluation texts."""
    parts = [ngram_hashes(t, n)[0] for t in texts]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)


def first_shared_ngram(text: str, table: np.ndarray, n: int) -> tuple[int, str] | None:
    """(number of shared n-grams, preview of the first one) or None when `text` is clean."""
    h, syls = ngram_hashes(text, n)
    if h.size == 0 or table.size == 0:
        return None
    hit = np.isin(h, table, assume_unique=False)
    if not hit.any():
        return None
    first = int(np.argmax(hit))
    return int(hit.sum()), "་".join(syls[first : first + n])


def decontaminate(docs: Iterable[tuple[str, str]], eval_path: Path, n: int = 13) -> dict[str, str]:
    """Doc ids sharing at least one syllable n-gram with `eval_path`, each with a detail string."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    table = eval_ngrams(load_eval_texts(eval_path), n)
    log.info("decontaminate: %d distinct %d-grams from %s", table.size, n, eval_path)
    out: dict[str, str] = {}
    for doc_id, text in tqdm(docs, desc="decontaminate", unit="doc", disable=None):
        found = first_shared_ngram(text, table, n)
        if found:
            count, preview = found
            out[doc_id] = f"{count} shared {n}-syllable n-gram(s) with {Path(eval_path).name}, first: {preview}"
    log.info("decontaminate: %d documents contaminated", len(out))
    return out
