"""`tibcpt` prints the project's user errors as one line; every other exception keeps its traceback."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from tibcpt import cli
from tibcpt.errors import ConfigError, InputError


def _command(monkeypatch, exc: BaseException) -> None:
    mod = types.ModuleType("fake_cmd")
    mod.add_cli = lambda p: None

    def run(args):
        raise exc

    mod.cli = run
    monkeypatch.setitem(sys.modules, "fake_cmd", mod)
    monkeypatch.setitem(cli.COMMANDS, "fake", ("fake_cmd", "a test command"))


@pytest.mark.parametrize("exc", [ConfigError("corpus.yaml: filter.x: bad"), InputError("in/: not found")])
def test_user_errors_are_one_line(monkeypatch, capsys, exc):
    _command(monkeypatch, exc)
    assert cli.main(["fake"]) == 2
    err = capsys.readouterr().err
    assert err == f"tibcpt fake: error: {exc}\n"


@pytest.mark.parametrize("exc", [ValueError("a bug deep in a library"), KeyError("id"), FileNotFoundError("x")])
def test_other_exceptions_keep_their_traceback(monkeypatch, exc):
    _command(monkeypatch, exc)
    with pytest.raises(type(exc)):
        cli.main(["fake"])


def test_bad_override_on_the_command_line_is_one_line_without_traceback(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "tibcpt.cli", "corpus", "--sources", str(tmp_path / "none.yaml"), "filter.min_syllables=[1,"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("tibcpt corpus: error: override filter.min_syllables")
