"""Build-time check that every file of a tokenizer folder splits text the same way (issue 10).

A tokenizer folder is read by three kinds of readers, and all must give the ids the model trains on:
- `transformers.AutoTokenizer` (the trainer, `generate`, users), loaded in a fresh process so that
  nothing cached in the building process (the objects we just edited) can hide a file that saved wrong;
- `tokenizers.Tokenizer.from_file("tokenizer.json")` (what `tibcpt pack` encodes the corpus with);
- `sentencepiece` on `tokenizer.model` when the folder has one (llama.cpp's GGUF converter, vLLM's
  slow path and other SentencePiece readers): issue 10 found it disagreeing with tokenizer.json on
  524 of 1,004 held-out lines because 19,690 new pieces shared 309 float32 scores.
Any disagreement fails the build, naming the reader, the count and the first differing text.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# Runs in a fresh interpreter: the user's view of the folder.
_FRESH = r"""
import json, sys
from transformers import AutoTokenizer
folder, texts_path, out_path = sys.argv[1:4]
tok = AutoTokenizer.from_pretrained(folder)
texts = json.loads(open(texts_path, encoding="utf-8").read())
ids = tok(texts, add_special_tokens=False)["input_ids"] if texts else []
open(out_path, "w", encoding="utf-8").write(json.dumps({"class": type(tok).__name__, "ids": ids}))
"""


def fresh_autotokenizer_ids(folder: Path, texts: list[str], timeout_s: int = 900) -> tuple[str, list[list[int]]]:
    """(tokenizer class, ids of `texts`) from `AutoTokenizer.from_pretrained(folder)` in a new process."""
    with tempfile.TemporaryDirectory(prefix="tibcpt-agree-") as td:
        tin, tout = Path(td) / "texts.json", Path(td) / "ids.json"
        tin.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        r = subprocess.run([sys.executable, "-c", _FRESH, str(folder), str(tin), str(tout)],
                           capture_output=True, text=True, timeout=timeout_s)  # fmt: skip
        if r.returncode:
            tail = r.stderr.strip().splitlines()[-1:] or ["?"]
            raise RuntimeError(f"AutoTokenizer could not load {folder} in a fresh process: {tail[0]}")
        out = json.loads(tout.read_text(encoding="utf-8"))
    return out["class"], out["ids"]


def check_texts(heldout_docs: list[str], probes: list[str] | tuple[str, ...], max_lines: int = 3000) -> list[str]:
    """Held-out lines (the unit issue 10 measured), whole held-out documents up to 50, and the probes."""
    lines = [ln for doc in heldout_docs for ln in doc.split("\n") if ln.strip()][:max_lines]
    return [*lines, *heldout_docs[:50], *probes]


def _first_diff(texts: list[str], a: list[list[int]], b: list[list[int]]) -> tuple[int, str]:
    bad = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    return len(bad), (texts[bad[0]][:80] if bad else "")


def check_agreement(folder: Path, texts: list[str]) -> dict[str, Any]:
    """Compare the readers of `folder` on `texts`; return counts, raise RuntimeError on any difference."""
    from tokenizers import Tokenizer

    pack_reader = Tokenizer.from_file(str(folder / "tokenizer.json"))
    # Special added tokens: fast readers match them inside raw text, sentencepiece does not.
    specials = [t.content for t in pack_reader.get_added_tokens_decoder().values() if t.special]
    texts = [t for t in texts if not any(s in t for s in specials)]
    cls, auto = fresh_autotokenizer_ids(folder, texts)
    report: dict[str, Any] = {"texts": len(texts), "autotokenizer_class": cls}
    pack_reader.encode_special_tokens = True  # as tibcpt pack reads corpus text
    fast = [e.ids for e in pack_reader.encode_batch(texts, add_special_tokens=False)]
    readers = {"tokenizers (tokenizer.json, as tibcpt pack reads it)": fast}
    if (folder / "tokenizer.model").is_file():
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
        readers["sentencepiece (tokenizer.model)"] = sp.encode(texts)
    failures = []
    for name, ids in readers.items():
        n_bad, example = _first_diff(texts, auto, ids)
        report[name.split(" ")[0] + "_disagree"] = n_bad
        if n_bad:
            failures.append(f"{name} and AutoTokenizer differ on {n_bad} of {len(texts)} texts, e.g. {example!r}")
    if failures:
        raise RuntimeError(f"tokenizer files in {folder} disagree: " + "; ".join(failures))
    return report
