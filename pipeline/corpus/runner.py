"""`tibcpt corpus`: sources.yaml -> clean Tibetan text shards + manifest.

Three resumable phases, each leaving its outputs atomically under `<out>/_work` with a config hash:
1. text   (parallel, per task of a few input items): ingest -> extract -> normalize -> clean -> segment -> filter;
          one Parquet part of kept documents, one of rejections and one stats JSON per task. The stats
          JSON is written last and is the task's completion marker, so a killed run redoes only the
          tasks that had not finished.
2. dedup  (global): exact duplicates, then near duplicates (MinHash-LSH), then decontamination
          against an evaluation set; the result is a table of removed ids with reason and detail.
3. write  : clean shards (`data/shard-*.parquet`), `rejected.parquet` and `manifest.json` (last).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import MutableMapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tibcpt.pipeline.corpus import parts as corpus_io
from tibcpt.pipeline.corpus.config import TEXT_MODULES, CorpusConfig, code_hash
from tibcpt.pipeline.corpus.write import run_dedup_phase, run_write_phase
from tibcpt.pipeline.dedup.decontaminate import load_eval_texts
from tibcpt.pipeline.document import Document, Rejection, Stage, StageStats
from tibcpt.pipeline.extract.extractor import Extractor
from tibcpt.pipeline.sources.registry import Ingest, SourceConfig, get_kind, load_sources
from tibcpt.pipeline.text.clean import Cleaner
from tibcpt.pipeline.text.filters import QualityFilter
from tibcpt.pipeline.text.normalize import Normalizer
from tibcpt.pipeline.text.segment import Segmenter
from tqdm import tqdm

from tibcpt import __version__
from tibcpt.config import ConfigError, config_hash, load_config, to_dict
from tibcpt.errors import InputError
from tibcpt.io import exclusive_lock, sweep_temp_files, write_json_atomic
from tibcpt.shards import WORK, index_of, part_name, reject_name, stats_name

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- phase 1: text
@dataclass
class TextTask:
    source_index: int
    task_index: int
    items: list[Any]
    out_dir: Path
    key: str
    """Config + input hash; a finished task with the same key is skipped."""

    @property
    def part_path(self) -> Path:
        return self.out_dir / part_name(self.task_index)

    @property
    def reject_path(self) -> Path:
        return self.out_dir / reject_name(self.task_index)

    @property
    def stats_path(self) -> Path:
        return self.out_dir / stats_name(self.task_index)

    def finished(self) -> dict[str, Any] | None:
        """The stats JSON of this task if it finished under the same key, else None."""
        try:
            result = json.loads(self.stats_path.read_text())
            return result if result["key"] == self.key else None
        except (FileNotFoundError, ValueError, KeyError):
            return None


_WORKER: dict[str, Any] = {}


def _die_with_parent() -> None:
    """A pool worker must not outlive a killed runner: kill -9 gives the pool no chance to stop its
    workers, which then run on, writing parts for a run nobody waits for. Linux: the kernel sends
    SIGKILL when the parent dies (prctl PR_SET_PDEATHSIG); elsewhere a thread polls getppid()."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the thread below does the job
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _init_pool_worker(cfg: CorpusConfig, sources: list[SourceConfig]) -> None:
    _die_with_parent()
    _init_worker(cfg, sources)


def _init_worker(cfg: CorpusConfig, sources: list[SourceConfig]) -> None:
    """Build the stages once per worker process (botok's trie and regexes are costly to rebuild)."""
    _WORKER.update(
        cfg=cfg,
        sources=sources,
        stages=[
            Extractor(cfg.extract),
            Normalizer(cfg.normalize),
            Cleaner(cfg.clean, cfg.normalize),
            Segmenter(cfg.segment),
            # Genre lets the filter exempt formulaic canonical text from web repetition thresholds.
            QualityFilter(cfg.filter, source_genres={s.name: s.genre for s in sources}),
        ],
    )


def text_stages(src: SourceConfig) -> list[Stage]:
    """ingest -> extract -> normalize -> clean -> segment -> filter, for one source's work items."""
    return [Ingest(src), *_WORKER["stages"]]


def _run_text_task(task: TextTask) -> dict[str, Any]:
    src: SourceConfig = _WORKER["sources"][task.source_index]
    stages = text_stages(src)
    stats = {stage.name: StageStats() for stage in stages}
    rejects: list[Rejection] = []
    batch: list[Any] = list(task.items)
    for stage in stages:  # every count of the manifest's text stages is taken here, by Stage.__call__
        batch = stage(batch, stats[stage.name], rejects)
    docs: list[Document] = batch
    corpus_io.write_docs(task.part_path, docs, src)
    corpus_io.write_rejections(task.reject_path, rejects)
    result = {
        "key": task.key,
        "source": src.name,
        "stats": {k: v.to_dict() for k, v in stats.items()},
        "docs": len(docs),
        "syllables": sum(int(d.meta.get("n_syllables", 0)) for d in docs),
    }
    write_json_atomic(task.stats_path, result)
    return result


def plan_text_tasks(sources: list[SourceConfig], cfg: CorpusConfig, work: Path) -> list[TextTask]:
    stage_hash = config_hash(
        cfg.extract, cfg.normalize, cfg.clean, cfg.segment, cfg.filter, __version__, code_hash(*TEXT_MODULES)
    )
    tasks: list[TextTask] = []
    for si, src in enumerate(sources):
        items = get_kind(src.kind).list_items(src)
        if not items:
            log.warning("source %s: no input items found", src.name)
        out_dir = work / "text" / src.name
        src_hash = config_hash({k: v for k, v in to_dict(src).items() if k != "base_dir"})
        fps = _fingerprints(items)  # one stat per item serves both the task sizes and the resume keys
        # A FilePart weighs its bytes, a file its size, an item that is not a file 0.
        sizes = [it.size if hasattr(it, "size") else fp[0] if fp else 0 for it, fp in zip(items, fps)]
        for ti, r in enumerate(_chunks(sizes, cfg.items_per_task, cfg.task_bytes)):
            chunk = items[r.start : r.stop]
            key = config_hash(stage_hash, src_hash, [str(i) for i in chunk], fps[r.start : r.stop])
            tasks.append(TextTask(si, ti, chunk, out_dir, key))
    return tasks


def _chunks(sizes: list[int], max_items: int, max_bytes: int) -> list[range]:
    """Index ranges of consecutive items grouped by count and by size."""
    out: list[range] = []
    start = size = 0
    for i, n in enumerate(sizes):
        if i > start and (i - start >= max_items or size + n > max_bytes):
            out.append(range(start, i))
            start, size = i, 0
        size += n
    if start < len(sizes):
        out.append(range(start, len(sizes)))
    return out


def _fingerprints(items: list[Any]) -> list[Any]:
    """Size, mtime and ctime in nanoseconds and inode of path items, so an edited input invalidates
    its task on resume. Whole-second mtime and size missed a same-size edit whose old mtime was put
    back (touch -d, cp -p, rsync -t); ctime cannot be set back by a user. Git's index uses the same
    stat fields to spot changed files without reading them (git docs, "racy-git")."""
    out = []
    for it in items:
        p = Path(getattr(it, "path", str(it)))  # a part of a file: the file
        try:
            st = p.stat()
            out.append((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
        except OSError:
            out.append(None)
    return out


def ray_token_auth(environ: MutableMapping[str, str]) -> bool:
    """Join a token-authenticated Ray cluster. `ray start` turns token auth on when a token exists
    (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, which a local `ray.init()` writes), but
    a driver whose RAY_AUTH_MODE is unset sends no token and retries `InvalidAuthToken` forever (Ray
    2.60, docs.ray.io "ray-security/token-auth"). Do what `ray start` does: a token is available and
    the mode unset -> RAY_AUTH_MODE=token. Returns whether the driver uses token auth."""
    if environ.get("RAY_AUTH_MODE"):
        return environ["RAY_AUTH_MODE"].lower() == "token"
    token_file = Path(environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if environ.get("RAY_AUTH_TOKEN") or token_file.is_file():
        environ["RAY_AUTH_MODE"] = "token"
        log.info("Ray: token found, connecting with RAY_AUTH_MODE=token (set RAY_AUTH_MODE to override)")
        return True
    return False


def _map_tasks(todo: list[TextTask], cfg: CorpusConfig, sources: list[SourceConfig], workers: int, executor: str):
    """Yield task results as they finish: in-process, a local process pool, or a Ray cluster."""
    if executor == "ray":
        # Ray's Pool is a drop-in for multiprocessing.Pool whose workers may live on other machines;
        # outputs go to `out`, which must then be on a shared filesystem (NFS, Lustre, a mounted bucket).
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray_token_auth(os.environ)  # before importing ray, which reads RAY_AUTH_MODE once
        from ray.util.multiprocessing import Pool

        with Pool(processes=workers, initializer=_init_worker, initargs=(cfg, sources), ray_address=address) as pool:
            yield from pool.imap_unordered(_run_text_task, todo)
    elif workers <= 1:
        _init_worker(cfg, sources)
        for t in todo:
            yield _run_text_task(t)
    else:
        with ProcessPoolExecutor(workers, initializer=_init_pool_worker, initargs=(cfg, sources)) as ex:
            yield from ex.map(_run_text_task, todo)


def run_text_phase(
    sources: list[SourceConfig], cfg: CorpusConfig, work: Path, workers: int, executor: str = "local"
) -> list[dict]:
    tasks = plan_text_tasks(sources, cfg, work)
    # Parts of tasks that no longer exist (fewer inputs than last run) must not leak into the output.
    for src in sources:
        d = work / "text" / src.name
        if d.exists():
            wanted = {t.task_index for t in tasks if t.out_dir == d}
            for p in d.iterdir():
                idx = index_of(p.name)
                if idx is not None and idx not in wanted:
                    p.unlink()
    finished = [t.finished() for t in tasks]  # each stats JSON is read once: here, or after its task ran
    todo = [t for t, r in zip(tasks, finished) if r is None]
    log.info("text phase: %d tasks (%d already done, resuming)", len(tasks), len(tasks) - len(todo))
    if todo:
        with tqdm(total=len(todo), desc="text", unit="task") as bar:
            for r in _map_tasks(todo, cfg, sources, workers, executor):
                bar.update(1)
                bar.set_postfix(source=r["source"], docs=r["docs"])
    return [(r or json.loads(t.stats_path.read_text())) | {"task": t} for t, r in zip(tasks, finished)]


# ----------------------------------------------------------------------------- CLI
def run_corpus(
    sources_path: str | Path,
    out: str | Path,
    workers: int | None = None,
    cfg: CorpusConfig | None = None,
    decontaminate: str | Path | None = None,
    only: list[str] | None = None,
    executor: str = "local",
    clean_work: bool = False,
) -> dict[str, Any]:
    """Run all phases under an exclusive lock on `out`; return the manifest.

    `clean_work` removes `_work/` once the run is complete (it is kept by default: it is what a
    later run resumes from, and what lets a changed filter re-run only the text phase)."""
    t0 = time.time()
    cfg = cfg or CorpusConfig()
    out = Path(out)
    work = out / WORK
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    workers = workers or os.cpu_count() or 1
    sources = load_sources(sources_path, only=only)
    if not sources:
        raise ConfigError(f"{sources_path}: no enabled sources")
    if decontaminate is not None:
        if not Path(decontaminate).is_file():
            raise InputError(f"--decontaminate: file not found: {decontaminate}")
        try:  # read now, not after hours of text phase (JSON and UTF-8 errors are ValueErrors)
            load_eval_texts(Path(decontaminate))
        except (ValueError, OSError) as e:
            raise InputError(f"--decontaminate {decontaminate}: {e}") from None
    if executor not in ("local", "ray"):
        raise ConfigError(f"executor {executor!r} must be 'local' or 'ray'")
    with exclusive_lock(out, "tibcpt corpus"):
        swept = sweep_temp_files(out)  # under the lock: no live run owns a temp file here
        if swept:
            log.info("removed %d temp file(s) left by an interrupted run", swept)
        results = run_text_phase(sources, cfg, work, workers, executor)
        removed, dedup_info = run_dedup_phase(sources, cfg, work, results, workers, decontaminate)
        manifest = run_write_phase(sources, cfg, out, results, removed, dedup_info, t0)
        if clean_work:
            shutil.rmtree(work)  # ours: created by this runner under its own output folder
    return manifest


def add_cli(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sources", default="sources.yaml", help="sources.yaml listing the sources")
    p.add_argument("--out", default="out/corpus", help="output folder")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--config", default=None, help="stage configs YAML (configs/pipeline/corpus.yaml)")
    p.add_argument("--decontaminate", default=None, help="evaluation documents (text or jsonl) to keep out")
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local process pool, or Ray (RAY_ADDRESS=auto to join a cluster; out must be shared storage)",
    )
    p.add_argument("--source", action="append", dest="only", metavar="NAME", help="run only this source (repeatable)")
    p.add_argument(
        "--clean-work",
        action="store_true",
        help="remove <out>/_work once the run is complete (kept by default: later runs resume from it)",
    )
    p.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. filter.min_syllables=50")


def cli(args: argparse.Namespace) -> int:
    cfg = load_config(CorpusConfig, args.config, args.overrides)
    m = run_corpus(
        args.sources, args.out, args.workers, cfg, args.decontaminate, args.only, args.executor, args.clean_work
    )
    t = m["totals"]
    print(
        f"corpus: {t['docs_out']} documents, {t['syllables']} syllables, {t['bytes'] / 1e6:.1f} MB "
        f"in {len(m['shards'])} shard(s); {t['rejected']} rejected (see rejected.parquet) -> {args.out}"
    )
    return 0
