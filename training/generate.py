"""`tibcpt generate --model DIR "prompt"`: sample a continuation from a trained model folder.

Sampling defaults are the seed's (max_new_tokens 500, top_k 30, top_p 0.85, temperature 0.5,
repetition_penalty 1.0). The prompt is stripped from the output: only new tokens are decoded.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

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
    temperature: float = 0.5
    """Softmax temperature (seed: 0.5); 0 = greedy."""
    repetition_penalty: float = 1.0
    """>1 discourages repeats (seed: 1.0 = off)."""
    seed: int | None = None
    """Fix the sampling RNG for reproducible output."""

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


def load_for_generation(model_dir: str | Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(model_dir)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a model folder (no config.json)")
    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    return model, tokenizer


@torch.no_grad()
def generate(model, tokenizer, prompt: str, cfg: GenerateConfig) -> str:
    """Sampled continuation of `prompt`, without the prompt."""
    if cfg.seed is not None:
        torch.manual_seed(cfg.seed)
    enc = tokenizer(prompt, return_tensors="pt").to(model.device)
    sample = cfg.temperature > 0
    kwargs = {"do_sample": sample, "repetition_penalty": cfg.repetition_penalty, "max_new_tokens": cfg.max_new_tokens}
    if sample:
        kwargs.update(top_k=cfg.top_k, top_p=cfg.top_p, temperature=cfg.temperature)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = model.generate(**enc, pad_token_id=pad, **kwargs)
    new_tokens = out[0, enc["input_ids"].shape[1] :]
    return tokenizer.decode(new_tokens, skip_special_tokens=True)


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


def cli(args: argparse.Namespace) -> int:
    cfg = GenerateConfig(
        max_new_tokens=args.max_new_tokens,
        top_k=args.top_k,
        top_p=args.top_p,
        temperature=args.temperature,
        repetition_penalty=args.repetition_penalty,
        seed=args.seed,
    )
    model, tokenizer = load_for_generation(args.model)
    print(generate(model, tokenizer, args.prompt, cfg))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    p = argparse.ArgumentParser(description="sample text from a trained model folder")
    add_cli(p)
    sys.exit(cli(p.parse_args()))
