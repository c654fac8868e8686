"""Measure the embedded base model: parameter count and English perplexity on WikiText-2 test.

Usage: python bench/base_model_ppl.py [MODEL_DIR] [--chars N]
Writes bench/results/base_model_ppl.json. WikiText-2 is word-tokenized (" @-@ ", " , "); the
"plain prose" figure undoes that detokenization first, since the model was trained on raw text.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

REPO = Path(__file__).resolve().parents[1]
WIKITEXT = REPO.parent / "shared" / "general" / "english-wikitext2" / "test.txt"


def detokenize(text: str) -> str:
    """Undo WikiText's tokenization (the usual Megatron/lm-eval wikitext detokenizer rules, abridged)."""
    text = re.sub(r" @(.)@ ", r"\1", text)
    text = re.sub(r" ([.,;:!?')\]])", r"\1", text)
    text = re.sub(r"([(\[]) ", r"\1", text)
    text = re.sub(r"\" (.*?) \"", r'"\1"', text)
    text = text.replace(" 's", "'s").replace(" n't", "n't")
    return text


@torch.no_grad()
def perplexity(model, tokenizer, text: str, window: int = 512) -> tuple[float, int]:
    """Perplexity over non-overlapping windows (every token scored once, first of each window skipped)."""
    ids = tokenizer(text, return_tensors="pt")["input_ids"][0]
    nll, n = 0.0, 0
    for start in range(0, len(ids) - 1, window):
        chunk = ids[start : start + window].unsqueeze(0)
        if chunk.shape[1] < 2:
            break
        out = model(input_ids=chunk, labels=chunk)
        k = chunk.shape[1] - 1
        nll += out.loss.item() * k
        n += k
    return math.exp(nll / n), n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model", nargs="?", default=str(REPO / "models" / "smollm2-135m"))
    p.add_argument("--chars", type=int, default=40_000, help="characters of test.txt to score")
    p.add_argument("--window", type=int, default=2048, help="tokens per scored window (the training seq_len)")
    args = p.parse_args()
    torch.set_num_threads(2)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(args.model)
    raw = WIKITEXT.read_text(encoding="utf-8")[: args.chars]
    prose = "\n".join(
        line.strip() for line in detokenize(raw).splitlines() if line.strip() and not line.strip().startswith("=")
    )
    t0 = time.perf_counter()
    ppl_prose, n_prose = perplexity(model, tok, prose, args.window)
    ppl_raw, n_raw = perplexity(model, tok, raw, args.window)
    dt = time.perf_counter() - t0
    res = {
        "model": args.model,
        "params": sum(p.numel() for p in model.parameters()),
        "architecture": model.config.architectures,
        "wikitext2_test_chars": args.chars,
        "window_tokens": args.window,
        "ppl_plain_prose": round(ppl_prose, 2),
        "tokens_plain_prose": n_prose,
        "ppl_raw_wikitext": round(ppl_raw, 2),
        "tokens_raw": n_raw,
        "cpu_eval_tokens_per_s": round((n_prose + n_raw) / dt, 1),
    }
    print(json.dumps(res, indent=2))
    out = REPO / "bench" / "results" / "base_model_ppl.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
