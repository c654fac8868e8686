"""The units that flow through the pipeline.

`RawDoc` is what ingest reads (bytes or text plus a format); `extract` turns it into a `Document`.
Every document that leaves the pipeline without reaching the output leaves a `Rejection` with the
stage and a reason string (datatrove's habit: drop reasons are data, never prints).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

RawFormat = Literal["txt", "html", "pdf", "text"]
"""txt: bytes to decode; html/pdf: bytes to extract; text: already-decoded str (jsonl/parquet)."""


@dataclass(slots=True)
class RawDoc:
    id: str
    source: str
    content: bytes | str
    format: RawFormat
    meta: dict[str, Any] = field(default_factory=dict)
    """Free metadata carried to the output: url, path, title, date, ..."""


@dataclass(slots=True)
class Document:
    id: str
    text: str
    source: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Rejection:
    """A document (or an unreadable input) that did not make it, and why."""

    id: str
    source: str
    stage: str
    reason: str
    detail: str = ""
    text: str = ""
    """The text as it was when dropped (truncated to keep the side file small)."""
    meta: dict[str, Any] = field(default_factory=dict)

    MAX_TEXT = 20_000

    def __post_init__(self) -> None:
        if len(self.text) > self.MAX_TEXT:
            self.text = self.text[: self.MAX_TEXT]


@dataclass
class StageStats:
    """Counters a stage keeps while processing one batch; merged across batches and workers."""

    docs_in: int = 0
    docs_out: int = 0
    bytes_out: int = 0
    dropped: Counter = field(default_factory=Counter)
    extra: Counter = field(default_factory=Counter)
    """Stage-specific counts that are not drops (e.g. undecodable_bytes, pdf_spaces_repaired)."""

    def merge(self, other: StageStats) -> None:
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.bytes_out += other.bytes_out
        self.dropped.update(other.dropped)
        self.extra.update(other.extra)

    def to_dict(self) -> dict[str, Any]:
        return {
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "bytes_out": self.bytes_out,
            "dropped": dict(sorted(self.dropped.items())),
            **({"extra": dict(sorted(self.extra.items()))} if self.extra else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StageStats:
        return cls(
            docs_in=d.get("docs_in", 0),
            docs_out=d.get("docs_out", 0),
            bytes_out=d.get("bytes_out", 0),
            dropped=Counter(d.get("dropped", {})),
            extra=Counter(d.get("extra", {})),
        )


class Stage(Generic[In, Out]):
    """A pipeline step over a batch (datatrove's shape): `In` items -> `Out` items, drops counted by reason.

    Ingest (work items -> RawDoc), extract (RawDoc -> Document) and the text stages (Document ->
    Document) all have this shape, so the runner drives one list of stages and every count of the
    manifest comes from `__call__` here. Subclasses set `name` and implement `process`; dropped
    documents are appended to `rejects` with a reason and counted in `stats.dropped[reason]`
    (via `self.reject` or `self.drop`).
    """

    name: str = "stage"

    def process(self, docs: list[In], stats: StageStats, rejects: list[Rejection]) -> list[Out]:
        raise NotImplementedError

    def count_in(self, items: list[In], out: list[Out], n_rejected: int) -> int:
        """Documents that entered: one per input item, except for stages whose items are not
        documents (ingest reads a file into many documents and counts what it read)."""
        return len(items)

    def reject(self, doc: Document, reason: str, stats: StageStats, rejects: list[Rejection], detail: str = "") -> None:
        self.drop(Rejection(doc.id, doc.source, self.name, reason, detail, doc.text, dict(doc.meta)), stats, rejects)

    def drop(self, rejection: Rejection, stats: StageStats, rejects: list[Rejection]) -> None:
        """Record a rejection built elsewhere (a source kind's unreadable input, extract's result)."""
        stats.dropped[rejection.reason] += 1
        rejects.append(rejection)

    def __call__(self, docs: list[In], stats: StageStats, rejects: list[Rejection]) -> list[Out]:
        n_before = len(rejects)
        out = self.process(docs, stats, rejects)
        stats.docs_in += self.count_in(docs, out, len(rejects) - n_before)
        stats.docs_out += len(out)
        stats.bytes_out += sum(len(d.text.encode("utf-8")) for d in out if isinstance(d, Document))
        return out
