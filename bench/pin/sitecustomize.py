"""Bench-only CPU pinning (`pin`) and DDP no-op hook (`ddp_hook`) for bench/train_speed.py runs that
ask for them (on PYTHONPATH only there).

Round 7's profiles: the host spends 31 us of CPU per matmul call on one GPU and 39-40 us on each of
two DDP ranks, whose processes the scheduler is free to put on sibling hyperthreads of one core.
TIBCPT_BENCH_PIN=N splits this machine's physical cores into N contiguous blocks and binds local rank
r (LOCAL_RANK, 0 for a single process) to block r with all its hardware threads, so a 1-GPU run can
be pinned like one rank of a 2-GPU run. Python imports sitecustomize at start-up, before torch.
"""

import os
import sys
from pathlib import Path


def physical_cores(cpus):
    """{(package, core): [cpu, ...]} for the CPUs this process may use, from sysfs topology."""
    cores = {}
    for cpu in sorted(cpus):
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            key = (int((topo / "physical_package_id").read_text()), int((topo / "core_id").read_text()))
        except OSError:
            key = (0, cpu)
        cores.setdefault(key, []).append(cpu)
    return cores


def pin():
    n = int(os.environ.get("TIBCPT_BENCH_PIN", "0") or 0)
    if n < 1 or not hasattr(os, "sched_setaffinity"):
        return
    # The launcher of a DDP run has no LOCAL_RANK and lands on block 0; its children re-bind.
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    cores = sorted(physical_cores(os.sched_getaffinity(0)).items())
    per = max(len(cores) // n, 1)
    block = cores[rank * per : (rank + 1) * per] or cores[-per:]
    cpus = sorted(c for _, group in block for c in group)
    os.sched_setaffinity(0, cpus)
    print(f"bench pin: local rank {rank} of {n} blocks -> cpus {cpus} ({len(cores)} cores seen)", file=sys.stderr)


def ddp_hook():
    """TIBCPT_BENCH_DDP_HOOK=noop: every torch DDP model gets torch's own no-op communication hook
    (debugging_hooks.noop_hook, meant for "headroom analysis of allreduce optimization"): the
    reducer, its hooks and buckets run as usual, the all-reduce does not. Gradients stay per rank,
    so only the speed of such a run means anything."""
    if os.environ.get("TIBCPT_BENCH_DDP_HOOK") != "noop":
        return
    from torch.distributed.algorithms.ddp_comm_hooks.debugging_hooks import noop_hook
    from torch.nn.parallel import DistributedDataParallel

    init = DistributedDataParallel.__init__

    def patched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.register_comm_hook(None, noop_hook)
        print("bench ddp hook: noop (no all-reduce)", file=sys.stderr)

    DistributedDataParallel.__init__ = patched


pin()
ddp_hook()
