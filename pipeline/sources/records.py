"""Records of jsonl and parquet inputs: one RawDoc per record, and large jsonl files cut into parts.

A record's document id is `{file id}#{record id}` when the record carries a unique id, else
`#{record number}` (line number in jsonl, row number in parquet). A jsonl file larger than
`jsonl_part_bytes` is cut at line starts into `FilePart`s, each a work item of its own, so one big
file is shared by all workers; its ids then use record numbers only (a part cannot see the explicit
ids of the others, and ids must be unique).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from tibcpt.pipeline.document import RawDoc, Rejection
from tibcpt.pipeline.sources.registry import SourceConfig

STAGE = "ingest"


@dataclass(frozen=True)
class FilePart:
    """Lines `first_line`... of a large jsonl file, bytes [start, end): one picklable work item."""

    path: str
    start: int
    end: int
    first_line: int

    @property
    def size(self) -> int:
        return self.end - self.start

    def __str__(self) -> str:
        return f"{self.path}@{self.start}-{self.end}"


def jsonl_parts(path: str, part_bytes: int) -> list[str | FilePart]:
    """`path` as one item, or, when larger than `part_bytes`, as FileParts cut after a newline. Reads
    the file once to count lines (record numbers must not depend on which worker reads a part)."""
    p = Path(path)
    try:
        if p.is_symlink() or not p.is_file() or p.stat().st_size <= part_bytes:
            return [path]  # read_file reads it whole, or rejects it with a reason
        size = p.stat().st_size
        parts: list[str | FilePart] = []
        start, line = 0, 1
        with open(p, "rb") as f:
            while start < size:
                f.seek(start)
                chunk = f.read(part_bytes)
                rest = f.readline() if chunk and not chunk.endswith(b"\n") else b""
                end = start + len(chunk) + len(rest)
                parts.append(FilePart(path, start, end, line))
                line += chunk.count(b"\n") + rest.count(b"\n")
                start = end
        return parts
    except OSError:
        return [path]


def records(
    rows: Iterator[tuple[int, Any]],
    doc_id: str,
    source: SourceConfig,
    meta: dict[str, Any],
    numbered: bool = False,
) -> Iterator[RawDoc | Rejection]:
    """(record number, record) -> RawDoc per record with text, Rejection otherwise. `numbered`:
    ids use the record number only (a part of a cut file cannot see other parts' explicit ids)."""
    opts: Any = source.options
    seen: set[str] = set()
    for n, rec in rows:
        if isinstance(rec, Exception):
            yield reject(f"{doc_id}#{n}", source, "bad_json", repr(rec), meta)
            continue
        rid = rec.get(opts.id_field) if isinstance(rec, dict) else None
        key = str(rid) if not numbered and rid not in (None, "") and str(rid) not in seen else str(n)
        seen.add(key)
        if not isinstance(rec, dict) or not isinstance(rec.get(opts.text_field), str):
            got = type(rec.get(opts.text_field)).__name__ if isinstance(rec, dict) else type(rec).__name__
            yield reject(f"{doc_id}#{key}", source, "no_text_field", f"field {opts.text_field!r}: {got}", meta)
            continue
        rmeta = {**meta, "record": n}
        if rid not in (None, ""):
            rmeta["record_id"] = str(rid)
        if rec.get(opts.url_field):
            rmeta["url"] = str(rec[opts.url_field])
        yield RawDoc(f"{doc_id}#{key}", source.name, rec[opts.text_field], "text", rmeta)


def jsonl_rows(path: Path, part: FilePart | None = None) -> Iterator[tuple[int, Any]]:
    with open(path, "rb") as f:
        if part is None:
            yield from _json_lines(f)
            return
        f.seek(part.start)
        yield from _json_lines(_lines_until(f, part.end), part.first_line)


def _lines_until(f: Any, end: int) -> Iterator[bytes]:
    while f.tell() < end:
        line = f.readline()
        if not line:
            return
        yield line


def _json_lines(lines: Iterable[bytes], first: int = 1) -> Iterator[tuple[int, Any]]:
    for n, line in enumerate(lines, start=first):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
            yield n, e


def parquet_rows(path: Path, opts: Any) -> Iterator[tuple[int, Any]]:
    pf = pq.ParquetFile(path)
    names = set(pf.schema_arrow.names)
    cols = [c for c in (opts.text_field, opts.id_field, opts.url_field) if c in names]
    n = 0
    for batch in pf.iter_batches(columns=cols, batch_size=4096):
        for rec in batch.to_pylist():
            yield n, rec
            n += 1


def reject(doc_id: str, source: SourceConfig, reason: str, detail: str, meta: dict[str, Any]) -> Rejection:
    """An ingest rejection of unreadable input (no text to keep); ingest.py's files use it too."""
    return Rejection(doc_id, source.name, STAGE, reason, detail[:1000], "", dict(meta))
