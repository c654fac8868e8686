from __future__ import annotations

from pathlib import Path

import pytest
from tibcpt.pipeline.sources.registry import expand_vars, load_sources

from tibcpt.config import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_shipped_sources_yaml_validates_every_entry():
    enabled = load_sources(REPO / "sources.yaml")
    assert [s.name for s in enabled] == [
        "derge-kangyur", "classical-tibetan-corpus", "old-tibetan-corpus",
        "childrens-stories", "nanhai-modern-writing", "global-asp-stories", "udhr",
    ]  # fmt: skip
    # The mission placeholders parse too (kinds web/local/etext with their own options).
    mission = load_sources(REPO / "sources.yaml", only=["yongzin", "tibet-cn-tb", "textbooks", "bdrc-etexts"])
    assert {s.kind for s in mission} == {"web", "local", "etext"}
    assert not any(s.enabled for s in mission)


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text("sources:\n" + body)
    return p


def test_unknown_kind_specific_key_names_the_source(tmp_path):
    p = _write(tmp_path, "  - name: a\n    kind: local\n    license: MIT\n    genre: web\n    path: .\n    pth: x\n")
    with pytest.raises(ConfigError, match=r"sources\[a\]\.pth"):
        load_sources(p)


def test_bad_license_genre_and_duplicates(tmp_path):
    base = "  - name: {n}\n    kind: local\n    license: {lic}\n    genre: {g}\n    path: .\n"
    with pytest.raises(ConfigError, match="license"):
        load_sources(_write(tmp_path, base.format(n="a", lic="CC BY whatever!", g="web")))
    with pytest.raises(ConfigError, match="genre"):
        load_sources(_write(tmp_path, base.format(n="a", lic="MIT", g="memes")))
    with pytest.raises(ConfigError, match="duplicate"):
        load_sources(_write(tmp_path, base.format(n="a", lic="MIT", g="web") * 2))


def test_env_expansion_with_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("TIB_X", "/data/x")
    monkeypatch.delenv("TIB_UNSET", raising=False)
    assert expand_vars("${TIB_X}/a") == "/data/x/a"
    assert expand_vars("${TIB_UNSET:-../shared}/b") == "../shared/b"
    with pytest.raises(ConfigError, match="TIB_UNSET"):
        expand_vars("$TIB_UNSET/c")
    p = _write(tmp_path, "  - name: a\n    kind: local\n    license: MIT\n    genre: web\n    path: ${TIB_X}/in\n")
    (src,) = load_sources(p)
    assert src.resolve_path(src.options.path) == Path("/data/x/in")
