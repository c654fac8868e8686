"""Validation loss and bits per byte.

Bits per byte is tokenizer-independent, so a model with an extended Tibetan vocabulary can be
compared with the base model: bpb = Σ token NLL (nats) / ln 2 / Σ n_bytes, with n_bytes the UTF-8
bytes of source text each packed sequence covers (docs/CONTRACTS.md). The first token of every
sequence has no prediction, so bpb slightly undercounts (by 1/seq_len of the tokens); the
contract keeps the simple definition so all runs share it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from tibcpt.training.data import Batch

from tibcpt.errors import InputError


def bits_per_byte(nll_nats: float, n_bytes: int) -> float:
    """Σ NLL in nats over Σ UTF-8 bytes, in bits."""
    if n_bytes <= 0:
        raise ValueError(f"n_bytes: must be > 0, got {n_bytes}")
    return nll_nats / math.log(2) / n_bytes


def sequence_nll(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """Summed next-token NLL (nats, fp32) of each sequence: [batch, seq, vocab] → [batch]."""
    shift_logits = logits[:, :-1].float()
    targets = input_ids[:, 1:]
    nll = F.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]), targets.reshape(-1), reduction="none")
    return nll.view(targets.shape).sum(dim=1)


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Iterable[Batch], accelerator=None) -> dict[str, float]:
    """Mean token loss, perplexity and bits per byte over `batches` (summed over ranks)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # nll nats, tokens predicted, bytes
    for batch in batches:
        ids = batch.input_ids.to(device)
        logits = model(input_ids=ids).logits
        if getattr(batch, "padding", False):
            continue  # a filler that keeps ranks in step (FSDP); contributes nothing
        totals[0] += sequence_nll(logits, ids).double().sum()
        totals[1] += ids.shape[0] * (ids.shape[1] - 1)
        totals[2] += batch.n_bytes.sum().item()
    if accelerator is not None and accelerator.num_processes > 1:
        totals = accelerator.reduce(totals, reduction="sum")
    if was_training:
        model.train()
    nll, n_tok, n_bytes = (float(x) for x in totals.tolist())
    if n_tok == 0:
        raise InputError("evaluation set is empty")
    loss = nll / n_tok
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 50.0)),
        "bits_per_byte": bits_per_byte(nll, int(n_bytes)),
        "tokens": int(n_tok),
        "bytes": int(n_bytes),
    }
