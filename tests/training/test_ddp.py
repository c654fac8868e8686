"""DDP as a user runs it (`torchrun` / `accelerate launch`, one process per device): two CPU processes
with gloo train exactly like one process with the same global batch (issue 11: DDP; the data
stream deals micro-batch j to rank j % world)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from tiny import TINY, tiny_cfg

from tibcpt.errors import ConfigError


def losses(out) -> list[float]:
    recs = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in recs if r["kind"] == "train"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    "ddp_options",
    [
        [],
        # 1 MB buckets: the tiny model's gradients are reduced in several buckets, not one; bucket
        # views off (the default since round 14 is on)
        ["ddp_gradient_as_bucket_view=false", "ddp_static_graph=true", "gc_interval_steps=2", "ddp_bucket_cap_mb=1"]
        + ["profile_steps=1", "profile_start_step=2"],
    ],
    ids=["defaults", "no-bucket-view-static-gc-small-buckets"],
)
def test_two_processes_train_like_one_with_the_same_global_batch(assets, tmp_path, ddp_options):
    from tibcpt.training.train import train

    common = ["max_steps=4", "logging_steps=1", "eval_steps=0", "save_steps=0", "eval_at_start=false"]
    train(tiny_cfg(assets, tmp_path / "one", *common, "per_device_train_batch_size=4", "num_threads=1"))
    overrides = [
        f"model.model_name_or_path={assets['model']}",
        f"data.shards={assets['tibetan']}",
        f"output_dir={tmp_path / 'two'}",
        "data.eval_max_sequences=16",
        "tensorboard=false",
        "gradient_accumulation_steps=1",
        "per_device_train_batch_size=2",
        "num_threads=1",
        *common,
        *ddp_options,
    ]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1"]
    cmd += ["--master_port", str(free_port()), "-m", "tibcpt.training.train", "--config", str(TINY), *overrides]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "x 4 sequences" in proc.stderr + proc.stdout  # 2 per process x 2 processes per step
    if "profile_steps=1" in ddp_options:  # every rank profiles the same step (stragglers show)
        summaries = [
            tmp_path / "two" / "profile" / "summary.json",
            tmp_path / "two" / "profile" / "rank1" / "summary.json",
        ]
        assert [json.loads(p.read_text())["rank"] for p in summaries] == [0, 1]
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(one) == len(two) == 4 and one[-1] < one[0]
    assert two == pytest.approx(one, rel=1e-5)
    w1 = load_file(str(tmp_path / "one" / "model.safetensors"))
    w2 = load_file(str(tmp_path / "two" / "model.safetensors"))
    assert set(w1) == set(w2)
    assert all(torch.allclose(w1[k], w2[k], rtol=1e-4, atol=1e-6) for k in w1)


def test_bf16_gradient_reduce_is_refused_without_cuda(assets, tmp_path):
    from tibcpt.training.train import train

    if torch.cuda.is_available():
        pytest.skip("this checks the CPU refusal")
    with pytest.raises(ConfigError, match="ddp_reduce_dtype=bf16: needs CUDA"):
        train(tiny_cfg(assets, tmp_path / "x", "ddp_reduce_dtype=bf16", "max_steps=1"))


def test_ddp_settings_reach_torch_ddp_as_accelerate_passes_them(tmp_path):
    """The config's DDP options end up on torch's DistributedDataParallel (accelerate builds it
    with `DistributedDataParallel(model, **handler.to_kwargs())`), here in a one-process gloo group."""
    import torch.distributed as dist
    from tibcpt.training.config import load_train_config
    from tibcpt.training.parallelize import ddp_kwargs

    opts = ["ddp_bucket_cap_mb=3", "ddp_gradient_as_bucket_view=false", "ddp_static_graph=true"]
    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    try:
        cfg = load_train_config(TINY, opts)
        model = torch.nn.parallel.DistributedDataParallel(
            torch.nn.Linear(4, 4), **ddp_kwargs(cfg, False)[0].to_kwargs()
        )
        assert model.bucket_bytes_cap == 3 * 1024 * 1024
        assert model.static_graph and not model.gradient_as_bucket_view
        # the defaults: bucket views on (bench round 14), torch's 25 MB buckets, no static graph
        model = torch.nn.parallel.DistributedDataParallel(
            torch.nn.Linear(4, 4), **ddp_kwargs(load_train_config(TINY, []), False)[0].to_kwargs()
        )
        assert model.gradient_as_bucket_view and not model.static_graph
        assert model.bucket_bytes_cap == 25 * 1024 * 1024
    finally:
        dist.destroy_process_group()
    with pytest.raises(ConfigError, match="ddp_bucket_cap_mb: must be >= 1, got 0"):
        load_train_config(TINY, ["ddp_bucket_cap_mb=0"])


def test_scheduled_gc_collects_on_its_steps_only_and_restores_automatic_collection():
    import gc

    from tibcpt.training.parallelize import scheduled_gc

    assert gc.isenabled()
    seen = []
    gc.callbacks.append(lambda phase, info: seen.append(info["generation"]) if phase == "start" else None)
    try:
        with scheduled_gc(3) as collect:
            assert not gc.isenabled()
            seen.clear()
            for step in range(1, 8):
                collect(step)
                assert len(seen) == step // 3  # steps 3 and 6, young generations only
            assert set(seen) == {1}
        assert gc.isenabled()
        with scheduled_gc(0) as collect:
            assert gc.isenabled()
    finally:
        gc.callbacks.pop()


def test_launch_types_the_trainer_does_not_run_are_refused_in_one_line():
    """accelerate's DeepSpeed engine steps the optimizer inside backward (the trainer's accumulation
    would step per micro-batch) and partitions the optimizer state its checkpoints save whole."""
    from accelerate.utils import DistributedType
    from tibcpt.training.parallelize import check_launch

    for ok in (DistributedType.NO, DistributedType.MULTI_GPU, DistributedType.MULTI_CPU, DistributedType.FSDP):
        check_launch(ok)
    for bad in (DistributedType.DEEPSPEED, DistributedType.MEGATRON_LM, DistributedType.XLA):
        with pytest.raises(ConfigError, match=f"distributed type {bad.value} is not supported") as e:
            check_launch(bad)
        assert "\n" not in str(e.value)
