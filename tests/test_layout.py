"""Architecture rules that a refactor must not break."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_training_never_imports_pipeline():
    """The shard folder on disk is the only contract between corpus building and training."""
    files = sorted((REPO / "training").rglob("*.py"))
    assert files
    offenders = [str(f.relative_to(REPO)) for f in files if "pipeline" in _imports(f)]
    assert offenders == []


def test_modules_stay_readable():
    """House style: one module per stage, files under ~400 lines (split when one outgrows that)."""
    too_long = {
        str(f.relative_to(REPO)): n
        for pkg in ("pipeline", "training", "tibcpt")
        for f in (REPO / pkg).rglob("*.py")
        if (n := len(f.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert too_long == {}
