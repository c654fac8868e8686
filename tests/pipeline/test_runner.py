"""End-to-end and resume tests of `tibcpt corpus` on a slice of the real sample corpus."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tibcpt.pipeline.corpus import runner as runner
from tibcpt.pipeline.corpus.runner import CorpusConfig, run_corpus

REPO = Path(__file__).resolve().parents[2]

SOURCES_TMPL = """
sources:
  - name: kangyur
    kind: etext
    license: LicenseRef-public-domain
    genre: religious
    path: {etext}
  - name: stories
    kind: local
    license: CC-BY-NC-4.0
    genre: children
    path: {stories}
    segmented: true
  - name: udhr
    kind: local
    license: unknown
    genre: legal
    path: {udhr}
  - name: junk
    kind: local
    license: unknown
    genre: web
    path: {junk}
"""


@pytest.fixture()
def corpus_inputs(tmp_path: Path, shared: Path) -> Path:
    """A small real slice plus every kind of bad input the issue lists."""
    c = shared / "corpus"
    etext = tmp_path / "in" / "etext"
    etext.mkdir(parents=True)
    # The first ~400 lines of a Kangyur volume: several {D...} texts, folio markers, NFD.
    lines = (c / "classical/derge-kangyur/vol060_sutra_ma.txt").read_text(encoding="utf-8").splitlines()
    (etext / "vol060_head.txt").write_text("\n".join(lines[:400]) + "\n", encoding="utf-8")
    stories = tmp_path / "in" / "stories"
    stories.mkdir()
    for f in sorted((c / "modern/childrens-stories").glob("L3-*.txt"))[:6]:
        shutil.copy(f, stories / f.name)
    udhr = tmp_path / "in" / "udhr"
    udhr.mkdir()
    shutil.copy(c / "modern/udhr/udhr_bod.txt", udhr / "udhr_bod.txt")
    shutil.copy(c / "modern/udhr/udhr_bod.txt", udhr / "udhr_copy.txt")  # exact duplicate
    junk = tmp_path / "in" / "junk"
    junk.mkdir()
    (junk / "invalid_utf8.txt").write_bytes(b"\xff\xfe\xfa" * 500 + "བོད་".encode() + b"\xc3\x28" * 400)
    (junk / "empty.txt").write_bytes(b"")
    (junk / "binary.txt").write_bytes(bytes(range(256)) * 64)
    (junk / "truncated.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj <<")
    (junk / "english.txt").write_text("This is an English page about something else entirely.\n" * 40)
    y = tmp_path / "sources.yaml"
    y.write_text(SOURCES_TMPL.format(etext=etext, stories=stories, udhr=udhr, junk=junk))
    return y


def _read_ids(out: Path) -> list[str]:
    ids: list[str] = []
    for p in sorted((out / "data").glob("shard-*.parquet")):
        ids += pq.read_table(p, columns=["id"]).column("id").to_pylist()
    return ids


def test_corpus_end_to_end_accounts_for_every_document(corpus_inputs: Path, tmp_path: Path):
    out = tmp_path / "out"
    m = run_corpus(corpus_inputs, out, workers=2, cfg=CorpusConfig(near_dedup=_near(False)))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"] == m["totals"]
    t = m["totals"]
    # Nothing is lost silently: every input document is either in a shard or in rejected.parquet.
    rejected = pq.read_table(out / "rejected.parquet")
    assert t["docs_in"] == t["docs_out"] + rejected.num_rows == t["docs_out"] + t["rejected"]
    reasons = dict(zip(*[rejected.column(c).to_pylist() for c in ("id", "reason")]))
    by_name = {Path(k.split("#")[0]).name: v for k, v in reasons.items()}
    assert by_name["udhr_copy.txt"] == "exact_duplicate"
    for bad in ("invalid_utf8.txt", "empty.txt", "binary.txt", "truncated.pdf", "english.txt"):
        assert bad in by_name, f"{bad} should be rejected with a reason"
    assert all(r for r in rejected.column("reason").to_pylist())
    # Kept documents: real Tibetan with the documented columns.
    table = pq.read_table(out / "data" / "shard-00000.parquet")
    for col in ("id", "text", "source", "license", "genre", "url", "n_syllables", "n_bytes"):
        assert col in table.column_names
    rows = table.to_pylist()
    assert {r["source"] for r in rows} == {"kangyur", "stories", "udhr"}
    assert len({r["id"] for r in rows}) == len(rows)
    kangyur_ids = [i for i in reasons if i.startswith("kangyur/")] + [r["id"] for r in rows if r["source"] == "kangyur"]
    assert len(kangyur_ids) >= 4, "the volume splits into a header plus one document per {D...} text"
    kangyur_texts = [r["text"] for r in rows if r["source"] == "kangyur"] + [
        t
        for i, t in zip(rejected.column("id").to_pylist(), rejected.column("text").to_pylist())
        if i.startswith("kangyur/")
    ]
    assert not any("[1b.1]" in t or "{D" in t for t in kangyur_texts), "e-text markers are stripped"
    for r in rows:
        assert r["n_bytes"] == len(r["text"].encode("utf-8"))
        assert r["n_syllables"] > 0
        assert "\u0f0c" not in r["text"] and "\ufeff" not in r["text"]
    # Per-source and per-stage counts are in the manifest.
    assert m["sources"]["udhr"]["stages"]["exact_dedup"]["dropped"] == {"exact_duplicate": 1}
    assert m["stages"]["filter"]["docs_in"] >= m["stages"]["filter"]["docs_out"]
    assert (out / "report.html").read_text().count("<img") >= 2


def _near(enabled: bool):
    from tibcpt.pipeline.dedup.near import NearDedupConfig

    return NearDedupConfig(enabled=enabled)


def test_interrupted_run_resumes_to_identical_output(corpus_inputs: Path, tmp_path: Path, monkeypatch):
    cfg = CorpusConfig(items_per_task=1)
    ref = tmp_path / "ref"
    run_corpus(corpus_inputs, ref, workers=1, cfg=cfg)

    out = tmp_path / "crashed"
    real = runner._run_text_task
    calls = {"n": 0}

    def crash_after_three(task):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt("simulated kill")
        return real(task)

    monkeypatch.setattr(runner, "_run_text_task", crash_after_three)
    with pytest.raises(KeyboardInterrupt):
        run_corpus(corpus_inputs, out, workers=1, cfg=cfg)
    assert not (out / "manifest.json").exists()
    done_before = len(list((out / "_work" / "text").rglob("stats-*.json")))
    assert done_before == 3

    monkeypatch.setattr(runner, "_run_text_task", real)
    executed = []
    monkeypatch.setattr(runner, "_run_text_task", lambda t: executed.append(t) or real(t))
    run_corpus(corpus_inputs, out, workers=1, cfg=cfg)
    total = len(list((out / "_work" / "text").rglob("stats-*.json")))
    assert len(executed) == total - 3, "resume must redo only the unfinished tasks"
    for a, b in zip(sorted((ref / "data").glob("*.parquet")), sorted((out / "data").glob("*.parquet"))):
        assert pq.read_table(a).equals(pq.read_table(b))
    assert pq.read_table(ref / "rejected.parquet").num_rows == pq.read_table(out / "rejected.parquet").num_rows
    # A finished run reruns nothing.
    executed.clear()
    run_corpus(corpus_inputs, out, workers=1, cfg=cfg)
    assert executed == []


def test_missing_path_is_a_clear_error_naming_the_source(tmp_path: Path):
    y = tmp_path / "s.yaml"
    y.write_text(
        "sources:\n  - name: ghost\n    kind: local\n    license: MIT\n    genre: web\n"
        "    path: ${NOPE_DIR:-/no/such/dir}\n"
    )
    with pytest.raises(Exception, match="ghost"):
        run_corpus(y, tmp_path / "o", workers=1)


@pytest.mark.slow
def test_cli_on_shipped_sources_yaml(tmp_path: Path, shared: Path):
    """The user's command on the shipped sources.yaml (two small sample sources to stay quick)."""
    out = tmp_path / "corpus"
    cmd = [sys.executable, "-m", "tibcpt.cli", "corpus", "--sources", str(REPO / "sources.yaml"),
           "--out", str(out), "--workers", "2", "--source", "udhr", "--source", "old-tibetan-corpus"]  # fmt: skip
    env = {**os.environ, "TIBCPT_SAMPLE": str(shared / "corpus")}
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((out / "manifest.json").read_text())
    assert set(m["sources"]) == {"udhr", "old-tibetan-corpus"}
    assert m["totals"]["docs_out"] >= 2
    assert "corpus:" in r.stdout


@pytest.mark.slow
def test_ray_executor_gives_the_same_corpus(corpus_inputs: Path, tmp_path: Path, monkeypatch):
    """`--executor ray` (what a cluster run uses) produces the same shards as the local pool."""
    pytest.importorskip("ray")
    import ray

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run_corpus(corpus_inputs, tmp_path / "ray", workers=2, executor="ray")
    finally:
        ray.shutdown()
    run_corpus(corpus_inputs, tmp_path / "local", workers=2)
    a = pq.read_table(tmp_path / "ray" / "data" / "shard-00000.parquet")
    b = pq.read_table(tmp_path / "local" / "data" / "shard-00000.parquet")
    assert a.num_rows > 0 and a.equals(b)


def test_decontamination_drops_training_docs_that_share_eval_text(corpus_inputs: Path, tmp_path: Path, shared):
    """`--decontaminate`: a training document sharing a 13-syllable n-gram with eval data is dropped."""
    udhr = (shared / "corpus/modern/udhr/udhr_bod.txt").read_text(encoding="utf-8")
    passage = udhr[len(udhr) // 2 : len(udhr) // 2 + 400]  # one passage from the middle
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text(json.dumps({"text": passage}, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    m = run_corpus(corpus_inputs, out, workers=1, decontaminate=eval_file)
    rejected = pq.read_table(out / "rejected.parquet").to_pylist()
    contaminated = [r for r in rejected if r["reason"] == "contamination"]
    assert [r["id"] for r in contaminated] == ["udhr/udhr_bod.txt"]
    assert m["sources"]["udhr"]["stages"]["decontaminate"]["dropped"] == {"contamination": 1}
    assert m["dedup"]["decontaminate"]["removed"] == 1
    kept_sources = {r["source"] for r in pq.read_table(out / "data/shard-00000.parquet").to_pylist()}
    assert "udhr" not in kept_sources and "kangyur" in kept_sources


def test_changed_stage_code_reruns_the_text_phase(corpus_inputs: Path, tmp_path: Path, monkeypatch):
    """Resume keys include the stage modules' source, so a changed rule is never skipped as 'done'."""
    out = tmp_path / "out"
    run_corpus(corpus_inputs, out, workers=1)
    real = runner._run_text_task
    executed = []
    monkeypatch.setattr(runner, "_run_text_task", lambda t: executed.append(t) or real(t))
    run_corpus(corpus_inputs, out, workers=1)
    assert executed == []
    monkeypatch.setattr(runner, "code_hash", lambda *modules: "a-changed-rule")
    run_corpus(corpus_inputs, out, workers=1)
    assert len(executed) == len(list((out / "_work" / "text").rglob("stats-*.json")))
