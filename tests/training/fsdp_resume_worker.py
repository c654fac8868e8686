"""Run under torchrun (2 CPU processes, gloo) by test_fsdp_resume.py: FSDP1 with a frozen layer,
a checkpoint through accelerate's own sharded FSDP optimizer save/load, resumed by
`tibcpt.training.checkpoint.load_checkpoint` into a fresh optimizer. Each rank writes out/rank{r}.json."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from accelerate import PartialState
from accelerate.utils import FullyShardedDataParallelPlugin, load_fsdp_optimizer, save_fsdp_optimizer
from tibcpt.training import checkpoint as ckpt
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

from tibcpt.errors import InputError


class FsdpAccelerator:
    """The part of accelerate's Accelerator that load_checkpoint uses under FSDP (accelerate refuses
    FSDP without GPUs, torch's FSDP1 runs on CPU): load_state goes to accelerate's real optimizer loader."""

    distributed_type = "DistributedType.FSDP"

    def __init__(self, model, optimizer):
        self.plugin = FullyShardedDataParallelPlugin(state_dict_type="SHARDED_STATE_DICT", fsdp_version=1)
        self.model, self.optimizer = model, optimizer
        self.process_index = dist.get_rank()
        self.is_main_process = self.process_index == 0

    def wait_for_everyone(self):
        dist.barrier()

    def save_state(self, folder: str) -> None:
        save_fsdp_optimizer(self.plugin, self, self.optimizer, self.model, folder)

    def load_state(self, folder: str) -> None:
        load_fsdp_optimizer(self.plugin, self, self.optimizer, self.model, folder)


def batch(step: int) -> torch.Tensor:
    return torch.randn(8, 16, generator=torch.Generator().manual_seed(100 * step + dist.get_rank()))


def train_step(model, optimizer, step: int) -> None:
    model(batch(step)).pow(2).mean().backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def main(out: Path, prime: bool) -> None:
    PartialState(cpu=True)  # the gloo process group (and accelerate's logging state)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Linear(32, 4))
    net[0].requires_grad_(False)  # the freeze recipe: frozen and trained parameters in one FSDP unit
    model = FSDP(net, device_id=torch.device("cpu"), use_orig_params=True)

    def new_optimizer():
        return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.1)

    optimizer = new_optimizer()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 / (1 + s))
    for step in range(3):
        train_step(model, optimizer, step)
        scheduler.step()
    # a checkpoint as save_checkpoint writes it
    folder = out / "checkpoints" / "step-0000003"
    folder.mkdir(parents=True, exist_ok=True)
    FsdpAccelerator(model, optimizer).save_state(str(folder / "accelerate"))
    if dist.get_rank() == 0:
        torch.save(scheduler.state_dict(), folder / "scheduler.pt")
        (folder / "trainer_state.json").write_text(json.dumps({"step": 3, "samples": 48, "skipped_steps": 0}))
    dist.barrier()

    saved = [p.detach().clone() for p in model.parameters()]
    for step in (3, 4):  # uninterrupted
        train_step(model, optimizer, step)
        scheduler.step()
    uninterrupted = [p.detach().clone() for p in model.parameters()]

    with torch.no_grad():  # back to the step-3 weights, then resume into a fresh optimizer
        for p, s in zip(model.parameters(), saved, strict=True):
            p.copy_(s)
    optimizer = new_optimizer()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 / (1 + s))
    if not prime:  # what accelerate alone does: load into a fresh optimizer without state
        ckpt.prime_optimizer_state = lambda optimizer: None
    try:
        state = ckpt.load_checkpoint(folder, model, optimizer, scheduler, FsdpAccelerator(model, optimizer))
    except InputError as e:
        report(out, {"error": str(e)})
        return
    for step in (3, 4):
        train_step(model, optimizer, step)
        scheduler.step()
    gap = max((a - b).abs().max().item() for a, b in zip(uninterrupted, model.parameters(), strict=True) if a.numel())
    moved = max((a - b).abs().max().item() for a, b in zip(uninterrupted, saved, strict=True) if a.numel())
    report(out, {"step": state["step"], "gap": gap, "moved": moved})


def report(out: Path, result: dict) -> None:
    rank = dist.get_rank()
    (out / f"rank{rank}.json").write_text(json.dumps({"rank": rank, **result}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), prime=sys.argv[2] == "prime")
    dist.barrier()
    dist.destroy_process_group()
    # The results are on disk. About 1 run in 25, a C++ thread torch leaves behind here (after the
    # group is destroyed) aborts the interpreter's shutdown ("terminate called without an active
    # exception", CI): skip that shutdown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
