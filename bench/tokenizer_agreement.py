"""Issue 10: do the files of an extended tokenizer split text the same way? Before and after the score fix.

    python bench/tokenizer_agreement.py [--corpus out/corpus]   # writes bench/results/tokenizer_agreement.json

Builds the Llama-2 extension of `--corpus` twice: with the old new-piece scores (`floor - 1 - rank` in
float32 under Llama-2's -1e9 floor, the build-time check switched off so the broken folder can be
measured) and with the current ones; then counts lines where sentencepiece on `tokenizer.model` and
`AutoTokenizer` on the folder (fresh process) give different ids. Text sets: lines of the corpus's
held-out documents, lines of ../shared/corpus/modern/global-asp-stories (independent modern Tibetan,
an eval-only source), and English news (../shared/general/english-news-ntrex, evaluation only).
The SmolLM2 extension (models/smollm2-135m, `make base-model`) is checked the same way for
AutoTokenizer against `tokenizers` on tokenizer.json (it has no tokenizer.model).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from tibcpt.pipeline.tokens import spm as tokenizer_spm  # noqa: E402
from tibcpt.pipeline.tokens import tokenizer as tok_mod  # noqa: E402
from tibcpt.pipeline.tokens.agreement import fresh_autotokenizer_ids  # noqa: E402
from tibcpt.pipeline.tokens.heldout import is_heldout, source_info  # noqa: E402

from tibcpt.config import load_config  # noqa: E402

SHARED = REPO.parent / "shared"
LLAMA2 = SHARED / "tokenizers" / "llama2" / "tokenizer.model"
SMOL = REPO / "models" / "smollm2-135m"
TIB = re.compile("[\u0f00-\u0fff]")
SPECIAL = ("<unk>", "<s>", "</s>", "<|endoftext|>", "<|im_start|>", "<|im_end|>")


def text_sets(corpus: Path, fraction: float) -> dict[str, list[str]]:
    held = [r["text"] for r in tok_mod.iter_docs(tok_mod.corpus_files(corpus)) if is_heldout(r["id"], fraction)]
    stories = sorted((SHARED / "corpus" / "modern" / "global-asp-stories").glob("*.md"))
    news = (SHARED / "general" / "english-news-ntrex" / "news.txt").read_text(encoding="utf-8").splitlines()
    sets = {
        "corpus_heldout_lines": [ln for d in held for ln in d.split("\n") if TIB.search(ln)],
        "global_asp_story_lines": [ln.lstrip("# ") for p in stories for ln in p.read_text(encoding="utf-8").splitlines() if TIB.search(ln)],
        "english_news_lines": [ln for ln in news if ln.strip()][:1000],
    }  # fmt: skip
    return {k: [t for t in v if not any(s in t for s in SPECIAL)] for k, v in sets.items()}


def disagreement(folder: Path, sets: dict[str, list[str]]) -> dict:
    import sentencepiece as spm
    from tokenizers import Tokenizer

    # One fresh process (and one load of each reader) per folder for all sets: each spawn imports transformers.
    texts = [t for v in sets.values() for t in v]
    _, auto = fresh_autotokenizer_ids(folder, texts)
    if (folder / "tokenizer.model").is_file():
        other = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model")).encode(texts)
        reader = "sentencepiece"
    else:
        tk = Tokenizer.from_file(str(folder / "tokenizer.json"))
        other, reader = [e.ids for e in tk.encode_batch(texts, add_special_tokens=False)], "tokenizers"
    out, start = {}, 0
    for name, v in sets.items():
        end = start + len(v)
        out[name] = {
            "lines": len(v),
            f"{reader}_vs_autotokenizer_disagree": sum(a != b for a, b in zip(auto[start:end], other[start:end])),
        }
        start = end
    return out


def new_score_stats(folder: Path, n_base: int) -> dict:
    m = tokenizer_spm.parse_model((folder / "tokenizer.model").read_bytes())
    new = [p.score for p in m.pieces[n_base:]]
    return {"new_pieces": len(new), "distinct_scores": len(set(new)),
            "strictly_decreasing": all(a > b for a, b in zip(new, new[1:]))}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(REPO / "out" / "corpus"))
    args = ap.parse_args()
    cfg = load_config(tok_mod.TokenizerConfig, REPO / "configs" / "pipeline" / "tokenizer.yaml")
    sets = text_sets(Path(args.corpus), cfg.heldout_fraction)
    eval_only = source_info(REPO / "sources.yaml", args.corpus).eval_only  # global-asp-stories: never trained on
    res: dict = {"corpus": args.corpus, "eval_only": sorted(eval_only), "sets": {k: len(v) for k, v in sets.items()}}
    n_base = len(tokenizer_spm.parse_model(LLAMA2.read_bytes()).pieces)
    with tempfile.TemporaryDirectory() as td:
        new_scores, check = tokenizer_spm.new_scores, tok_mod.check_agreement
        tokenizer_spm.new_scores = lambda floor, n: [float(np.float32(floor - 1 - r)) for r in range(n)]
        tok_mod.check_agreement = lambda folder, texts: {}
        try:
            tok_mod.build_tokenizer(Path(args.corpus), LLAMA2, Path(td) / "old", cfg, True, eval_only)
        finally:
            tokenizer_spm.new_scores, tok_mod.check_agreement = new_scores, check
        t0 = time.time()
        tok_mod.build_tokenizer(Path(args.corpus), LLAMA2, Path(td) / "new", cfg, True, eval_only)
        res["llama2_build_s_with_check"] = round(time.time() - t0, 1)
        for name in ("old", "new"):
            res[f"llama2_{name}_scores"] = {**new_score_stats(Path(td) / name, n_base),
                                            **disagreement(Path(td) / name, sets)}  # fmt: skip
        if (SMOL / "tokenizer.json").is_file():
            tok_mod.build_tokenizer(Path(args.corpus), SMOL, Path(td) / "smol", cfg, True, eval_only)
            res["smollm2"] = disagreement(Path(td) / "smol", sets)
    out = REPO / "bench" / "results" / "tokenizer_agreement.json"
    out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
