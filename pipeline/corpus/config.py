"""Configs of `tibcpt corpus` (configs/pipeline/corpus.yaml) and the code hash in its resume keys."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from tibcpt.pipeline.dedup.exact import ExactDedupConfig
from tibcpt.pipeline.dedup.near import NearDedupConfig
from tibcpt.pipeline.extract.extractor import ExtractConfig
from tibcpt.pipeline.text.clean import CleanConfig
from tibcpt.pipeline.text.filters import FilterConfig
from tibcpt.pipeline.text.normalize import NormalizeConfig
from tibcpt.pipeline.text.segment import SegmentConfig

PIPELINE_DIR = Path(__file__).resolve().parents[1]


@dataclass
class WriteConfig:
    shard_bytes: int = 256 * 1024 * 1024
    """Target uncompressed text bytes per output shard (HF datasets like 100-500 MB shards)."""
    compression: str = "zstd"
    row_group_docs: int = 2000
    """Documents per Parquet row group: small enough to stream, large enough to compress well."""

    def __post_init__(self) -> None:
        if self.shard_bytes < 1024:
            raise ValueError("write.shard_bytes must be >= 1024")
        if self.compression not in ("zstd", "snappy", "gzip", "none"):
            raise ValueError(f"write.compression {self.compression!r} not in zstd/snappy/gzip/none")


@dataclass
class CorpusConfig:
    """Per-stage configs of `tibcpt corpus` (configs/pipeline/corpus.yaml); each stage owns its section."""

    extract: ExtractConfig = field(default_factory=ExtractConfig)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    exact_dedup: ExactDedupConfig = field(default_factory=ExactDedupConfig)
    near_dedup: NearDedupConfig = field(default_factory=NearDedupConfig)
    write: WriteConfig = field(default_factory=WriteConfig)
    items_per_task: int = 32
    """Most input items (files, WARC files) per parallel task; also the resume granularity."""
    task_bytes: int = 4 * 1024 * 1024
    """A task also closes once its input files reach this size, so one worker is not left
    with every large volume while the others idle."""
    decontamination_ngram: int = 13
    """Syllable n-gram shared with the eval set that marks a document as contaminated (GPT-3 used 13 words)."""

    def __post_init__(self) -> None:
        if self.items_per_task < 1:
            raise ValueError("items_per_task must be >= 1")
        if self.task_bytes < 1:
            raise ValueError("task_bytes must be >= 1")
        if self.decontamination_ngram < 4:
            raise ValueError("decontamination_ngram must be >= 4")


def code_hash(*modules: str) -> str:
    """Hash of stage modules' source: a changed rule re-runs the stage on resume, even when the
    config and the tool version are unchanged (a development checkout). A name is a module
    (`corpus.parts`) or a whole subpackage (`text`: every module in it, new ones included, so a
    helper module added later can never be left out of the key)."""
    h = hashlib.sha256()
    for name in modules:
        p = PIPELINE_DIR / name.replace(".", "/")
        files = sorted(p.glob("*.py")) if p.is_dir() else [p.with_suffix(".py")]
        for f in files:
            h.update(f.relative_to(PIPELINE_DIR).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


# Everything the text phase runs: the source kinds (crawl holds `web`/`warc`), extraction, the text
# stages and the part writer. Dedup: its subpackage and the normalization its match keys use.
TEXT_MODULES = ("sources", "crawl", "extract", "text", "corpus.parts", "document")
DEDUP_MODULES = ("dedup", "text.normalize")
