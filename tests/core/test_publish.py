from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from tibcpt.cli import main
from tibcpt.publish import dataset_card, dataset_license


def test_dataset_license_is_strictest_common_tag():
    assert dataset_license(["CC-BY-4.0", "CC-BY-4.0"]) == "cc-by-4.0"
    assert dataset_license(["CC-BY-4.0", "MIT"]) == "other"
    assert dataset_license(["unknown"]) == "other"


def test_publish_dataset_dry_run_stages_shards_and_card(tmp_path: Path, shared: Path, monkeypatch, capsys):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(shared / "corpus/modern/udhr/udhr_bod.txt", src / "udhr.txt")
    for f in sorted((shared / "corpus/modern/nanhai-modern-writing").glob("C-D-PD-00*.txt"))[:3]:
        shutil.copy(f, src / f.name)
    y = tmp_path / "sources.yaml"
    y.write_text(
        f"sources:\n  - {{name: sample, kind: local, license: CC-BY-NC-4.0, genre: literature, path: {src}}}\n"
    )
    out = tmp_path / "corpus"
    assert main(["corpus", "--sources", str(y), "--out", str(out), "--workers", "1"]) == 0
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_value")
    staging = tmp_path / "hub"
    rc = main(
        ["publish", "dataset", "--path", str(out), "--repo-id", "org/tib", "--staging", str(staging), "--dry-run"]
    )
    assert rc == 0
    card = (staging / "README.md").read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    assert card.startswith("---\nlanguage:\n- bo\n")
    assert "non-commercial" in card and "| sample | literature | CC-BY-NC-4.0 |" in card
    assert str(manifest["totals"]["docs_out"]) in card
    staged = sorted(p.name for p in (staging / "data").glob("*.parquet"))
    assert staged and pq.read_table(staging / "data" / staged[0]).num_rows > 0
    captured = capsys.readouterr()
    assert "hf_secret_token_value" not in captured.out + captured.err + card


def test_card_mentions_every_drop_reason():
    m = {
        "sources": {"a": {"license": "MIT", "genre": "web", "docs_out": 3, "syllables": 30, "bytes": 900}},
        "totals": {
            "docs_out": 3,
            "syllables": 30,
            "bytes": 900,
            "dropped_by_reason": {"near_duplicate": 2, "binary": 1},
        },
        "tool": {"version": "0.1.0"},
        "config_hash": "abc",
        "created": "now",
    }
    card = dataset_card(m, "org/x")
    assert "| near_duplicate | 2 |" in card and "| binary | 1 |" in card and "license: mit" in card
