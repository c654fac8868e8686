"""The logged tokens/s covers the interval's device work, not only the host's launches (issue 11).

GPU work is asynchronous: when the host reaches a log step the GPU may still have queued kernels.
Round 12 (bench/results/train_speed.json) measured the old order (clock read, then the loss's
.item()) at 431k tok/s logging every step against 310k once the clock waited for the device."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from tibcpt.training import train as train_mod


class DeviceQueue:
    """A fake clock and a loss whose .item() waits `pending` seconds of queued device work."""

    def __init__(self) -> None:
        self.now, self.pending = 100.0, 0.0

    def perf_counter(self) -> float:
        return self.now

    def launch(self, host_s: float, device_s: float) -> None:
        self.now += host_s
        self.pending += device_s - host_s  # the device finishes this much after the host returns

    def reduce(self, t, reduction="mean"):
        queue = self

        class Synced:
            def item(self):
                queue.now += max(queue.pending, 0.0)
                queue.pending = 0.0
                return float(t)

        return Synced()


def fake_run(q: DeviceQueue, records: list) -> SimpleNamespace:
    cfg = SimpleNamespace(per_device_train_batch_size=4, gradient_accumulation_steps=1)
    acc = SimpleNamespace(reduce=q.reduce, num_processes=1, device=torch.device("cpu"))
    return SimpleNamespace(
        cfg=cfg, accelerator=acc, main=True, sequences_per_step=4, train_split=SimpleNamespace(seq_len=256),
        loss_acc=torch.zeros(()), t_interval=q.perf_counter(), steps_in_interval=0, data_time=0.0,
        replay_seen=0, step=0, max_steps=10, skipped=0, scheduler=SimpleNamespace(get_last_lr=lambda: [1e-3]),
        flops_per_token=1.0, peak_flops=None, logger=SimpleNamespace(write=records.append),
    )  # fmt: skip


def test_tokens_per_s_waits_for_the_queued_device_work(monkeypatch):
    q = DeviceQueue()
    monkeypatch.setattr(train_mod.time, "perf_counter", q.perf_counter)
    records: list[dict] = []
    run = fake_run(q, records)
    tokens = 4 * 256
    for _interval in range(3):
        for _ in range(2):  # two steps per interval: the host launches in 0.1 s what the device runs in 0.5 s
            q.launch(host_s=0.1, device_s=0.5)
            run.loss_acc += 2.0
            run.step += 1
            run.steps_in_interval += 1
        train_mod.log_progress(run, {"grad_norm": torch.tensor(1.0), "embeddings_only": False})
    # Every interval is 1.0 s of device time for 2 steps, the first as well as the next ones: the
    # time spent waiting at one log step is neither lost nor counted twice.
    assert [round(r["tokens_per_s"]) for r in records] == [2 * tokens] * 3
    assert [r["loss"] for r in records] == [2.0] * 3
    assert run.t_interval == q.now and run.steps_in_interval == 0


def test_evaluation_and_checkpoints_stay_out_of_the_training_clock(monkeypatch):
    """An evaluation right after a log step (eval_steps a multiple of logging_steps, as in the
    configs) and a checkpoint inside an interval: neither lowers the logged tokens/s."""
    q = DeviceQueue()
    monkeypatch.setattr(train_mod.time, "perf_counter", q.perf_counter)
    records: list[dict] = []
    run = fake_run(q, records)
    run.cfg = SimpleNamespace(
        per_device_train_batch_size=4, gradient_accumulation_steps=1, logging_steps=2, eval_steps=2, save_steps=3
    )
    done: list[str] = []

    def step(r):
        q.launch(host_s=0.1, device_s=0.5)
        r.loss_acc += 2.0
        r.step += 1
        r.steps_in_interval += 1
        return {"grad_norm": torch.tensor(1.0), "embeddings_only": False}

    def slow(name: str, seconds: float):
        def work(r):
            q.now += seconds
            done.append(f"{name}@{r.step}")

        return work

    monkeypatch.setattr(train_mod, "train_step", step)
    monkeypatch.setattr(train_mod, "evaluate_sets", slow("eval", 30.0))
    monkeypatch.setattr(train_mod, "save_checkpoint", slow("save", 60.0))
    for _ in range(6):
        train_mod.train_loop_step(run, SimpleNamespace(step_done=lambda s: None))
    assert done == ["eval@2", "save@3", "eval@4", "eval@6", "save@6"]
    # 2 steps of 0.5 s device time per interval, whatever ran between them
    assert [round(r["tokens_per_s"]) for r in records] == [2 * 4 * 256] * 3
