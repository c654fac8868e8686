"""`tibcpt publish` never deletes what it did not create and refuses a staging folder overlapping the input."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tibcpt import publish
from tibcpt.cli import main


def _corpus(root: Path, license_: str = "CC-BY-4.0") -> Path:
    corpus = root / "corpus"
    (corpus / "data").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a/1"], "text": ["བོད་ཀྱི་སྐད་ཡིག་"]}), corpus / "data/shard-00000.parquet")
    manifest = {
        "sources": {"a": {"license": license_, "genre": "web", "docs_out": 1, "syllables": 4, "bytes": 48}},
        "totals": {"docs_out": 1, "syllables": 4, "bytes": 48, "dropped_by_reason": {}},
        "tool": {"version": "0.1.0"},
        "config_hash": "abc",
        "created": "now",
        "shards": [{"path": "data/shard-00000.parquet", "docs": 1, "bytes": 48}],
    }
    (corpus / "manifest.json").write_text(json.dumps(manifest))
    return corpus


def _publish(corpus: Path, staging: Path, *extra: str) -> int:
    args = ["publish", "dataset", "--path", str(corpus), "--repo-id", "org/x", "--staging", str(staging)]
    return main([*args, *extra])


def _tree(p: Path) -> dict[str, bytes]:
    return {q.relative_to(p).as_posix(): q.read_bytes() for q in sorted(p.rglob("*")) if q.is_file()}


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_folder_publish_did_not_create_is_never_deleted(tmp_path, capsys, dry_run, monkeypatch):
    monkeypatch.setattr(publish, "upload", lambda *a: pytest.fail("must not upload"))
    corpus = _corpus(tmp_path)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("my notes")
    assert _publish(corpus, notes, *(["--dry-run"] if dry_run else [])) == 2
    assert _tree(notes) == {"todo.txt": b"my notes"}
    assert "not created by tibcpt publish" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["same", "parent", "inside"])
def test_staging_overlapping_the_corpus_is_refused_and_the_corpus_kept(tmp_path, capsys, where):
    corpus = _corpus(tmp_path)
    before = _tree(corpus)
    staging = {"same": corpus, "parent": tmp_path, "inside": corpus / "hub"}[where]
    assert _publish(corpus, staging, "--dry-run") == 2
    assert "overlaps --path" in capsys.readouterr().err
    assert _tree(corpus) == before


def test_restaging_replaces_only_its_own_folder(tmp_path, capsys):
    corpus = _corpus(tmp_path)
    staging = tmp_path / "hub"
    assert _publish(corpus, staging, "--dry-run") == 0
    first = _tree(staging)
    assert {"README.md", "manifest.json", "data/shard-00000.parquet", publish.MARKER} <= set(first)
    assert _publish(corpus, staging, "--dry-run") == 0, "a folder publish made (and only that) is replaced"
    assert _tree(staging).keys() == first.keys()
    (staging / "mine.txt").write_text("added by hand")
    assert _publish(corpus, staging, "--dry-run") == 2
    assert (staging / "mine.txt").read_text() == "added by hand"
    assert "mine.txt" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")], "no temp folder left behind"


def test_unknown_or_nc_license_needs_an_explicit_flag_to_upload(tmp_path, monkeypatch, capsys):
    uploads = []
    monkeypatch.setattr(publish, "upload", lambda *a: uploads.append(a) or "ok")
    corpus = _corpus(tmp_path, license_="unknown")
    staging = tmp_path / "hub"
    assert _publish(corpus, staging) == 2
    assert uploads == [] and "--allow-restricted-licenses" in capsys.readouterr().err
    assert "license of a is unknown" in (staging / "README.md").read_text()
    assert _publish(corpus, staging, "--allow-restricted-licenses") == 0
    assert len(uploads) == 1
    nc = _corpus(tmp_path / "nc", license_="CC-BY-NC-4.0")
    assert _publish(nc, tmp_path / "hub-nc") == 2 and len(uploads) == 1


def test_the_staging_marker_is_not_uploaded(tmp_path, monkeypatch):
    import huggingface_hub

    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, *a, **k):
            pass

        def upload_folder(self, **kwargs):
            calls.update(kwargs)
            return "ok"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    corpus = _corpus(tmp_path)
    assert _publish(corpus, tmp_path / "hub") == 0
    assert calls["folder_path"] == str(tmp_path / "hub")
    assert publish.MARKER in calls["ignore_patterns"]
