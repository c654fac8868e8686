"""Which documents the tokenizer and the packer may train on, and the held-out slices fertility uses.

Three kinds of documents never enter training:
- validation: id hash below `validation_fraction` / `heldout_fraction` (one rule for pack and tokenizer);
- evaluation-only sources (`eval_only: true` in sources.yaml, issue 12): held-out evaluation text,
  cleaned like any other source, packed only into the `test` split, never a tokenizer sample;
- for fertility only, a per-era top-up (below) that the tokenizer does not train on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

CLASSICAL_GENRES = ("religious", "history")
"""Genres of the sample's classical sources (Kangyur, biographies, annals); everything else is modern."""


def id_fraction(doc_id: str, salt: str = "split") -> float:
    """Deterministic uniform number in [0, 1) from a document id (blake2b: stable across runs)."""
    digest = hashlib.blake2b(f"{salt}:{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def is_heldout(doc_id: str, fraction: float) -> bool:
    """Held-out / validation membership; pack's validation split and the tokenizer use this one rule."""
    return id_fraction(doc_id) < fraction


@dataclass
class SourceInfo:
    """Per-source facts the token stages need: pack weights and the evaluation-only sources."""

    weights: dict[str, float] = field(default_factory=dict)
    eval_only: set[str] = field(default_factory=set)


def source_info(sources_yaml: str | Path | None, corpus: str | Path | None = None) -> SourceInfo:
    """Weights and eval-only sources from sources.yaml, and eval-only flags the corpus manifest records.

    Both are read: a source marked eval-only in either place is never trained on (a stale corpus
    folder built with an older sources.yaml must not leak its evaluation text into training).
    """
    info = SourceInfo()
    if sources_yaml:
        from tibcpt.pipeline.sources.registry import load_sources

        for s in load_sources(sources_yaml):
            info.weights[s.name] = s.weight
            if s.eval_only:
                info.eval_only.add(s.name)
    manifest = Path(corpus) / "manifest.json" if corpus else None
    if manifest is not None and manifest.is_file():
        for name, s in json.loads(manifest.read_text(encoding="utf-8")).get("sources", {}).items():
            if s.get("eval_only"):
                info.eval_only.add(name)
    return info


def era(genre: str | None) -> str:
    """`classical` for the classical genres, else `modern` (fertility is reported per era)."""
    return "classical" if genre in CLASSICAL_GENRES else "modern"


def fertility_slices(
    rows: list[dict], fraction: float, eval_only: set[str], min_docs: int, max_share: float
) -> set[str]:
    """Ids held out from tokenizer training: validation ids, eval-only sources, and a per-era top-up.

    An era (modern, classical) with fewer than `min_docs` held-out documents gets more, lowest id
    hash first, up to `max_share` of its documents: 2 % of a small corpus is a handful of documents
    (fertility.json once rested on 11), while on a large corpus 2 % is already thousands.
    """
    held = {r["id"] for r in rows if r["source"] in eval_only or is_heldout(r["id"], fraction)}
    for e in ("modern", "classical"):
        docs = [r for r in rows if era(r.get("genre")) == e and r["source"] not in eval_only]
        have = sum(1 for r in rows if era(r.get("genre")) == e and r["id"] in held)
        room = int(max_share * len(docs)) - sum(1 for r in docs if r["id"] in held)
        extra = sorted((r for r in docs if r["id"] not in held), key=lambda r: id_fraction(r["id"]))
        need = max(0, min(min_docs - have, room))
        held.update(r["id"] for r in extra[:need])
    return held
