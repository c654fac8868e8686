from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from tibcpt.config import ConfigError, config_hash, from_dict, load_config

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Inner:
    rate: float = 0.5
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError("rate must be in [0, 1]")


@dataclass
class Outer:
    steps: int = 10
    inner: Inner = field(default_factory=Inner)
    path: str | None = None


def test_unknown_key_is_an_error_naming_it():
    with pytest.raises(ConfigError, match="inner.raet"):
        from_dict(Outer, {"inner": {"raet": 0.1}})


def test_types_are_checked():
    with pytest.raises(ConfigError, match="steps"):
        from_dict(Outer, {"steps": "ten"})
    with pytest.raises(ConfigError, match="steps"):
        from_dict(Outer, {"steps": True})


def test_validation_in_post_init_surfaces_as_config_error():
    with pytest.raises(ConfigError, match="rate"):
        from_dict(Outer, {"inner": {"rate": 2}})


def test_yaml_plus_dotted_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("steps: 3\ninner:\n  names: [a, b]\n")
    cfg = load_config(Outer, p, ["inner.rate=0.25", "path=/x"])
    assert cfg == Outer(steps=3, inner=Inner(rate=0.25, names=["a", "b"]), path="/x")
    assert config_hash(cfg) != config_hash(Outer())
    # YAML 1.1 reads 2e-4 as a string; float fields accept it, and reject what is not a number.
    assert load_config(Outer, p, ["inner.rate=2e-1"]).inner.rate == 0.2
    with pytest.raises(ConfigError, match="inner.rate"):
        load_config(Outer, p, ["inner.rate=fast"])
    with pytest.raises(ConfigError, match="must look like"):
        load_config(Outer, p, ["steps"])


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(Outer, tmp_path / "nope.yaml")


def test_every_shipped_config_loads_strictly():
    """litgpt's habit: every YAML under configs/ matches its dataclass key for key."""
    from tibcpt.pipeline.corpus.runner import CorpusConfig

    loaders = {"pipeline/corpus": CorpusConfig, "pipeline/replay": CorpusConfig}
    try:
        from tibcpt.pipeline.tokens.pack import PackConfig
        from tibcpt.pipeline.tokens.tokenizer import TokenizerConfig

        loaders |= {"pipeline/tokenizer": TokenizerConfig, "pipeline/pack": PackConfig}
    except ImportError:
        pass
    try:
        from tibcpt.training.config import TrainConfig

        loaders |= {"train/": TrainConfig}
    except ImportError:
        pass
    from tibcpt.pipeline.sources.registry import load_sources

    files = sorted((REPO / "configs").rglob("*.yaml"))
    assert files, "configs/ has no YAML files"
    unchecked = []
    for f in files:
        rel = f.relative_to(REPO / "configs").as_posix()
        if rel.startswith("sources-"):
            assert load_sources(f), f"{rel}: no enabled sources"
            continue
        if rel.startswith("accelerate/"):
            continue  # accelerate's own format, read by `accelerate launch`
        matched = [cls for prefix, cls in loaders.items() if rel.startswith(prefix)]
        if not matched:
            unchecked.append(rel)
        for cls in matched:
            load_config(cls, f)
    assert unchecked == [], "every config file must be loaded by some test"


@dataclass
class Precision:
    mixed_precision: str = "bf16"
    mode: Literal["yes", "no", "auto"] = "auto"
    steps: int = 1
    note: str | None = None


def test_overrides_are_parsed_against_the_field_type(tmp_path):
    """`mixed_precision=no` stays the string "no" (YAML 1.1 would read false); numbers stay numbers."""
    cfg = load_config(Precision, None, ["mixed_precision=no", "mode=no", "steps=3", "note=null"])
    assert cfg == Precision(mixed_precision="no", mode="no", steps=3, note=None)
    assert load_config(Precision, None, ["note=1e3"]).note == "1e3"


def test_bad_override_value_is_one_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"override inner\.names: value '\[1,' is not valid YAML"):
        load_config(Outer, None, ["inner.names=[1,"])


def test_non_utf8_yaml_is_a_config_error_naming_the_file(tmp_path):
    p = tmp_path / "latin1.yaml"
    p.write_bytes("steps: 3  # réglé\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.yaml: not UTF-8"):
        load_config(Outer, p)


def test_post_init_error_names_the_file_and_key(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("inner:\n  rate: 2\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: inner: rate must be in \[0, 1\]"):
        load_config(Outer, p)


def test_train_mixed_precision_no_on_the_command_line():
    """The issue's case on the real trainer config: YAML 1.1 read `no` as false and it was rejected."""
    from tibcpt.training.config import TrainConfig

    cfg = load_config(TrainConfig, REPO / "configs/train/tiny-cpu.yaml", ["mixed_precision=no"])
    assert cfg.mixed_precision == "no"
