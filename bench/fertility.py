"""Issue 10: Tibetan tokens per syllable on held-out text, modern and classical separately, >= 100 documents each.

    python bench/fertility.py [--corpus out/corpus] [--sources sources.yaml] [--folds 4]
    # writes bench/results/fertility.json and prints the README rows

The sample corpus has ~140 classical documents: holding 100 of them out of one tokenizer would
starve it. So the figures are cross-fitted: the documents of the training sources are split into
`--folds` folds by id hash; for each fold a tokenizer is trained (the configs/pipeline/tokenizer.yaml
recipe, as `tibcpt tokenizer` does) on the other folds and measured on that fold. Every document is
measured exactly once by a tokenizer that never saw it. Evaluation-only sources (sources.yaml
`eval_only: true`, e.g. global-asp-stories) never train any fold's tokenizer and are reported on
their own (the fold tokenizers' tokens summed over folds). Bases: Llama-2 `tokenizer.model` from
../shared and SmolLM2 (models/smollm2-135m, `make base-model`). Each fold tokenizer is trained on
(folds-1)/folds of the data, so the shipped tokenizer (98 %) does at least as well.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tibcpt.pipeline.tokens import spm as tokenizer_spm  # noqa: E402
from tibcpt.pipeline.tokens.heldout import era, id_fraction, source_info  # noqa: E402
from tibcpt.pipeline.tokens.tokenizer import TokenizerConfig, corpus_files, extend_base, iter_docs, load_base  # noqa: E402

from tibcpt.config import load_config  # noqa: E402

SHARED = REPO.parent / "shared"
BASES = {"llama2": SHARED / "tokenizers" / "llama2" / "tokenizer.model", "smollm2": REPO / "models" / "smollm2-135m"}


def count(tok, texts: list[str]) -> tuple[int, int]:
    from tibcpt.pipeline.text.segment import syllables

    n_tok = sum(len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]) if texts else 0
    return n_tok, sum(len(syllables(t)) for t in texts)


def extend(base: Path, trained, cfg: TokenizerConfig, work: Path):
    base_tok, base_dir = load_base(base, work / "base")
    pieces = tokenizer_spm.new_pieces(trained, set(base_tok.get_vocab()), cfg.max_added)
    stage = work / "ext"
    stage.mkdir(parents=True)
    return base_tok, extend_base(base_dir, pieces, stage)[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(REPO / "out" / "corpus"))
    ap.add_argument("--sources", default=str(REPO / "sources.yaml"))
    ap.add_argument("--folds", type=int, default=4)
    args = ap.parse_args()
    cfg = load_config(TokenizerConfig, REPO / "configs" / "pipeline" / "tokenizer.yaml")
    eval_only = source_info(args.sources, args.corpus).eval_only
    rows = list(iter_docs(corpus_files(args.corpus), ("id", "text", "source", "genre")))
    for r in rows:
        r["group"] = f"eval_only:{r['source']}" if r["source"] in eval_only else era(r["genre"])
        r["fold"] = int(id_fraction(r["id"], "fertility-fold") * args.folds)
    bases = {k: v for k, v in BASES.items() if v.exists()}
    # sums[base][group][source] = [tokens before, tokens after, syllables, docs]
    sums: dict = {b: {} for b in bases}
    t0 = time.time()
    for fold in range(args.folds):
        train = [r["text"] for r in rows if r["fold"] != fold and r["source"] not in eval_only]
        test = [r for r in rows if r["fold"] == fold or r["source"] in eval_only]
        trained = tokenizer_spm.parse_model(tokenizer_spm.train_sentencepiece(
            tokenizer_spm.training_lines(train), vocab_size=cfg.vocab_size, model_type=cfg.model_type,
            character_coverage=cfg.character_coverage, max_piece_length=cfg.max_piece_length))  # fmt: skip
        for name, base in bases.items():
            with tempfile.TemporaryDirectory() as td:
                base_tok, ext = extend(base, trained, cfg, Path(td))
                for r in test:
                    before, syl = count(base_tok, [r["text"]])
                    after, _ = count(ext, [r["text"]])
                    s = sums[name].setdefault(r["group"], {}).setdefault(r["source"], [0, 0, 0, 0])
                    s[0] += before
                    s[1] += after
                    s[2] += syl
                    s[3] += 1
        print(f"fold {fold}: {len(train)} training documents, {time.time() - t0:.0f} s", flush=True)
    res: dict = {"corpus": args.corpus, "folds": args.folds, "eval_only_sources": sorted(eval_only), "bases": {}}
    for name, groups in sums.items():
        out = res["bases"][name] = {}
        for group, per_src in sorted(groups.items()):
            tb, ta, syl, docs = (sum(v[i] for v in per_src.values()) for i in range(4))
            if group.startswith("eval_only:"):
                docs //= args.folds  # measured once per fold tokenizer
            out[group] = {"docs": docs, "syllables": syl, "before": round(tb / syl, 4), "after": round(ta / syl, 4),
                          "per_source_after": {s: round(v[1] / v[2], 4) for s, v in sorted(per_src.items())}}  # fmt: skip
    path = REPO / "bench" / "results" / "fertility.json"
    path.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
