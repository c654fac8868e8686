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


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("license", "my-own-license", "not an SPDX license"),
        ("license", "MIT AND my-own", "not an SPDX license"),
        ("weight", ".nan", "weight must be a finite number"),
        ("weight", ".inf", "weight must be a finite number"),
        ("name", "..", "must be non-empty"),
        ("name", ".hidden", "must be non-empty"),
    ],
)
def test_values_that_used_to_pass_are_config_errors(tmp_path, key, value, match):
    entry = {"name": "a", "kind": "local", "license": "MIT", "genre": "web", "path": ".", key: value}
    p = _write(
        tmp_path, "  - {" + ", ".join(f"{k}: '{v}'" if k != "weight" else f"{k}: {v}" for k, v in entry.items()) + "}\n"
    )
    with pytest.raises(ConfigError, match=match):
        load_sources(p)


def test_real_spdx_ids_and_expressions_pass(tmp_path):
    for lic in (
        "CC-BY-NC-4.0",
        "cc-by-sa-3.0",
        "MIT OR Apache-2.0",
        "LicenseRef-public-domain",
        "unknown",
        "public-domain",
    ):
        entry = f"  - {{name: a, kind: local, license: '{lic}', genre: web, path: .}}\n"
        assert load_sources(_write(tmp_path, entry))[0].license == lic
