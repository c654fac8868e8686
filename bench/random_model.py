"""Make a randomly initialised model folder from a model's config.json (+ tokenizer files).

For GPU throughput/MFU runs on machines that cannot receive the real weights: the FLOPs, memory and
kernels of a 135M Llama are the same whatever the weights are. Usage: random_model.py SRC DST
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM


def main(src: str, dst: str) -> None:
    torch.manual_seed(0)
    cfg = AutoConfig.from_pretrained(src)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    model.save_pretrained(dst)
    for f in Path(src).iterdir():
        if f.name.startswith("tokenizer") or f.name == "generation_config.json":
            shutil.copy(f, Path(dst) / f.name)
    print(f"random {cfg.model_type} with {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params -> {dst}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
