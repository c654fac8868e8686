"""Trainer tests on CPU with tiny random Llama models and shard folders packed from real text."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tibcpt.training.config import ModelConfig, TrainConfig, load_train_config
from tibcpt.training.data import ShardFolder, iter_eval_batches, iter_mixed, iter_sequences, n_replay, read_row_group
from tibcpt.training.evaluate import bits_per_byte, evaluate
from tibcpt.training.model import (
    apply_finetuning,
    check_tokenizer_extends,
    load_base_tokenizer,
    resize_embeddings,
)
from tibcpt.training.optim import check_precision
from tibcpt.training.train import train
from tiny import TINY, tiny_cfg

from tibcpt.config import ConfigError
from tibcpt.errors import InputError

REPO = Path(__file__).resolve().parents[2]


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


# ---- config ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "train").glob("*.yaml")), ids=lambda p: p.name)
def test_every_train_config_loads_strictly(path):
    cfg = load_train_config(path)
    assert isinstance(cfg, TrainConfig) and cfg.model.model_name_or_path


def test_unknown_keys_and_bad_values_are_errors():
    with pytest.raises(ConfigError, match="optim.learnin_rate"):
        load_train_config(TINY, ["optim.learnin_rate=1e-3"])
    with pytest.raises(ConfigError, match="replay_ratio"):
        load_train_config(TINY, ["data.replay_ratio=0.3"])  # no replay_shards
    with pytest.raises(ConfigError, match="finetuning_type"):
        load_train_config(TINY, ["model.finetuning_type=qlora"])
    cfg = load_train_config(TINY, ["optim.learning_rate=2.0e-4", "max_steps=7"])
    assert cfg.optim.learning_rate == 2e-4 and cfg.max_steps == 7


# ---- data ------------------------------------------------------------------------------------


def test_stream_is_deterministic_resumable_and_mixes_exactly(assets):
    main = ShardFolder(assets["tibetan"]).split("train")
    replay = ShardFolder(assets["english"]).split("train")
    first = [s[0] for s, _ in zip(iter_sequences(main, 1), range(main.n_sequences))]
    # one epoch visits every stored row exactly once, in an order different from the file's
    stored = [ids for rg in main.row_groups for ids in read_row_group(rg, main.seq_len)[0]]
    assert sorted(x.tobytes() for x in first) == sorted(x.tobytes() for x in stored)
    assert any(not np.array_equal(a, b) for a, b in zip(first, stored))
    second = [s[0] for s, _ in zip(iter_sequences(main, 1, start=main.n_sequences), range(20))]
    assert any(not np.array_equal(a, b) for a, b in zip(first[:20], second))
    full = [r for r, _ in zip(iter_mixed(main, replay, 0.25, 3), range(300))]
    resumed = [r for r, _ in zip(iter_mixed(main, replay, 0.25, 3, start=217), range(83))]
    assert all(np.array_equal(a[0], b[0]) and a[2] == b[2] for a, b in zip(full[217:], resumed))
    assert sum(r[2] for r in full) == n_replay(300, 0.25) == 75


# ---- model surgery ---------------------------------------------------------------------------


@pytest.mark.parametrize("tie", [False, True])
def test_resize_keeps_old_rows_bit_identical_and_mean_inits_new(tmp_path, tie):
    from conftest import make_tiny_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(make_tiny_model(tmp_path / "m", 100, tie=tie))
    old_in = model.get_input_embeddings().weight.detach().clone()
    old_out = model.get_output_embeddings().weight.detach().clone()
    assert resize_embeddings(model, 130, init="mean")
    new_in = model.get_input_embeddings().weight
    new_out = model.get_output_embeddings().weight
    assert new_in.shape == (130, 48) and new_out.shape == (130, 48)
    assert torch.equal(new_in[:100], old_in) and torch.equal(new_out[:100], old_out)
    assert torch.allclose(new_in[100:], old_in.mean(0).expand(30, -1))
    assert torch.allclose(new_out[100:], old_out.mean(0).expand(30, -1))
    assert (new_in.data_ptr() == new_out.data_ptr()) == tie
    assert not resize_embeddings(model, 120, init="mean")  # never shrinks


def test_tokenizer_that_renumbers_base_tokens_is_refused(assets):
    from transformers import AutoTokenizer

    ext = AutoTokenizer.from_pretrained(assets["tibetan"] / "tokenizer")
    base = load_base_tokenizer(str(assets["model"]))
    check_tokenizer_extends(base, ext, str(assets["model"]))  # a true extension passes
    other = AutoTokenizer.from_pretrained(assets["root"] / "base-tokenizer")
    other.add_special_tokens({"additional_special_tokens": ["<x>"]})
    vocab = other.backend_tokenizer.to_str()
    data = json.loads(vocab)
    v = data["model"]["vocab"]
    a, b = list(v)[5], list(v)[6]
    v[a], v[b] = v[b], v[a]  # swap two ids: same size, different numbering
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    swapped = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(data)))
    with pytest.raises(ValueError, match="not an extension"):
        check_tokenizer_extends(base, swapped, str(assets["model"]))


def test_freeze_marks_only_last_layers_trainable(assets):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(assets["model"])
    cfg = ModelConfig(str(assets["model"]), finetuning_type="freeze", freeze_trainable_layers=1)
    apply_finetuning(model, cfg, resized=True)  # auto: embeddings train after a resize
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any(n.startswith("model.layers.1.") for n in trainable)
    assert not any(n.startswith("model.layers.0.") for n in trainable)
    assert {"model.embed_tokens.weight", "lm_head.weight"} <= trainable
    assert "model.norm.weight" not in trainable


def test_lora_target_matching_nothing_is_an_error(assets):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(assets["model"])
    cfg = ModelConfig(str(assets["model"]), finetuning_type="lora", lora_target=["q_proj", "c_attn"])
    with pytest.raises(ConfigError, match="c_attn"):
        apply_finetuning(model, cfg, resized=False)


# ---- evaluation ------------------------------------------------------------------------------


def test_bits_per_byte_hand_checkable(assets):
    from transformers import AutoModelForCausalLM

    assert bits_per_byte(8 * math.log(2), 8) == pytest.approx(1.0)
    # A zero lm_head gives uniform logits: every token costs exactly ln V nats.
    model = AutoModelForCausalLM.from_pretrained(assets["model"])
    resize_embeddings(model, assets["ext_vocab"], init="mean")
    V = assets["ext_vocab"]
    with torch.no_grad():
        model.lm_head.weight.zero_()
    split = ShardFolder(assets["tibetan"]).split("validation")
    res = evaluate(model, iter_eval_batches(split, 4, max_sequences=6))
    n_bytes = sum(int(b.n_bytes.sum()) for b in iter_eval_batches(split, 4, max_sequences=6))
    assert res["tokens"] == 6 * 63
    assert res["loss"] == pytest.approx(math.log(V), rel=1e-6)
    assert res["bits_per_byte"] == pytest.approx(6 * 63 * math.log2(V) / n_bytes, rel=1e-6)


def test_eval_batches_keep_ranks_in_step(assets):
    """Under FSDP every rank must run as many forwards as the others, or the all-gathers hang:
    uneven shares are topped up with filler batches that evaluation runs but never counts."""
    split = ShardFolder(assets["tibetan"]).split("validation")
    n = min(split.n_sequences, 7)
    per_rank = [list(iter_eval_batches(split, 2, rank=r, world=3, max_sequences=n)) for r in range(3)]
    assert len({len(b) for b in per_rank}) == 1, "every rank yields the same number of batches"
    real = [b for bs in per_rank for b in bs if not b.padding]
    assert sum(b.input_ids.shape[0] for b in real) == n
    single = list(iter_eval_batches(split, 2, max_sequences=n))
    assert not any(b.padding for b in single)
    rows = sorted(tuple(r.tolist()) for b in real for r in b.input_ids)
    assert rows == sorted(tuple(r.tolist()) for b in single for r in b.input_ids)


# ---- errors before compute -------------------------------------------------------------------


def test_clear_errors_before_compute(assets, tmp_path):
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
            check_precision("fp16", cuda=False)
    check_precision("bf16", cuda=False)  # CPU autocast supports bf16
    with pytest.raises(InputError, match="manifest.json"):  # one line at the CLI
        train(tiny_cfg(assets, tmp_path / "o", f"data.shards={tmp_path / 'missing'}"))
    (tmp_path / "o2" / "checkpoints" / "step-0000005").mkdir(parents=True)
    (tmp_path / "o2" / "checkpoints" / "step-0000005" / "trainer_state.json").write_text("{}")
    with pytest.raises(ConfigError, match="already has checkpoints"):
        train(tiny_cfg(assets, tmp_path / "o2"))


# ---- training runs ---------------------------------------------------------------------------


def test_full_training_lowers_loss_and_writes_outputs(assets, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "full"
    # Raw-text sets never trained on: held-out colloquial Tibetan stories and English news.
    from conftest import SHARED

    stories = sorted((SHARED / "corpus" / "modern" / "global-asp-stories").glob("*.md"))[:3]
    bo = "\n\n".join(
        "\n".join(x for x in f.read_text(encoding="utf-8").splitlines() if not x.startswith("#")) for f in stories
    )
    (tmp_path / "bo.txt").write_text(bo, encoding="utf-8")
    news = (SHARED / "general" / "english-news-ntrex" / "news.txt").read_text(encoding="utf-8").splitlines()[:20]
    (tmp_path / "en.txt").write_text("\n".join(news), encoding="utf-8")
    cfg = tiny_cfg(
        assets,
        out,
        "max_steps=10",
        "save_steps=0",
        "eval_steps=5",
        f"data.general_eval_shards={assets['english']}",
        f"data.replay_shards={assets['english']}",
        "data.replay_ratio=0.25",
        f"data.eval_sets.bo-stories={tmp_path / 'bo.txt'}",
        f"data.eval_sets.en-news={tmp_path / 'en.txt'}",
    )
    result = train(cfg)
    # base model (own tokenizer) before, trained model (extended tokenizer) after, on the same bytes
    text = json.loads((out / "eval.json").read_text())["text_sets"]
    assert set(text) == {"bo-stories", "en-news"} and text == result["text_sets"]
    for r in text.values():
        assert r["base"]["bytes"] == r["trained"]["bytes"] and r["base"]["lossy_docs"] == 0
    assert text["bo-stories"]["trained"]["bits_per_byte"] < text["bo-stories"]["base"]["bits_per_byte"]
    assert text["bo-stories"]["trained"]["tokens"] < text["bo-stories"]["base"]["tokens"]
    base_bpb = text["bo-stories"]["base"]["bits_per_byte"]
    assert f"<td>bo-stories</td><td>{base_bpb:.4f}</td>" in (out / "report.html").read_text()
    ev = json.loads((out / "eval.json").read_text())
    start = {r["set"]: r["loss"] for r in ev["history"] if r["step"] == 0}
    assert result["eval"]["tibetan"]["loss"] < start["tibetan"] - 0.5
    assert set(ev["final"]) == {"tibetan", "general"}
    logs = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    train_recs = [r for r in logs if r["kind"] == "train"]
    assert train_recs[-1]["loss"] < train_recs[0]["loss"]
    assert all(r["replay_share"] == pytest.approx(0.25, abs=0.07) for r in train_recs)
    report = (out / "report.html").read_text()
    assert (out / "loss.png").stat().st_size > 1000 and "loss.png" in report
    # The model folder records how documents were separated, for tibcpt eval / generate.
    shard_sep = json.loads((assets["tibetan"] / "manifest.json").read_text())["document_separator"]
    assert json.loads((out / "document_separator.json").read_text()) == shard_sep
    # The report shows the baseline and the change in bits per byte (forgetting on the general set).
    bpb0 = {r["set"]: r["bits_per_byte"] for r in ev["history"] if r["step"] == 0}
    change = ev["final"]["tibetan"]["bits_per_byte"] - bpb0["tibetan"]
    assert f"{bpb0['general']:.4f}" in report and f"{change:+.4f}" in report and change < 0
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.vocab_size == assets["ext_vocab"]
    # The model card `tibcpt publish model` writes shows that evaluation, the recipe and the
    # sampling defaults (it used to list only the step count).
    from tibcpt.training.generate import GenerateConfig

    from tibcpt.cli import main

    staging = tmp_path / "hub-model"
    argv = ["publish", "model", "--path", str(out), "--repo-id", "org/m", "--staging", str(staging), "--dry-run"]
    assert main(argv) == 0
    card = (staging / "README.md").read_text()
    bo = text["bo-stories"]
    assert f"| bo-stories | {bo['base']['bits_per_byte']:.3f} | {bo['trained']['bits_per_byte']:.3f} |" in card
    assert f"| tibetan | {result['eval']['tibetan']['loss']:.4f} |" in card
    assert f"temperature {GenerateConfig().temperature}" in card and "`full` fine-tuning" in card
    assert (staging / "model.safetensors").is_file() and (staging / "document_separator.json").is_file()


def test_freeze_training_leaves_frozen_weights_bit_identical(assets, tmp_path):
    out = tmp_path / "freeze"
    cfg = tiny_cfg(
        assets,
        out,
        "model.finetuning_type=freeze",
        "model.freeze_trainable_layers=1",
        "model.freeze_train_embeddings=false",
        "max_steps=3",
        "save_steps=0",
        "eval_at_start=false",
    )
    train(cfg)
    before, after = load_weights(assets["model"]), load_weights(out)
    for name, w in before.items():
        w_after = after[name][: w.shape[0]] if "embed" in name or "lm_head" in name else after[name]
        if name.startswith("model.layers.1."):
            assert not torch.equal(w, w_after), f"{name} should have trained"
        else:
            assert torch.equal(w, w_after), f"{name} changed although frozen"


def test_lora_saves_adapter_and_merged_model(assets, tmp_path):
    from safetensors import safe_open

    out = tmp_path / "lora"
    cfg = tiny_cfg(
        assets,
        out,
        "model.finetuning_type=lora",
        "model.lora_rank=4",
        "max_steps=3",
        "save_steps=0",
        "eval_at_start=false",
    )
    cfg.optim.learning_rate = 1e-2
    train(cfg)
    with safe_open(str(out / "adapter" / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert any("lora_A" in k for k in keys) and any("lora_B" in k for k in keys)
    assert any("embed_tokens" in k for k in keys)  # modules_to_save after the resize
    merged, base = load_weights(out), load_weights(assets["model"])
    assert not any("lora" in k for k in merged)
    assert not torch.equal(
        merged["model.layers.0.self_attn.q_proj.weight"], base["model.layers.0.self_attn.q_proj.weight"]
    )
    # layer norms are neither adapted nor saved: untouched
    assert torch.equal(merged["model.norm.weight"], base["model.norm.weight"])


def test_resume_gives_the_same_batches_and_losses(assets, tmp_path):
    common = [
        "max_steps=6",
        "save_steps=3",
        "gradient_accumulation_steps=2",
        "logging_steps=1",
        "eval_at_start=false",
        "optim.warmup_steps=1",
    ]
    common += [
        f"data.replay_shards={assets['english']}",
        "data.replay_ratio=0.3",
        "model.train_embeddings_only_steps=2",
    ]
    full = tmp_path / "a"
    train(tiny_cfg(assets, full, *common))
    resumed = tmp_path / "b"
    train(tiny_cfg(assets, resumed, *common, f"resume_from_checkpoint={full / 'checkpoints' / 'step-0000003'}"))

    def losses(folder):
        recs = [json.loads(x) for x in (folder / "train_log.jsonl").read_text().splitlines()]
        return {r["step"]: r["loss"] for r in recs if r["kind"] == "train"}

    a, b = losses(full), losses(resumed)
    assert sorted(b) == [4, 5, 6]
    assert [a[s] for s in (4, 5, 6)] == [b[s] for s in (4, 5, 6)]
    wa, wb = load_weights(full), load_weights(resumed)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (
        json.loads((resumed / "eval.json").read_text())["final"]
        == json.loads((full / "eval.json").read_text())["final"]
    )


def test_generate_strips_prompt(assets, tmp_path):
    from tibcpt.training.artifacts import load_model_folder
    from tibcpt.training.generate import GenerateConfig, generate

    model, tok = load_model_folder(assets["model"])
    prompt = "བོད་ཀྱི་"
    text = generate(model, tok, prompt, GenerateConfig(max_new_tokens=12, seed=0))
    # The prompt follows the document separator the shards put before every document (EOS here).
    ids = [tok.eos_token_id] + tok(prompt)["input_ids"]
    assert ids[1] != tok.eos_token_id  # this tokenizer adds nothing itself
    full = model.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False, pad_token_id=0)
    greedy = generate(
        model, tok, prompt, GenerateConfig(max_new_tokens=12, temperature=0, repetition_penalty=1.0, well_formed=False)
    )
    # ... less a character cut off at max_new_tokens (this random model's last piece is a lone byte)
    assert greedy == tok.decode(full[0, len(ids) :], skip_special_tokens=True).rstrip("\ufffd")
    assert isinstance(text, str) and text


def test_generation_starts_the_prompt_like_a_training_document(assets):
    """A separator before the prompt only where the tokenizer does not already start with BOS/EOS."""
    from tibcpt.training.generate import with_document_start
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(assets["tibetan"] / "tokenizer")
    enc = tok(["བོད་ཀྱི་"], return_tensors="pt")
    out = with_document_start(tok, enc)
    assert (
        out["input_ids"][0, 0] == tok.eos_token_id and out["input_ids"][0, 1:].tolist() == enc["input_ids"][0].tolist()
    )
    assert out["attention_mask"].shape == out["input_ids"].shape and bool(out["attention_mask"].all())
    again = with_document_start(tok, out)  # already starts a document: unchanged
    assert again["input_ids"].tolist() == out["input_ids"].tolist()
