"""Shared fixtures: paths to the read-only real data in ../shared."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"


@pytest.fixture(scope="session")
def shared() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"../shared is missing ({SHARED}); the tests need the real sample data beside the repo")
    return SHARED


@pytest.fixture(scope="session")
def botok_pack(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Path:
    """A writable copy of the botok dialect pack (botok writes a trie pickle beside it)."""
    dst = tmp_path_factory.mktemp("botok") / "general"
    shutil.copytree(shared / "botok" / "general", dst)
    return dst
