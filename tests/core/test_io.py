from __future__ import annotations

import os
import stat

import pytest

from tibcpt.io import atomic_path, sweep_temp_files, write_text_atomic


def test_atomic_write_gives_the_umask_mode_not_mkstemps_0600(tmp_path):
    write_text_atomic(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~umask


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    p = tmp_path / "m.json"
    p.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(p) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert p.read_text() == "old" and sweep_temp_files(tmp_path) == 0
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".tmp-shard-00000.parquet.abc").write_text("left by kill -9")
    assert sweep_temp_files(tmp_path) == 1 and not list(tmp_path.rglob(".tmp-*"))


def test_an_output_folder_that_cannot_be_created_is_an_input_error(tmp_path):
    from tibcpt.errors import InputError
    from tibcpt.io import exclusive_lock

    (tmp_path / "file").write_text("in the way")
    with pytest.raises(InputError, match="cannot be used as the output folder"), exclusive_lock(tmp_path / "file", "x"):
        pass
