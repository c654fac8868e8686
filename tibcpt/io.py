"""Atomic file output shared by pipeline and training: write to a temp file, then rename."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tibcpt.errors import InputError

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once at import: os.umask can only be read by setting it


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success rename it over `path` (atomic on POSIX).

    A crash leaves at most a `.tmp-*` file, never a half-written output under the real name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}.", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the output the mode a plain open() would (other users of a
        # shared corpus folder, Ray workers under another uid, must read it).
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json_atomic(path: str | Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


LOCK_NAME = ".tibcpt.lock"


@contextmanager
def exclusive_lock(folder: str | Path, what: str) -> Iterator[Path]:
    """Hold an exclusive lock on output `folder` for the whole run, or fail with one line naming the
    run that holds it. flock(2) is released by the kernel when the holder dies (also on kill -9), so
    a crashed run never leaves a stale lock; the lock file's text only says who holds it."""
    folder = Path(folder)
    path = folder / LOCK_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:  # a file in the way, no permission, read-only disk
        raise InputError(f"{folder}: cannot be used as the output folder ({e.strerror or e})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text(encoding="utf-8", errors="replace").strip() or "another process"
            raise InputError(
                f"{folder} is in use by another run ({holder}); wait for it or pick another --out"
            ) from None
        info = f"{what}, pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}: "
        info += " ".join(sys.argv)[:300]
        os.ftruncate(fd, 0)
        os.pwrite(fd, (info + "\n").encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def sweep_temp_files(folder: str | Path) -> int:
    """Remove `.tmp-*` files and folders that `atomic_path` (or a temp build folder) left under `folder`
    when a run was killed. Call only while holding `exclusive_lock(folder)`: a live run's temp files
    are then impossible. Returns how many were removed."""
    n = 0
    root = Path(folder)
    if not root.is_dir():
        return 0
    for p in sorted(root.rglob(".tmp-*"), key=lambda q: len(q.parts), reverse=True):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)
        n += 1
    return n


def check_replaceable(out: str | Path, marker: str, what: str, fmt: str | None = None) -> None:
    """Refuse an output folder a command would replace but did not write: `out` may be missing, empty,
    or hold `marker` (the file the command writes there last; with `fmt`, a JSON file whose "format"
    is `fmt`, so another command's manifest.json does not count). Call before any work, so a typo in
    `--out` never costs a user's files (a command never deletes what it did not create)."""
    p = Path(out)
    if not p.exists() or (p.is_dir() and not any(p.iterdir())):
        return
    m = p / marker
    if m.is_file():
        if fmt is None:
            return
        try:
            if json.loads(m.read_text(encoding="utf-8")).get("format") == fmt:
                return
        except (ValueError, AttributeError):
            pass
    raise InputError(f"--out {p} exists and is not {what} (no {marker} of ours); choose another folder or empty it")
