"""`tibcpt generate --model DIR "prompt"`: sample a continuation from a trained model folder.

Sampling defaults were chosen by bench/generate_grid.py on the default recipe's model
(bench/results/generate_grid.json): temperature 0.9 and repetition_penalty 1.1 with the seed's top_k 30,
top_p 0.85 and max_new_tokens 500. With the seed's temperature 0.5 and no penalty, 17 of 20 samples
were loops (83 % of syllable 4-grams repeated, against 3.5 % in held-out human text); the chosen
setting repeats 2.1 %, the closest to human text of the settings that pass the generation check
(95 % well-formed syllables). The prompt follows the document separator, as every document did in
training (`with_document_start`), and is stripped from the output: only new tokens are decoded.
The folder is loaded with `artifacts.load_model_folder` (a folder whose weights do not match its
config is refused), and sampling never starts a syllable with a vowel sign or subjoined letter
(training/wellformed.py; `--allow-ill-formed` turns that off).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

import torch

from tibcpt.config import ConfigError

log = logging.getLogger(__name__)


@dataclass
class GenerateConfig:
    """Sampling settings."""

    max_new_tokens: int = 500
    """Tokens to sample after the prompt (seed: 500)."""
    top_k: int = 30
    """Sample among the k most likely tokens (seed: 30)."""
    top_p: float = 0.85
    """Nucleus sampling mass (seed: 0.85)."""
    temperature: float = 0.9
    """Softmax temperature (seed: 0.5, which loops; bench/generate_grid.py); 0 = greedy."""
    repetition_penalty: float = 1.1
    """>1 discourages repeats (seed: 1.0 = off; 1.1 measured, bench/generate_grid.py)."""
    seed: int | None = None
    """Fix the sampling RNG for reproducible output."""
    num_samples: int = 1
    """Independent continuations of the prompt, sampled in one batch."""
    well_formed: bool = True
    """Mask tokens that would start a syllable with a vowel sign or subjoined letter."""

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens: must be >= 1")
        if self.top_k < 0:
            raise ValueError("top_k: must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p: must be in (0, 1]")
        if self.temperature < 0:
            raise ValueError("temperature: must be >= 0")
        if self.repetition_penalty <= 0:
            raise ValueError("repetition_penalty: must be > 0")
        if self.num_samples < 1:
            raise ValueError("num_samples: must be >= 1")


@torch.no_grad()
def generate_many(model, tokenizer, prompt: str, cfg: GenerateConfig, processor=None) -> list[str]:
    """`cfg.num_samples` sampled continuations of `prompt`, without the prompt.

    `processor`: a WellFormedTibetan built once for this tokenizer (built here when None and
    `cfg.well_formed`)."""
    from tibcpt.training.wellformed import WellFormedTibetan
    from transformers import LogitsProcessorList

    if cfg.seed is not None:
        torch.manual_seed(cfg.seed)
    enc = tokenizer(prompt, return_tensors="pt")
    enc = {k: v.to(model.device) for k, v in with_document_start(tokenizer, enc).items()}
    sample = cfg.temperature > 0
    kwargs = {"do_sample": sample, "repetition_penalty": cfg.repetition_penalty, "max_new_tokens": cfg.max_new_tokens}
    if sample:
        kwargs.update(top_k=cfg.top_k, top_p=cfg.top_p, temperature=cfg.temperature)
    if cfg.well_formed:
        kwargs["logits_processor"] = LogitsProcessorList([processor or WellFormedTibetan(tokenizer)])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = model.generate(**enc, pad_token_id=pad, num_return_sequences=cfg.num_samples, **kwargs)
    new_tokens = out[:, enc["input_ids"].shape[1] :]
    # A sample cut off by max_new_tokens can end inside a character (a byte-level piece): drop
    # that U+FFFD. Elsewhere the well-formed processor keeps the bytes valid UTF-8.
    return [t.rstrip("\ufffd") for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def with_document_start(tokenizer, enc: dict) -> dict:
    """The prompt as training saw a document's first words: after the separator the shards put
    between documents (evaluate_text.start_token: <|endoftext|> for SmolLM2, <s> for Llama-2). A
    prompt the tokenizer already starts with BOS/EOS (Llama-2 adds <s>) is left alone.

    Without it the prompt is a bare fragment at position 0: in training a document's first words
    always follow the separator, and `tibcpt eval` scores documents that way too. (Round-2 samples
    of the default's model, prompted without it and trained on uncleaned data, were digit runs with
    no Tibetan; round 3, with it and cleaned data, wrote Tibetan: bench/results/recipes_clean.json.)"""
    from tibcpt.training.evaluate_text import start_token

    ids = enc["input_ids"]
    specials = {tokenizer.bos_token_id, tokenizer.eos_token_id} - {None}
    if ids.shape[1] and int(ids[0, 0]) in specials:
        return dict(enc)
    first = torch.full((ids.shape[0], 1), start_token(tokenizer), dtype=ids.dtype)
    out = {"input_ids": torch.cat([first, ids], dim=1)}
    if "attention_mask" in enc:
        out["attention_mask"] = torch.cat([torch.ones_like(first), enc["attention_mask"]], dim=1)
    return out


def generate(model, tokenizer, prompt: str, cfg: GenerateConfig, processor=None) -> str:
    """One sampled continuation of `prompt`, without the prompt."""
    return generate_many(model, tokenizer, prompt, cfg, processor)[0]


def add_cli(parser: argparse.ArgumentParser) -> None:
    d = GenerateConfig()
    parser.add_argument("--model", required=True, help="HF model folder (e.g. out/model)")
    parser.add_argument("prompt", help="text to continue")
    parser.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens)
    parser.add_argument("--top-k", type=int, default=d.top_k)
    parser.add_argument("--top-p", type=float, default=d.top_p)
    parser.add_argument("--temperature", type=float, default=d.temperature, help="0 = greedy")
    parser.add_argument("--repetition-penalty", type=float, default=d.repetition_penalty)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--num-samples", type=int, default=d.num_samples, help="continuations, separated by blank lines"
    )
    parser.add_argument("--allow-ill-formed", action="store_true", help="no syllable-start mask (for comparison)")


def cli(args: argparse.Namespace) -> int:
    try:
        cfg = GenerateConfig(
            max_new_tokens=args.max_new_tokens,
            top_k=args.top_k,
            top_p=args.top_p,
            temperature=args.temperature,
            repetition_penalty=args.repetition_penalty,
            seed=args.seed,
            num_samples=args.num_samples,
            well_formed=not args.allow_ill_formed,
        )
    except ValueError as e:
        raise ConfigError(str(e)) from None
    from tibcpt.training.artifacts import load_model_folder

    model, tokenizer = load_model_folder(args.model)
    print("\n\n".join(generate_many(model, tokenizer, args.prompt, cfg)))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    p = argparse.ArgumentParser(description="sample text from a trained model folder")
    add_cli(p)
    sys.exit(cli(p.parse_args()))
