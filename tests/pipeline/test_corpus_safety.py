"""Data safety of `tibcpt corpus` (issue 14): ids, accounting, locks, change detection, one-unit output."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tibcpt.pipeline.corpus import runner
from tibcpt.pipeline.corpus import write as corpus_write
from tibcpt.pipeline.corpus.runner import CorpusConfig, run_corpus
from tibcpt.pipeline.dedup.exact import ExactDedupConfig
from tibcpt.pipeline.text.filters import QualityFilter

from tibcpt.errors import ConfigError, InputError
from tibcpt.io import exclusive_lock


@pytest.fixture()
def small(tmp_path: Path, shared: Path) -> Path:
    """Real Tibetan: the UDHR, three children's stories and a jsonl of nanhai paragraphs."""
    c = shared / "corpus"
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(c / "modern/udhr/udhr_bod.txt", d / "udhr.txt")
    for f in sorted((c / "modern/childrens-stories").glob("L3-*.txt"))[:3]:
        shutil.copy(f, d / f.name)
    texts = [f.read_text(encoding="utf-8") for f in sorted((c / "modern/nanhai-modern-writing").glob("*.txt"))[:6]]
    # Record 2 carries the explicit id "4"; record 4 has none, so its fallback id is "#4" too.
    recs = [{"id": "a", "text": texts[0]}, {"id": "4", "text": texts[1]}, {"id": "c", "text": texts[2]},
            {"text": texts[3]}, {"id": "e", "text": texts[4]}]  # fmt: skip
    (d / "records.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    y = tmp_path / "sources.yaml"
    y.write_text(f"sources:\n  - {{name: s, kind: local, license: MIT, genre: literature, path: {d}}}\n")
    return y


def _ids(out: Path) -> list[str]:
    return [i for p in sorted((out / "data").glob("*.parquet")) for i in pq.read_table(p).column("id").to_pylist()]


def test_colliding_record_ids_keep_one_and_reject_the_other_with_a_reason(small: Path, tmp_path: Path):
    out = tmp_path / "out"
    m = run_corpus(small, out, workers=1)
    rejected = pq.read_table(out / "rejected.parquet").to_pylist()
    dup = [r for r in rejected if r["reason"] == "duplicate_id"]
    assert [r["id"] for r in dup] == ["s/records.jsonl#4"] and dup[0]["text"], "the second copy, with its text"
    assert "s/records.jsonl#4" in _ids(out), "the first copy is kept"
    t = m["totals"]
    assert t["docs_in"] == t["docs_out"] + t["rejected"] == t["docs_out"] + len(rejected)
    assert sum(t["dropped_by_reason"].values()) == t["rejected"]
    for name, st in m["stages"].items():
        assert st["docs_in"] == st["docs_out"] + sum(st["dropped"].values()), name


def test_a_document_lost_without_a_rejection_stops_the_run_before_the_manifest(small, tmp_path, monkeypatch):
    real = QualityFilter.process
    monkeypatch.setattr(QualityFilter, "process", lambda self, docs, st, rej: real(self, docs, st, rej)[1:])
    with pytest.raises(RuntimeError, match="accounting bug"):
        run_corpus(small, tmp_path / "out", workers=1)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_exact_dedup_disabled_still_runs_near_dedup_and_decontamination(small: Path, tmp_path: Path, shared):
    udhr = (shared / "corpus/modern/udhr/udhr_bod.txt").read_text(encoding="utf-8")
    ev = tmp_path / "eval.jsonl"
    ev.write_text(json.dumps({"text": udhr[2000:2400]}, ensure_ascii=False) + "\n", encoding="utf-8")
    cfg = CorpusConfig(exact_dedup=ExactDedupConfig(enabled=False))
    m = run_corpus(small, tmp_path / "out", workers=1, cfg=cfg, decontaminate=ev)
    assert m["sources"]["s"]["stages"]["decontaminate"]["dropped"] == {"contamination": 1}


def _texts(out: Path) -> dict[str, str]:
    return {r["id"]: r["text"] for p in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(p).to_pylist()}


def test_same_size_edit_with_old_mtime_restored_is_rerun(small: Path, tmp_path: Path):
    out = tmp_path / "out"
    run_corpus(small, out, workers=1)
    before = _texts(out)["s/udhr.txt"]
    f = small.parent / "in" / "udhr.txt"
    st = f.stat()
    text = f.read_text(encoding="utf-8")
    edited = text.replace("ཀ", "ཁ", 1)  # one letter for another of the same UTF-8 length
    assert edited != text and len(edited.encode()) == len(text.encode())
    f.write_text(edited, encoding="utf-8")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # cp -p / touch -d: the old mtime is back
    assert f.stat().st_mtime_ns == st.st_mtime_ns and f.stat().st_size == st.st_size
    run_corpus(small, out, workers=1)
    after = _texts(out)["s/udhr.txt"]
    assert after.count("ཁ") == before.count("ཁ") + 1 and after.count("ཀ") == before.count("ཀ") - 1


def test_a_second_run_on_the_same_output_fails_naming_the_first(small: Path, tmp_path: Path):
    out = tmp_path / "out"
    busy = rf"in use by another run \(tibcpt corpus, pid {os.getpid()}"
    with exclusive_lock(out, "tibcpt corpus"), pytest.raises(InputError, match=busy):
        run_corpus(small, out, workers=1)
    run_corpus(small, out, workers=1)  # released: the next run goes ahead
    assert (out / "manifest.json").is_file()


def test_a_kill_between_shards_and_manifest_leaves_no_stale_manifest(small, tmp_path, monkeypatch):
    out = tmp_path / "out"
    run_corpus(small, out, workers=1)
    (out / "data" / ".tmp-shard-00000.parquet.x1y2").write_bytes(b"half a shard")  # a killed write
    monkeypatch.setattr(corpus_write, "write_report", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        run_corpus(small, out, workers=1, cfg=CorpusConfig(filter=_stricter()))
    assert not (out / "manifest.json").exists(), "new shards are in place: the old manifest must be gone"
    monkeypatch.undo()
    m = run_corpus(small, out, workers=1, cfg=CorpusConfig(filter=_stricter()))
    assert m["totals"]["docs_out"] == len(_ids(out))
    assert not list(out.rglob(".tmp-*")), "temp files of the killed run are swept under the lock"


def _stricter():
    from tibcpt.pipeline.text.filters import FilterConfig

    return FilterConfig(min_syllables=400)


def test_workers_and_clean_work(small: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="--workers must be >= 1"):
        run_corpus(small, tmp_path / "o0", workers=0)
    with pytest.raises(ConfigError, match="--workers must be >= 1"):
        run_corpus(small, tmp_path / "o0", workers=-2)
    a, b = tmp_path / "keep", tmp_path / "clean"
    run_corpus(small, a, workers=1)
    run_corpus(small, b, workers=1, clean_work=True)
    assert (a / "_work").is_dir() and not (b / "_work").exists()
    assert pq.read_table(a / "data/shard-00000.parquet").equals(pq.read_table(b / "data/shard-00000.parquet"))


def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_pool_workers_die_with_a_killed_runner(small: Path, tmp_path: Path):
    script = tmp_path / "slow.py"
    script.write_text(
        textwrap.dedent(f"""
        import time
        from tibcpt.pipeline.corpus import runner
        real = runner._run_text_task
        def slow(task):
            time.sleep(60)
            return real(task)
        runner._run_text_task = slow
        runner.run_corpus({str(small)!r}, {str(tmp_path / "out")!r}, workers=2,
                          cfg=runner.CorpusConfig(items_per_task=1))
    """)
    )
    proc = subprocess.Popen([sys.executable, str(script)])
    kids: list[int] = []
    try:
        deadline = time.time() + 60
        while len(_children(proc.pid)) < 2 and time.time() < deadline:
            time.sleep(0.2)
        kids = _children(proc.pid)
        assert len(kids) >= 2, "the pool never started"
        time.sleep(1.0)  # let the workers pick up their tasks
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 10
        while any(_alive(k) for k in kids) and time.time() < deadline:
            time.sleep(0.2)
        assert not [k for k in kids if _alive(k)], "workers outlived their killed parent"
    finally:  # the workers this test started, by pid (reparented once their parent is gone)
        for k in set(kids) | set(_children(proc.pid)):
            if _alive(k):
                os.kill(k, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()


def test_ray_driver_uses_token_auth_when_a_token_exists(tmp_path: Path, monkeypatch):
    token = tmp_path / "auth_token"
    env = {"RAY_AUTH_TOKEN_PATH": str(token)}
    assert runner.ray_token_auth(env) is False and "RAY_AUTH_MODE" not in env
    token.write_text("x" * 64)
    assert runner.ray_token_auth(env) is True and env["RAY_AUTH_MODE"] == "token"
    explicit = {"RAY_AUTH_TOKEN_PATH": str(token), "RAY_AUTH_MODE": "disabled"}
    assert runner.ray_token_auth(explicit) is False and explicit["RAY_AUTH_MODE"] == "disabled"
    assert runner.ray_token_auth({"RAY_AUTH_TOKEN": "abc", "RAY_AUTH_TOKEN_PATH": str(tmp_path / "none")})


def _kill_cluster(temp_dir: str) -> None:
    """The Ray processes this test started: their command lines name its --temp-dir."""
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if temp_dir in (p / "cmdline").read_bytes().decode(errors="replace"):
                    os.kill(int(p.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass


@pytest.mark.slow
def test_corpus_joins_a_token_auth_ray_cluster_through_ray_address(small: Path, tmp_path: Path):
    """The README's cluster set-up: `ray start --head` (token auth on, Ray 2.60) then
    `RAY_ADDRESS=host:port tibcpt corpus --executor ray`, with RAY_AUTH_MODE unset."""
    pytest.importorskip("ray")
    import socket
    import tempfile

    home = tmp_path / "home"
    home.mkdir()
    temp_dir = tempfile.mkdtemp(prefix="tr", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HOME": str(home)}
    env.pop("RAY_AUTH_MODE", None)
    env.pop("RAY_ADDRESS", None)
    ray_bin = str(Path(sys.executable).parent / "ray")
    try:
        subprocess.run([ray_bin, "get-auth-token", "--generate"], env=env, capture_output=True, timeout=60)
        assert (home / ".ray" / "auth_token").is_file()
        r = subprocess.run(
            [ray_bin, "start", "--head", "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats",
             "--temp-dir", temp_dir, "--port", str(port), "--node-ip-address", "127.0.0.1"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]
        cmd = [sys.executable, "-m", "tibcpt.cli", "corpus", "--sources", str(small), "--out", str(tmp_path / "ray"),
               "--workers", "2", "--executor", "ray"]  # fmt: skip
        r = subprocess.run(cmd, env={**env, "RAY_ADDRESS": f"127.0.0.1:{port}"}, capture_output=True, text=True,
                           timeout=300)  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        assert "InvalidAuthToken" not in r.stderr
    finally:
        _kill_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
    run_corpus(small, tmp_path / "local", workers=2)
    a = pq.read_table(tmp_path / "ray" / "data" / "shard-00000.parquet")
    assert a.num_rows > 0 and a.equals(pq.read_table(tmp_path / "local" / "data" / "shard-00000.parquet"))


def test_a_large_jsonl_is_shared_by_several_tasks(tmp_path: Path, shared: Path):
    texts = [
        f.read_text(encoding="utf-8")
        for f in sorted((shared / "corpus/modern/nanhai-modern-writing").glob("*.txt"))[:40]
    ]
    d = tmp_path / "in"
    d.mkdir()
    (d / "all.jsonl").write_text(
        "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8"
    )
    y = tmp_path / "s.yaml"
    entry = f"  - {{name: s, kind: local, license: MIT, genre: literature, path: {d}, jsonl_part_bytes: {{b}}}}\n"
    y.write_text("sources:\n" + entry.replace("{b}", "65536"))
    m = run_corpus(y, tmp_path / "cut", workers=2, cfg=CorpusConfig(task_bytes=65536))  # parts close tasks
    assert len(list((tmp_path / "cut" / "_work" / "text").rglob("stats-*.json"))) > 1
    y.write_text("sources:\n" + entry.replace("{b}", str(1 << 30)))
    w = run_corpus(y, tmp_path / "whole", workers=1)
    assert len(list((tmp_path / "whole" / "_work" / "text").rglob("stats-*.json"))) == 1
    assert m["totals"]["docs_out"] == w["totals"]["docs_out"] > 30
    assert pq.read_table(tmp_path / "cut/data/shard-00000.parquet").equals(
        pq.read_table(tmp_path / "whole/data/shard-00000.parquet")
    )


def test_a_bad_decontamination_file_fails_before_any_work(small: Path, tmp_path: Path):
    ev = tmp_path / "eval.jsonl"
    ev.write_text('{"text": "བོད་"}\n{"txt": 1}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"eval\.jsonl:2: expected a JSON object"):
        run_corpus(small, tmp_path / "out", workers=1, decontaminate=ev)
    assert not (tmp_path / "out" / "_work").exists()


class _Renames:
    """tibcpt.io's `os`, with `replace` (every atomic write's last step) counted, and a kill at call `kill_at`."""

    def __init__(self, kill_at: int | None = None) -> None:
        self.n, self.kill_at = 0, kill_at

    def replace(self, src, dst):
        self.n += 1
        if self.n == self.kill_at:
            raise KeyboardInterrupt(f"killed before rename {self.n}: {Path(dst).name}")
        os.replace(src, dst)

    def __getattr__(self, name):
        return getattr(os, name)


def _outputs(out: Path) -> dict:
    files = sorted((out / "data").glob("*.parquet")) + [out / "rejected.parquet"]
    m = json.loads((out / "manifest.json").read_text())
    return {"files": {f.name: f.read_bytes() for f in files}, "counts": [m[k] for k in ("totals", "stages", "shards")]}


def _manifest_matches_data(out: Path) -> bool:
    """No manifest, or one whose shards are exactly the shard files on disk with its row counts."""
    if not (out / "manifest.json").exists():
        return True
    m = json.loads((out / "manifest.json").read_text())
    listed = {s["path"]: s["docs"] for s in m["shards"]}
    on_disk = {f"data/{p.name}": pq.ParquetFile(p).metadata.num_rows for p in (out / "data").glob("shard-*.parquet")}
    return listed == on_disk and m["totals"]["rejected"] == pq.ParquetFile(out / "rejected.parquet").metadata.num_rows


@pytest.mark.slow
def test_a_rerun_killed_at_12_random_writes_resumes_to_the_uninterrupted_output(small, tmp_path, monkeypatch):
    """Every file a run writes goes through one rename (tibcpt.io.atomic_path). A finished corpus is re-run
    with a stricter filter and killed just before its k-th rename, for 12 random k over the whole run
    (parts, stats, dedup tables, shards, rejected.parquet, report, manifest). At every kill point a
    manifest present describes the data beside it; resuming gives the bytes of an uninterrupted run.
    bench/kill_resume.py does the same with real SIGKILLs of the CLI."""
    import random

    from tibcpt.pipeline.text.filters import FilterConfig

    import tibcpt.io

    first, second = (
        CorpusConfig(items_per_task=1),
        CorpusConfig(items_per_task=1, filter=FilterConfig(min_syllables=1000)),
    )
    run_corpus(small, tmp_path / "done", workers=1, cfg=first)
    run_corpus(small, tmp_path / "ref", workers=1, cfg=second)
    ref = _outputs(tmp_path / "ref")
    assert ref["counts"][0] != _outputs(tmp_path / "done")["counts"][0], "the second config changes the corpus"
    counter = _Renames()
    shutil.copytree(tmp_path / "done", tmp_path / "count")
    monkeypatch.setattr(tibcpt.io, "os", counter)
    run_corpus(small, tmp_path / "count", workers=1, cfg=second)
    points = sorted(random.Random(0).sample(range(1, counter.n + 1), min(12, counter.n)))
    assert len(points) >= 10
    for k in points:
        out = tmp_path / f"kill{k}"
        shutil.copytree(tmp_path / "done", out)
        monkeypatch.setattr(tibcpt.io, "os", _Renames(kill_at=k))
        with pytest.raises(KeyboardInterrupt):
            run_corpus(small, out, workers=1, cfg=second)
        monkeypatch.setattr(tibcpt.io, "os", os)
        assert _manifest_matches_data(out), f"killed before rename {k} of {counter.n}: stale manifest"
        run_corpus(small, out, workers=1, cfg=second)
        assert _outputs(out) == ref, f"killed before rename {k} of {counter.n}"
