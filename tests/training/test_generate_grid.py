"""bench/generate_grid.py's scoring, which chose `tibcpt generate`'s sampling defaults (issue 10)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tibcpt.pipeline.text.segment import syllables

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import generate_grid  # noqa: E402  (bench/ is scripts, not a package)


def test_rep4_tells_a_loop_from_human_text(shared):
    human = (shared / "corpus/modern/nanhai-modern-writing/C-D-DL-A-KY-01.txt").read_text(encoding="utf-8")
    syls = syllables(human)
    assert len(syls) >= generate_grid.WINDOW
    assert generate_grid.rep4(syls) < 0.1
    assert generate_grid.rep4(syllables("ད་ན་ན། །" * 100)) > 0.9
    assert generate_grid.rep4(["ཀ", "ཁ", "ག", "ང"]) == 0.0


def test_score_picks_the_setting_nearest_human_repetition(shared, tmp_path, monkeypatch):
    texts = sorted((shared / "corpus/modern/nanhai-modern-writing").glob("*.txt"))[:12]
    docs = [p.read_text(encoding="utf-8") for p in texts]
    reference = tmp_path / "ref.jsonl"
    reference.write_text("\n".join(json.dumps({"text": d}, ensure_ascii=False) for d in docs[:6]), encoding="utf-8")
    loop = {"temperature": 0.5, "top_k": 30, "top_p": 0.85, "repetition_penalty": 1.0}
    text = {"temperature": 0.9, "top_k": 30, "top_p": 0.85, "repetition_penalty": 1.1}
    broken = {"temperature": 0.7, "top_k": 30, "top_p": 0.85, "repetition_penalty": 1.1}
    report = {
        "settings": {
            generate_grid.name(loop): {"setting": loop, "samples": ["ད་ན་ན། །" * 80] * 4},
            generate_grid.name(text): {"setting": text, "samples": [d[:3000] for d in docs[6:10]]},
            # the same text with U+FFFD and a lower temperature (which wins ties): excluded
            generate_grid.name(broken): {"setting": broken, "samples": [d[:3000] + "\ufffd" for d in docs[6:10]]},
        }
    }
    samples = tmp_path / "grid.json"
    samples.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["generate_grid.py", "score", str(samples), "--reference", str(reference)])
    assert generate_grid.main() == 0
    out = json.loads(samples.read_text(encoding="utf-8"))
    assert out["chosen"] == generate_grid.name(text)
    scores = {k: v["scores"] for k, v in out["settings"].items()}
    assert scores[generate_grid.name(loop)]["looping_samples"] == 4
    assert scores[generate_grid.name(broken)]["replacement_chars"] == 4
    assert out["human"]["documents"] >= 1 and 0 <= out["human"]["rep4"] < 0.1
