"""Architecture rules that a refactor must not break."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Source folder -> installed package name (pyproject's package-dir mapping).
ROOTS = {"pipeline": "tibcpt.pipeline", "training": "tibcpt.training", "tibcpt": "tibcpt"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([ROOTS[parts[0]], *parts[1:]])


def _runtime_imports(path: Path) -> set[str]:
    """Absolute module names imported at run time (imports under `if TYPE_CHECKING:` are skipped)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for b in node.body for n in ast.walk(b)}
    mod = _module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = pkg.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    return names


def _graph() -> dict[str, set[str]]:
    files = [f for root in ROOTS for f in (REPO / root).rglob("*.py")]
    mods = {_module_name(f): f for f in files}
    return {m: {n for n in _runtime_imports(f) if n in mods and n != m} for m, f in mods.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n) :] + [n]
            if n not in state and (c := visit(n)):
                return c
        state[m] = 2
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    """Module-level and function-local imports alike: a local import must not hide a circle."""
    graph = _graph()
    assert "tibcpt.pipeline.corpus.runner" in graph
    assert _find_cycle(graph) is None


def test_training_never_imports_pipeline():
    """The shard folder on disk is the only contract between corpus building and training."""
    graph = _graph()
    training = [m for m in graph if m.startswith("tibcpt.training")]
    assert training
    offenders = {m: sorted(n for n in graph[m] if n.startswith("tibcpt.pipeline")) for m in training}
    assert {m: v for m, v in offenders.items() if v} == {}


def test_one_top_level_name():
    """Installed, only `tibcpt` is importable: `import pipeline` from outside the checkout fails."""
    code = "import importlib.util as u; print(u.find_spec('pipeline'), u.find_spec('training'), u.find_spec('tibcpt.pipeline.corpus.runner') is not None)"
    out = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["None", "None", "True"]


def test_modules_stay_readable():
    """House style: one module per stage, files under ~400 lines (split when one outgrows that)."""
    too_long = {
        str(f.relative_to(REPO)): n
        for pkg in ROOTS
        for f in (REPO / pkg).rglob("*.py")
        if (n := len(f.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert too_long == {}


def test_every_package_is_installed():
    """pyproject lists packages explicitly (package-dir mapping): a new subpackage must be listed too,
    or `pip install .` ships a tibcpt without it."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    on_disk = {_module_name(f) for root in ROOTS for f in (REPO / root).rglob("__init__.py")}
    assert on_disk == listed
