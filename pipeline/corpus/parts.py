"""Parquet layout of the clean corpus and of rejection records (docs/CONTRACTS.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tibcpt.pipeline.document import Document, Rejection
from tibcpt.pipeline.sources.registry import SourceConfig

from tibcpt.shards import write_table

DOC_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("source", pa.string()),
        ("license", pa.string()),
        ("genre", pa.string()),
        ("url", pa.string()),
        ("title", pa.string()),
        ("date", pa.string()),
        ("n_syllables", pa.int64()),
        ("n_bytes", pa.int64()),
        ("meta", pa.string()),  # remaining metadata as JSON (path, segmented, pdf repairs, ...)
    ]
)

REJECT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("text", pa.string()),
    ]
)

_COLUMN_META = ("url", "title", "date")


def doc_row(d: Document, src: SourceConfig) -> dict:
    meta = {k: v for k, v in d.meta.items() if k not in _COLUMN_META and k != "n_syllables"}
    return {
        "id": d.id,
        "text": d.text,
        "source": d.source,
        "license": src.license,
        "genre": src.genre,
        "url": _str_or_none(d.meta.get("url")),
        "title": _str_or_none(d.meta.get("title")),
        "date": _str_or_none(d.meta.get("date")),
        "n_syllables": int(d.meta.get("n_syllables", 0)),
        "n_bytes": len(d.text.encode("utf-8")),
        "meta": json.dumps(meta, ensure_ascii=False, default=str, sort_keys=True),
    }


def _str_or_none(v: object) -> str | None:
    return None if v is None or v == "" else str(v)


def write_docs(path: Path, docs: list[Document], src: SourceConfig) -> None:
    write_table(path, pa.Table.from_pylist([doc_row(d, src) for d in docs], schema=DOC_SCHEMA))


def rejection_row(r: Rejection) -> dict:
    return {"id": r.id, "source": r.source, "stage": r.stage, "reason": r.reason, "detail": r.detail, "text": r.text}


def write_rejections(path: Path, rejects: list[Rejection]) -> None:
    write_table(path, pa.Table.from_pylist([rejection_row(r) for r in rejects], schema=REJECT_SCHEMA))


def iter_rows(path: Path, columns: list[str] | None = None, batch_size: int = 1000) -> Iterator[dict]:
    """Stream rows of a Parquet file without loading it whole."""
    pf = pq.ParquetFile(path)
    for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
        yield from batch.to_pylist()
