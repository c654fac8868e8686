"""Packing real Tibetan text from ../shared into token shards (docs/CONTRACTS.md layout)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_tokenizer import make_bpe_base, make_clean_corpus  # real-data builders (tests/pipeline on sys.path)
from tibcpt.pipeline.tokens.heldout import is_heldout
from tibcpt.pipeline.tokens.pack import PackConfig, pack
from tibcpt.pipeline.tokens.packing import copies, token_bytes, with_eos, with_separators
from tibcpt.pipeline.tokens.tokenizer import TokenizerConfig, build_tokenizer

from tibcpt.config import ConfigError, load_config
from tibcpt.errors import InputError

REPO = Path(__file__).resolve().parents[2]
LLAMA2 = REPO.parent / "shared" / "tokenizers" / "llama2" / "tokenizer.model"
CFG = ["seq_len=128", "shard_mb=1", "validation_fraction=0.1", "batch_docs=16"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path, list[dict]]:
    root = tmp_path_factory.mktemp("pack")
    rows = make_clean_corpus(root / "corpus", max_modern=60)
    base = make_bpe_base(root / "base")
    tok = root / "tok"
    build_tokenizer(root / "corpus", base, tok, TokenizerConfig(vocab_size=1500, max_added=1200, heldout_fraction=0.1))
    return root, tok, rows


@pytest.fixture(scope="module")
def packed(setup) -> tuple[Path, dict]:
    root, tok, _ = setup
    out = root / "shards"
    manifest = pack(root / "corpus", tok, out, load_config(PackConfig, None, CFG), workers=2)
    return out, manifest


def _stream(tok, texts: list[str], eos: int | None, bos: int | None = None) -> list[int]:
    ids: list[int] = []
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        ids += [bos] * (bos is not None) + enc.ids + [eos] * (eos is not None)
    return ids


def test_shards_hold_the_documents_in_order(setup, packed):
    from tokenizers import Tokenizer

    root, tok_dir, rows = setup
    out, m = packed
    tok = Tokenizer.from_file(str(out / "tokenizer" / "tokenizer.json"))
    assert m["format"] == "tibcpt-shards-v1" and m["seq_len"] == 128
    # SmolLM2-style base: <|endoftext|> (its pretraining separator) after each document, not eos <|im_end|>
    assert m["eos_token_id"] == tok.token_to_id("<|endoftext|>") and m["bos_token_id"] is None
    assert m["document_separator"]["family"] == "byte-level-endoftext"
    assert m["vocab_size"] == tok.get_vocab_size()
    val = [r for r in rows if is_heldout(r["id"], 0.1)]
    assert m["validation_doc_ids"] == sorted(r["id"] for r in val) and val
    for split, docs in (("train", [r for r in rows if not is_heldout(r["id"], 0.1)]), ("validation", val)):
        table = pa.concat_tables([pq.read_table(out / s) for s in m["splits"][split]["shards"]])
        assert table.schema.field("input_ids").type == pa.list_(pa.int32())
        ids = np.array(table.column("input_ids").to_pylist())
        assert ids.shape[1] == 128
        expected = _stream(tok, [d["text"] for d in docs], m["eos_token_id"])
        # the packed stream is the documents' tokens with EOS after each, minus a tail < seq_len
        assert len(expected) - 128 < ids.size <= len(expected)
        assert ids.reshape(-1).tolist() == expected[: ids.size]
        st = m["splits"][split]
        assert st["sequences"] == len(table) and st["tokens"] == ids.size
        assert all(sum(t) == 128 for t in table.column("source_tokens").to_pylist())
        assert sum(st["per_source"].values()) == ids.size
        total_bytes = sum(d["n_bytes"] for d in docs)
        assert st["bytes"] == sum(table.column("n_bytes").to_pylist())
        assert 0.9 * total_bytes < st["bytes"] <= total_bytes
        rows_per_shard = (1 << 20) // (4 * 128)  # shard_mb=1
        assert len(st["shards"]) == -(-st["sequences"] // rows_per_shard)
        assert all(pq.ParquetFile(out / s).metadata.num_rows == rows_per_shard for s in st["shards"][:-1])


def test_datasets_loads_the_folder(packed):
    import datasets

    out, m = packed
    ds = datasets.load_dataset("parquet", data_dir=str(out))
    assert set(ds) == {"train", "validation"}
    assert ds["train"].num_rows == m["splits"]["train"]["sequences"]
    assert len(ds["validation"][0]["input_ids"]) == 128


def test_eval_only_sources_go_to_test_never_train(setup, tmp_path):
    """sources.yaml `eval_only: true` (issue 12): the source's documents are only in `test`."""
    import datasets
    from tokenizers import Tokenizer

    root, tok_dir, rows = setup
    entries = [("nanhai", "literature", False), ("udhr", "legal", True), ("mila", "religious", False)]
    (tmp_path / "sources.yaml").write_text("sources:\n" + "".join(
        f"  - {{name: {n}, kind: local, license: CC-BY-4.0, genre: {g}, path: x, eval_only: {str(e).lower()}}}\n"
        for n, g, e in entries), encoding="utf-8")  # fmt: skip
    out = tmp_path / "shards"
    m = pack(root / "corpus", tok_dir, out, load_config(PackConfig, None, CFG), tmp_path / "sources.yaml", workers=2)
    assert m["eval_only_sources"] == ["udhr"] and m["test_doc_ids"] == ["udhr/bod"]
    assert "udhr" not in m["splits"]["train"]["per_source"] and "udhr" not in m["splits"]["validation"]["per_source"]
    assert "udhr/bod" not in m["validation_doc_ids"]
    assert set(m["splits"]["test"]["per_source"]) == {"udhr"} and m["splits"]["test"]["docs"] == 1
    ds = datasets.load_dataset("parquet", data_dir=str(out))
    assert set(ds) == {"train", "validation", "test"}
    tok = Tokenizer.from_file(str(out / "tokenizer" / "tokenizer.json"))
    udhr = next(r["text"] for r in rows if r["source"] == "udhr")
    got = [i for row in ds["test"]["input_ids"] for i in row]
    assert got == _stream(tok, [udhr], m["eos_token_id"])[: len(got)] and len(got) >= 128
    assert all(s == ["udhr"] for s in ds["test"]["sources"])
    # the same from the flag alone, and from the corpus manifest's record (`make corpus` writes `eval_only`)
    again = pack(root / "corpus", tok_dir, tmp_path / "again", load_config(PackConfig, None, CFG), eval_only={"udhr"})
    assert again["splits"] == m["splits"]
    corpus = tmp_path / "corpus"
    shutil.copytree(root / "corpus", corpus)
    (corpus / "manifest.json").write_text(json.dumps({"sources": {"udhr": {"eval_only": True}}}), encoding="utf-8")
    third = pack(corpus, tok_dir, tmp_path / "third", load_config(PackConfig, None, CFG))
    assert third["splits"] == m["splits"] and third["eval_only_sources"] == ["udhr"]


def test_llama2_shards_put_bos_before_each_document(setup, tmp_path):
    """Llama-2 family: `<s>` before every document and no `</s>`, as Llama-2's tokenizer encodes documents."""
    from tokenizers import Tokenizer

    root, _, rows = setup
    tok_dir = tmp_path / "llama-tok"
    build_tokenizer(
        root / "corpus", LLAMA2, tok_dir, TokenizerConfig(vocab_size=1500, max_added=1200, heldout_fraction=0.1)
    )
    m = pack(root / "corpus", tok_dir, tmp_path / "shards", load_config(PackConfig, None, CFG), workers=2)
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    assert m["bos_token_id"] == tok.token_to_id("<s>") == 1 and m["document_separator"]["eos_token"] is None
    val = [r["text"] for r in rows if is_heldout(r["id"], 0.1)]
    ids = pq.read_table(tmp_path / "shards" / "validation").column("input_ids").to_pylist()
    flat = [i for row in ids for i in row]
    assert flat == _stream(tok, val, None, bos=1)[: len(flat)]
    assert tok.token_to_id("</s>") not in flat


def test_deterministic_across_workers_and_resumable(setup, packed):
    root, tok, _ = setup
    out, m = packed
    again = root / "shards-1worker"
    pack(root / "corpus", tok, again, load_config(PackConfig, None, CFG), workers=1)
    for split in ("train", "validation"):
        for name in m["splits"][split]["shards"]:
            assert (again / name).read_bytes() == (out / name).read_bytes()
    mtime = (out / "manifest.json").stat().st_mtime_ns
    assert pack(root / "corpus", tok, out, load_config(PackConfig, None, CFG), workers=2) == m
    assert (out / "manifest.json").stat().st_mtime_ns == mtime


def test_source_weights(setup, packed):
    root, tok, rows = setup
    _, m = packed
    out = root / "shards-weighted"
    w = pack(
        root / "corpus", tok, out, load_config(PackConfig, None, CFG), workers=2, weights={"udhr": 3.0, "mila": 0.5}
    )
    base_tr, w_tr = m["splits"]["train"]["per_source"], w["splits"]["train"]["per_source"]
    if "udhr" in base_tr:  # udhr may have been drawn into validation
        assert w_tr["udhr"] == pytest.approx(3 * base_tr["udhr"], rel=0.05)
    assert 0.2 * base_tr["mila"] < w_tr["mila"] < 0.8 * base_tr["mila"]
    assert w["splits"]["validation"] == m["splits"]["validation"]  # validation is never reweighted


def test_copies_is_deterministic_and_matches_weight():
    ids = [f"doc{i}" for i in range(4000)]
    assert [copies(i, 0.5) for i in ids] == [copies(i, 0.5) for i in ids]
    assert abs(sum(copies(i, 0.5) for i in ids) / 4000 - 0.5) < 0.03
    assert {copies(i, 2.0) for i in ids} == {2}
    assert abs(sum(copies(i, 1.25) for i in ids) / 4000 - 1.25) < 0.03


def test_token_bytes_and_eos():
    lengths, nb = np.array([3, 1, 4]), np.array([10, 2, 9])
    tb = token_bytes(lengths, nb)
    assert tb.tolist()[:3] == [3, 3, 4] and tb[:3].sum() == 10 and tb[3] == 2 and tb[4:].sum() == 9
    ids, new_len = with_eos(np.arange(8, dtype=np.int32), lengths, 99)
    assert ids.tolist() == [0, 1, 2, 99, 3, 99, 4, 5, 6, 7, 99] and new_len.tolist() == [4, 2, 5]
    ids, new_len = with_separators(np.arange(8, dtype=np.int32), lengths, 7, None)
    assert ids.tolist() == [7, 0, 1, 2, 7, 3, 7, 4, 5, 6, 7] and new_len.tolist() == [4, 2, 5]
    ids, _ = with_separators(np.arange(8, dtype=np.int32), lengths, 50, 60)
    assert ids.tolist() == [50, 0, 1, 2, 60, 50, 3, 60, 50, 4, 5, 6, 7, 60]


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="seq_len"):
        PackConfig(seq_len=4)
    with pytest.raises(ConfigError, match="validation_fraction"):
        load_config(PackConfig, None, ["validation_fraction=0.7"])
    assert load_config(PackConfig, REPO / "configs" / "pipeline" / "pack.yaml").seq_len == 2048


def test_special_token_strings_in_text_stay_text(setup, tmp_path):
    """A document cannot forge a separator: literal "<|endoftext|>" / "<|im_end|>" are encoded as text."""
    from tokenizers import Tokenizer

    root, tok_dir, _ = setup
    texts = [f"བོད་ཀྱི་སྐད་ <|endoftext|> doc {i} <|im_end|> " * 8 for i in range(3)]
    (tmp_path / "c" / "data").mkdir(parents=True)
    rows = [{"id": f"d{i}", "text": t, "source": "s"} for i, t in enumerate(texts)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c" / "data" / "shard-00000.parquet")
    m = pack(
        tmp_path / "c",
        tok_dir,
        tmp_path / "out",
        load_config(PackConfig, None, ["seq_len=16", "validation_fraction=0"]),
    )
    flat = [i for row in pq.read_table(tmp_path / "out" / "train").column("input_ids").to_pylist() for i in row]
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    tok.encode_special_tokens = True
    assert flat == _stream(tok, texts, m["eos_token_id"])[: len(flat)]
    assert flat.count(m["eos_token_id"]) <= 3 and tok.token_to_id("<|im_end|>") not in flat


def test_refuses_to_replace_a_folder_it_did_not_write(setup, tmp_path):
    """--out pointing at a user's folder (or the corpus, whose manifest.json is not ours) is refused
    before any work, and nothing in it is touched; pack's own output folder is replaced as before."""
    root, tok, _ = setup
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "a.txt").write_text("mine")
    for out in (mine, root / "corpus"):
        before = sorted(p.name for p in out.iterdir())
        with pytest.raises(InputError, match="is not a token shard folder"):
            pack(root / "corpus", tok, out, load_config(PackConfig, None, CFG), workers=1)
        assert sorted(p.name for p in out.iterdir()) == before
    assert (mine / "a.txt").read_text() == "mine"
