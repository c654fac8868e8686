"""The tiny CPU training config the trainer tests share (configs/train/tiny-cpu.yaml + test shards)."""

from __future__ import annotations

from pathlib import Path

from tibcpt.training.config import TrainConfig, load_train_config

TINY = Path(__file__).resolve().parents[2] / "configs" / "train" / "tiny-cpu.yaml"


def tiny_cfg(assets, out: Path, *overrides: str) -> TrainConfig:
    """tiny-cpu.yaml on the session's tiny model and Tibetan shards, writing to `out`."""
    base = [
        f"model.model_name_or_path={assets['model']}",
        f"data.shards={assets['tibetan']}",
        f"output_dir={out}",
        "data.eval_max_sequences=16",
        "tensorboard=false",
        "gradient_accumulation_steps=1",
    ]
    return load_train_config(TINY, base + list(overrides))
