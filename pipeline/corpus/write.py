"""Phases 2 and 3 of `tibcpt corpus`: global dedup, then shards + rejected.parquet + manifest.json."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tibcpt.pipeline.corpus.config import DEDUP_MODULES, CorpusConfig, code_hash
from tibcpt.pipeline.corpus.parts import DOC_SCHEMA, REJECT_SCHEMA, iter_rows
from tibcpt.pipeline.corpus.report import write_report
from tibcpt.pipeline.dedup.decontaminate import decontaminate as decon
from tibcpt.pipeline.dedup.exact import exact_duplicates
from tibcpt.pipeline.dedup.near import near_dedup
from tibcpt.pipeline.document import Rejection, StageStats
from tibcpt.pipeline.sources.registry import SourceConfig
from tqdm import tqdm

from tibcpt import __version__
from tibcpt.config import config_hash, to_dict
from tibcpt.io import write_json_atomic
from tibcpt.shards import DATA, MANIFEST, REJECTED, SHARD_GLOB, ParquetFileWriter, ShardWriter, write_table

log = logging.getLogger(__name__)

# A rejection record without its text: dedup removals, whose text the write phase takes from the parts.
REMOVED_SCHEMA = REJECT_SCHEMA.remove(REJECT_SCHEMA.get_field_index("text"))


def _parts(results: list[dict]) -> list[Path]:
    """Kept-document parts in deterministic order (source order, then task order)."""
    ordered = sorted(results, key=lambda r: (r["task"].source_index, r["task"].task_index))
    return [r["task"].part_path for r in ordered]


def _iter_docs(results: list[dict], columns: list[str]) -> Iterator[dict]:
    for p in _parts(results):
        yield from iter_rows(p, columns=columns)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run_dedup_phase(
    sources: list[SourceConfig],
    cfg: CorpusConfig,
    work: Path,
    results: list[dict],
    workers: int,
    decontaminate: str | Path | None,
) -> tuple[dict[str, dict], dict[str, Any]]:
    """Return ({removed id: {source, stage, reason, detail}}, info). Cached under _work/dedup."""
    import dataclasses

    out = work / "dedup"
    decon_hash = _file_sha256(Path(decontaminate)) if decontaminate else None

    key = config_hash(
        cfg.exact_dedup,
        cfg.near_dedup,
        cfg.decontamination_ngram,
        decon_hash,
        [r["key"] for r in results],
        code_hash(*DEDUP_MODULES),
    )
    info_path, removed_path = out / "info.json", out / "removed.parquet"
    if info_path.exists() and removed_path.exists():
        info = json.loads(info_path.read_text())
        if info.get("key") == key:
            log.info("dedup phase: up to date, skipping")
            removed = {r["id"]: r for r in iter_rows(removed_path)}
            return removed, info

    rank = {s.name: i for i, s in enumerate(sources)}
    removed: dict[str, dict] = {}
    t0 = time.time()
    n_docs = sum(r["docs"] for r in results)
    src_of: dict[str, str] = {}

    def id_text() -> Iterator[tuple[str, str]]:
        # One read of the parts serves exact dedup and the id -> source map the later steps need.
        for d in tqdm(_iter_docs(results, ["id", "text", "source"]), total=n_docs, desc="exact dedup"):
            if d["id"] in src_of:  # removals are keyed by id: a repeated id would drop both copies
                raise RuntimeError(f"document id {d['id']!r} occurs twice (sources {src_of[d['id']]}, {d['source']})")
            src_of[d["id"]] = d["source"]
            yield d["id"], d["text"]

    docs = id_text()
    exact = exact_duplicates(docs, cfg.exact_dedup)
    for _ in docs:  # exact dedup disabled (or stopped early): the id -> source map is still needed
        pass
    for doc_id, kept in exact.items():
        removed[doc_id] = {"id": doc_id, "source": src_of[doc_id], "stage": "exact_dedup",
                           "reason": "exact_duplicate", "detail": kept}  # fmt: skip
    t_exact = time.time() - t0

    near_info: dict[str, Any] = {"enabled": cfg.near_dedup.enabled}
    if cfg.near_dedup.enabled:
        t1 = time.time()
        res = near_dedup(
            (
                (d["id"], d["text"], rank[d["source"]])
                for d in _iter_docs(results, ["id", "text", "source"])
                if d["id"] not in removed
            ),
            # Documents come out of the normalize stage: match keys need not normalize again.
            dataclasses.replace(cfg.near_dedup, input_normalized=True),
            work / "neardedup",
            workers=workers,
        )
        for doc_id, kept in res.duplicate_of.items():
            removed[doc_id] = {"id": doc_id, "source": src_of[doc_id], "stage": "near_dedup",
                               "reason": "near_duplicate", "detail": kept}  # fmt: skip
        near_info.update(
            clusters=res.n_clusters,
            cluster_size_hist={str(k): v for k, v in sorted(res.cluster_size_hist.items())},
            removed_per_source=dict(Counter(src_of[i] for i in res.duplicate_of)),
            seconds=round(time.time() - t1, 2),
            stats=res.stats,
        )

    decon_info: dict[str, Any] = {"path": str(decontaminate) if decontaminate else None}
    if decontaminate:
        hits = decon(
            ((d["id"], d["text"]) for d in _iter_docs(results, ["id", "text"]) if d["id"] not in removed),
            Path(decontaminate),
            n=cfg.decontamination_ngram,
        )
        for doc_id, detail in hits.items():
            removed[doc_id] = {"id": doc_id, "source": src_of[doc_id], "stage": "decontaminate",
                               "reason": "contamination", "detail": detail}  # fmt: skip
        decon_info.update(sha256=decon_hash, ngram=cfg.decontamination_ngram, removed=len(hits))

    info = {
        "key": key,
        "exact": {"removed": len(exact), "seconds": round(t_exact, 2)},
        "near": near_info,
        "decontaminate": decon_info,
    }
    write_table(removed_path, pa.Table.from_pylist(list(removed.values()), schema=REMOVED_SCHEMA), "snappy")
    write_json_atomic(info_path, info)  # written last: marks the phase complete
    return removed, info


class _CorpusShards:
    """Kept rows -> `data/shard-*.parquet` (tibcpt.shards.ShardWriter): row groups of `row_group_docs`
    documents, a new shard once `shard_bytes` of text are in the current one."""

    def __init__(self, folder: Path, cfg: Any) -> None:
        self.cfg = cfg
        self.writer = ShardWriter(folder, DOC_SCHEMA, cfg.compression)
        self.shards: list[dict] = []
        self._rows: list[dict] = []
        self._bytes = 0
        self._count = 0

    def add(self, row: dict) -> None:
        self._rows.append(row)
        self._bytes += row["n_bytes"]
        self._count += 1
        if len(self._rows) >= self.cfg.row_group_docs:
            self._flush_rows()
        if self._bytes >= self.cfg.shard_bytes:
            self._close_shard()

    def _flush_rows(self) -> None:
        if self._rows:
            self.writer.write(pa.Table.from_pylist(self._rows, schema=DOC_SCHEMA))
            self._rows = []

    def _close_shard(self) -> None:
        self._flush_rows()
        path = self.writer.close_shard()
        if path is not None:
            self.shards.append({"path": f"{DATA}/{path.name}", "docs": self._count, "bytes": self._bytes})
        self._bytes, self._count = 0, 0

    def close(self) -> list[dict]:
        self._close_shard()
        return self.shards


def run_write_phase(
    sources: list[SourceConfig],
    cfg: CorpusConfig,
    out: Path,
    results: list[dict],
    removed: dict[str, dict],
    dedup_info: dict[str, Any],
    t0: float,
) -> dict[str, Any]:
    data = out / DATA
    data.mkdir(parents=True, exist_ok=True)
    # The run is published as one unit: no manifest while shards change, the new one written last.
    # A reader (publish, a user) that finds manifest.json finds the data it describes.
    (out / MANIFEST).unlink(missing_ok=True)
    writer = _CorpusShards(data, cfg.write)
    per_source: dict[str, dict[str, Any]] = defaultdict(lambda: {"docs_out": 0, "bytes": 0, "syllables": 0})
    with ParquetFileWriter(out / REJECTED, REJECT_SCHEMA) as rej_writer:
        n_rejected = 0
        for part in tqdm(_parts(results), desc="write", unit="part"):
            keep, drop = [], []
            for row in iter_rows(part):
                r = removed.get(row["id"])
                if r is None:
                    keep.append(row)
                else:
                    drop.append({**r, "text": row["text"][: Rejection.MAX_TEXT]})
            for row in keep:
                writer.add(row)
                s = per_source[row["source"]]
                s["docs_out"] += 1
                s["bytes"] += row["n_bytes"]
                s["syllables"] += row["n_syllables"]
            if drop:
                rej_writer.write(pa.Table.from_pylist(drop, schema=REJECT_SCHEMA))
                n_rejected += len(drop)
        for r in sorted(results, key=lambda r: (r["task"].source_index, r["task"].task_index)):
            t = pq.read_table(r["task"].reject_path)
            if t.num_rows:
                rej_writer.write(t)
                n_rejected += t.num_rows
    shards = writer.close()
    keep_names = {Path(s["path"]).name for s in shards}
    for stale in data.glob(SHARD_GLOB):
        if stale.name not in keep_names:
            stale.unlink()

    manifest = _manifest(sources, cfg, results, removed, dedup_info, per_source, shards, n_rejected, t0)
    t = manifest["totals"]
    if t["docs_in"] != t["docs_out"] + t["rejected"]:  # every document is kept or rejected, never lost
        raise RuntimeError(
            f"accounting bug: {t['docs_in']} documents in != {t['docs_out']} kept + {t['rejected']} rejected; "
            "manifest not written"
        )
    try:
        write_report(out, manifest)
    except Exception as e:  # a plotting problem must never lose a finished corpus
        log.warning("corpus report not written: %s", e)
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


def _manifest(sources, cfg, results, removed, dedup_info, per_source, shards, n_rejected, t0) -> dict:
    stages: dict[str, StageStats] = defaultdict(StageStats)
    src_stages: dict[str, dict[str, StageStats]] = defaultdict(lambda: defaultdict(StageStats))
    for r in results:
        for name, st in r["stats"].items():
            s = StageStats.from_dict(st)
            stages[name].merge(s)
            src_stages[r["source"]][name].merge(s)
    # Dedup stages as StageStats too, so the manifest reads the same for every stage.
    surviving: Counter = Counter()
    for r in results:
        surviving[r["source"]] += r["docs"]
    n_removed = Counter((v["source"], v["stage"]) for v in removed.values())  # one pass, not one per stage x source
    for stage, reason in (("exact_dedup", "exact_duplicate"), ("near_dedup", "near_duplicate"),
                          ("decontaminate", "contamination")):  # fmt: skip
        for src in sources:
            n_drop = n_removed[src.name, stage]
            s = StageStats(docs_in=surviving[src.name], docs_out=surviving[src.name] - n_drop)
            if n_drop:
                s.dropped[reason] = n_drop
            surviving[src.name] -= n_drop
            src_stages[src.name][stage] = s
            stages[stage].merge(s)
    drops: Counter = Counter()
    for st in stages.values():
        drops.update(st.dropped)
    total_out = sum(v["docs_out"] for v in per_source.values())
    return {
        "format": "tibcpt-corpus-v1",
        "tool": {"name": "tibcpt", "version": __version__, "python": platform.python_version()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.time() - t0, 2),
        "config_hash": config_hash(cfg),
        "config": to_dict(cfg),
        "totals": {
            "docs_in": stages["ingest"].docs_in,
            "docs_out": total_out,
            "bytes": sum(v["bytes"] for v in per_source.values()),
            "syllables": sum(v["syllables"] for v in per_source.values()),
            "rejected": n_rejected,
            "dropped_by_reason": dict(sorted(drops.items())),
        },
        "stages": {k: stages[k].to_dict() for k in stages},
        "sources": {
            s.name: {
                "kind": s.kind,
                "license": s.license,
                "genre": s.genre,
                "weight": s.weight,
                "eval_only": s.eval_only,  # read by tibcpt tokenizer / pack: never trained on
                "description": s.description,
                **per_source.get(s.name, {"docs_out": 0, "bytes": 0, "syllables": 0}),
                "stages": {k: v.to_dict() for k, v in src_stages[s.name].items()},
            }
            for s in sources
        },
        "dedup": dedup_info,
        "shards": shards,
        "rejected_file": REJECTED,
    }
