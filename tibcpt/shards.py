"""The one Parquet writer of the project, and the names of the files it writes.

Corpus shards (`data/shard-*.parquet`), the corpus runner's per-task parts (`part-*`, `reject-*`,
`stats-*` under `_work/`), `rejected.parquet` and the token shards of `tibcpt pack` are all written
here: each file under a temp name beside it and renamed into place when complete
(`tibcpt.io.atomic_path`), so a killed run never leaves a half-written file under a real name.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tibcpt.io import atomic_path

SHARD, PART, REJECT, STATS = "shard", "part", "reject", "stats"
DATA = "data"
"""Folder of the corpus shards inside the corpus folder (the Hub's `data_files: data/*.parquet`)."""
WORK = "_work"
"""Resume state of `tibcpt corpus` inside its output folder (task parts, dedup tables)."""
REJECTED = "rejected.parquet"
MANIFEST = "manifest.json"
SHARD_GLOB = f"{SHARD}-*.parquet"
_NUMBERED = re.compile(r"^([a-z]+)-(\d{5,})\.(parquet|json)$")


def numbered(prefix: str, index: int, ext: str = "parquet") -> str:
    """`shard-00003.parquet`: five digits sort lexically up to 99999 files per folder."""
    return f"{prefix}-{index:05d}.{ext}"


def shard_name(index: int) -> str:
    return numbered(SHARD, index)


def part_name(index: int) -> str:
    """Kept documents of corpus text task `index`."""
    return numbered(PART, index)


def reject_name(index: int) -> str:
    """Rejections of corpus text task `index`."""
    return numbered(REJECT, index)


def stats_name(index: int) -> str:
    """Stats of corpus text task `index`: written last, it marks the task complete."""
    return numbered(STATS, index, "json")


def index_of(name: str) -> int | None:
    """The task/shard index of a file named by `numbered`, else None (foreign files are left alone)."""
    m = _NUMBERED.match(name)
    return int(m.group(2)) if m else None


def _compression(name: str | None) -> str | None:
    return None if name in (None, "none") else name


class ParquetFileWriter:
    """One Parquet file written table by table under a temp name; `close()` renames it into place,
    `abort()` (or an exception inside `with`) removes the temp file and leaves the real name untouched."""

    def __init__(self, path: Path, schema: pa.Schema, compression: str | None = "zstd", **kwargs: Any) -> None:
        self.path = Path(path)
        self._row_group_size = kwargs.pop("row_group_size", None)
        self._cm: AbstractContextManager[Path] = atomic_path(self.path)
        tmp = self._cm.__enter__()
        try:
            self._writer = pq.ParquetWriter(tmp, schema, compression=_compression(compression), **kwargs)
        except BaseException as e:
            self._cm.__exit__(type(e), e, e.__traceback__)
            raise

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table, row_group_size=self._row_group_size)

    def close(self) -> Path:
        self._writer.close()
        self._cm.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        self._writer.close()
        with suppress(RuntimeError):  # atomic_path removes the temp file and re-raises what it was given
            self._cm.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> ParquetFileWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_table(path: Path, table: pa.Table, compression: str | None = "zstd", **kwargs: Any) -> Path:
    """One table -> one Parquet file, atomically."""
    with ParquetFileWriter(path, table.schema, compression, **kwargs) as w:
        w.write(table)
    return Path(path)


class ShardWriter:
    """Numbered shards `shard-00000.parquet`, `shard-00001.parquet`, ... in `folder`.

    The caller decides where a shard ends (`close_shard()`; corpus shards end at a text size). Each
    shard appears under its real name only once complete; one left open by a crash stays a temp file
    (`tibcpt.io.sweep_temp_files` removes it on the next run).
    """

    def __init__(self, folder: Path, schema: pa.Schema, compression: str | None = "zstd", **kwargs: Any) -> None:
        self.folder = Path(folder)
        self.schema, self.compression, self.kwargs = schema, compression, kwargs
        self.paths: list[Path] = []
        self._cur: ParquetFileWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self._cur is None:
            path = self.folder / shard_name(len(self.paths))
            self._cur = ParquetFileWriter(path, self.schema, self.compression, **self.kwargs)
        self._cur.write(table)

    def close_shard(self) -> Path | None:
        if self._cur is None:
            return None
        path = self._cur.close()
        self._cur = None
        self.paths.append(path)
        return path
