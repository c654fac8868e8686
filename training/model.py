"""Load the model, match it to the shard tokenizer, then choose what trains (full / freeze / LoRA).

Each step is one function, applied in order by `train.py` (torchtitan style: the model code is
never edited, only configured): `load_model` → `load_base_tokenizer` + `check_tokenizer_extends`
→ `resize_embeddings` → `apply_finetuning`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from tibcpt.training.config import ModelConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from tibcpt.errors import ConfigError, InputError

log = logging.getLogger(__name__)

EMBEDDING_MODULES = ["embed_tokens", "lm_head"]
SPACE_MARK = "\u2581"  # SentencePiece's space marker "▁"


def check_model_source(name_or_path: str) -> None:
    """Fail with one line unless `name_or_path` is a local model folder or a hub model in the local cache.

    Without this a mistyped local path reaches transformers as a hub id, which retries the network
    and ends in a long traceback."""
    path = Path(name_or_path)
    if path.exists():
        if not (path / "config.json").is_file():
            raise InputError(f"model.model_name_or_path: {path} is not a model folder (no config.json)")
        return
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(name_or_path, "config.json")
    except ValueError:  # not a valid hub id either (HFValidationError is a ValueError)
        cached = None
    if not isinstance(cached, str):
        raise InputError(
            f"model.model_name_or_path: {name_or_path} does not exist (neither a local model folder nor a "
            "cached Hugging Face model; `make base-model` writes models/smollm2-135m)"
        )


def load_model(cfg: ModelConfig) -> PreTrainedModel:
    """fp32 master weights from a local folder (safetensors only) or a hub id the user has cached."""
    kwargs = {"dtype": torch.float32, "use_safetensors": True}
    if cfg.attn_implementation:
        kwargs["attn_implementation"] = cfg.attn_implementation
    return AutoModelForCausalLM.from_pretrained(cfg.model_name_or_path, **kwargs)


def load_base_tokenizer(model_name_or_path: str):
    """The base model's own tokenizer, or None when it has none; loaded once per run for
    `check_tokenizer_extends` and the base-model figures on `data.eval_sets`."""
    path = Path(model_name_or_path)
    if path.exists() and not (path / "tokenizer_config.json").is_file() and not (path / "tokenizer.json").is_file():
        return None  # a local folder without tokenizer files (transformers would raise ValueError)
    try:
        return AutoTokenizer.from_pretrained(model_name_or_path)
    except OSError:  # a cached hub model without tokenizer files
        return None


def check_tokenizer_extends(base_tokenizer, shard_tokenizer, model_name_or_path: str) -> None:
    """Raise ConfigError unless the shard tokenizer keeps every base token at the same id.

    Resizing can only append rows: a tokenizer that renumbers existing tokens would pair them with
    the wrong embeddings, which no resize can fix. Without a base tokenizer (None) only the size
    check applies.
    """
    if base_tokenizer is None:
        return
    base_vocab, shard_vocab = base_tokenizer.get_vocab(), shard_tokenizer.get_vocab()
    moved = [t for t, i in base_vocab.items() if shard_vocab.get(t) != i]
    if moved:
        raise ConfigError(
            f"the shard tokenizer is not an extension of {model_name_or_path}'s tokenizer: "
            f"{len(moved)} base tokens missing or renumbered (e.g. {moved[:5]!r}); resizing cannot fix that"
        )


@torch.no_grad()
def resize_embeddings(
    model: PreTrainedModel,
    new_size: int,
    init: str = "subword_mean",
    base_tokenizer=None,
    tokenizer=None,
) -> bool:
    """Grow input (and untied output) embeddings to `new_size`; returns True when rows were added.

    init="mean": every new row is the mean of the old rows (Hewitt 2021, "Initializing new word
    embeddings"; LLaMA-Factory's `resize_vocab`): all new tokens start identical.
    init="subword_mean": Fast Vocabulary Transfer (Gee et al. 2022): new token i's row is the mean
    of the base rows of the ids the base tokenizer splits its text into (`new_token_base_ids`), for
    the input and for an untied output embedding alike; a token with no base ids (or no
    `base_tokenizer`) gets the all-rows mean. Old rows stay bit-identical; deterministic.
    """
    if init not in ("subword_mean", "mean"):
        raise ConfigError(f"model.new_token_init: must be subword_mean or mean, got {init!r}")
    old_size = model.get_input_embeddings().weight.shape[0]
    if new_size <= old_size:
        return False
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    # mean_resizing=False: we set the rows ourselves (transformers' own mean resizing samples
    # from a Gaussian around the mean, which is not reproducible across versions).
    model.resize_token_embeddings(new_size, mean_resizing=False)
    emb = model.get_input_embeddings().weight
    out = model.get_output_embeddings()
    if tied and out is not None and out.weight.data_ptr() != emb.data_ptr():
        model.tie_weights()
    weights = [emb] + ([out.weight] if out is not None and not tied else [])
    pieces: list[list[int]] = [[] for _ in range(old_size, new_size)]
    if init == "subword_mean" and base_tokenizer is not None and tokenizer is not None:
        pieces = new_token_base_ids(base_tokenizer, tokenizer, old_size, new_size)
    has = torch.tensor([bool(p) for p in pieces], device=emb.device)
    flat = torch.tensor([i for p in pieces for i in p], dtype=torch.long, device=emb.device)
    offsets = torch.tensor([0] + [len(p) for p in pieces[:-1]], dtype=torch.long, device=emb.device).cumsum(0)
    for w in weights:
        rows = w[:old_size].mean(dim=0, keepdim=True).expand(new_size - old_size, -1).clone()
        if has.any():
            # embedding_bag(mode="mean") averages each token's base rows in one call (empty bags
            # give zeros and are replaced by the all-rows mean through `has`).
            bags = F.embedding_bag(flat, w[:old_size], offsets, mode="mean")
            rows = torch.where(has[:, None], bags.to(w.dtype), rows)
        w[old_size:] = rows
    model.config.vocab_size = new_size
    n_sub = int(has.sum())
    log.info(
        "resized embeddings %d -> %d (%s init: %d rows from base subwords, %d rows the all-rows mean; tied=%s)",
        old_size,
        new_size,
        init,
        n_sub,
        new_size - old_size - n_sub,
        tied,
    )
    return True


def is_sentencepiece_style(base_tokenizer) -> bool:
    """True for Llama-2-style tokenizers whose pieces mark spaces with U+2581 (Metaspace)."""
    backend = getattr(base_tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    return SPACE_MARK in f"{backend.normalizer}{backend.pre_tokenizer}"


def new_token_base_ids(base_tokenizer, tokenizer, old_size: int, new_size: int) -> list[list[int]]:
    """For each id in [old_size, new_size): the base tokenizer's ids for that token, [] if none.

    Three kinds of new token, and how each is mapped (both tokenizer families tibcpt extends):
    - an added token (byte-level SmolLM2: `AddedToken(normalized=False)`, its content the raw text,
      e.g. " བོད"): the base tokenizer encodes that text (`decode` gives it back exactly);
    - a vocabulary piece (SentencePiece proto append for Llama-2, e.g. "▁བོད" = " བོད" at a word
      start, or "བོད" inside a word; or byte-level merges, written in the GPT-2 byte alphabet): the
      piece is already in the base model's own alphabet, so the base BPE model splits it directly
      (`backend_tokenizer.model.tokenize`). Encoding its text instead would be wrong for
      SentencePiece: the base normalizer prepends "▁" to every text, so "བོད" would gain a space
      token and " བོད" would become "▁▁"+... (measured on Llama-2).
    - ids past the extended tokenizer (padding rows of the resize): none.
    Special tokens and the unknown token carry no meaning of the text and are dropped.
    """
    drop = set(base_tokenizer.all_special_ids)
    added = tokenizer.added_tokens_decoder
    backend = getattr(base_tokenizer, "backend_tokenizer", None)
    spm = is_sentencepiece_style(base_tokenizer)
    vocab = tokenizer.convert_ids_to_tokens(list(range(old_size, min(new_size, len(tokenizer)))))
    texts: dict[int, str] = {}
    out: list[list[int]] = [[] for _ in range(old_size, new_size)]
    for i, piece in zip(range(old_size, new_size), vocab, strict=False):
        tok = added.get(i)
        if tok is not None and tok.special:
            continue
        if tok is not None and not spm:
            texts[i] = tok.content
            continue
        if piece is None:
            continue
        if tok is not None:  # an added token on a SentencePiece base: its text as a piece
            piece = tok.content.replace(" ", SPACE_MARK)
        if backend is None:
            texts[i] = piece.replace(SPACE_MARK, " ")
            continue
        out[i - old_size] = [t.id for t in backend.model.tokenize(piece) if t.id not in drop]
    if texts:
        ids = list(texts)
        enc = base_tokenizer([texts[i] for i in ids], add_special_tokens=False)["input_ids"]
        for i, e in zip(ids, enc, strict=True):
            out[i - old_size] = [t for t in e if t not in drop]
    return out


def embedding_parameter_names(model: torch.nn.Module) -> list[str]:
    """Names of the parameters belonging to embed_tokens / lm_head (incl. LoRA modules_to_save copies)."""
    return [n for n, _ in model.named_parameters() if any(m in n for m in EMBEDDING_MODULES)]


def _freeze(model: PreTrainedModel, cfg: ModelConfig, train_embeddings: bool) -> None:
    layers = model.model.layers
    n = min(cfg.freeze_trainable_layers, len(layers))
    trainable = {f"model.layers.{i}." for i in range(len(layers) - n, len(layers))}
    for name, p in model.named_parameters():
        in_layers = any(name.startswith(t) for t in trainable)
        p.requires_grad = in_layers or (train_embeddings and any(m in name for m in EMBEDDING_MODULES))
    # The final norm sits after the trainable layers; LLaMA-Factory freezes it too, and so do we.


def _lora(model: PreTrainedModel, cfg: ModelConfig, resized: bool) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model

    names = [n for n, _ in model.named_modules()]
    unmatched = [t for t in cfg.lora_target if not any(n == t or n.endswith("." + t) for n in names)]
    if unmatched:
        raise ConfigError(f"model.lora_target: {unmatched} match no module of {type(model).__name__}")
    to_save = cfg.lora_modules_to_save
    if to_save is None:
        to_save = list(EMBEDDING_MODULES) if resized else []
    lcfg = LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_target),
        modules_to_save=to_save or None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lcfg)


def apply_finetuning(model: PreTrainedModel, cfg: ModelConfig, resized: bool) -> torch.nn.Module:
    """Set requires_grad per `finetuning_type`; returns the model (a PeftModel for lora)."""
    if cfg.finetuning_type == "full":
        for p in model.parameters():
            p.requires_grad = True
    elif cfg.finetuning_type == "freeze":
        train_emb = resized if cfg.freeze_train_embeddings is None else cfg.freeze_train_embeddings
        _freeze(model, cfg, train_emb)
    else:
        model = _lora(model, cfg, resized)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if cfg.finetuning_type != "full":
            model.enable_input_require_grads()
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in model.parameters())
    log.info("%s: %.2fM of %.2fM parameters train", cfg.finetuning_type, n_train / 1e6, n_all / 1e6)
    return model


def merged_for_saving(model: torch.nn.Module) -> PreTrainedModel:
    """A plain HF model for `save_pretrained`: LoRA adapters merged, otherwise unchanged."""
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model
