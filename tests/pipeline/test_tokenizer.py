"""Vocabulary extension on real Tibetan text from ../shared: both base kinds (SentencePiece, byte-level BPE)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tibcpt.pipeline.text.segment import rejoin_segmented, syllables
from tibcpt.pipeline.tokens.spm import ADDABLE_RE, new_pieces, parse_model, train_sentencepiece, training_lines
from tibcpt.pipeline.tokens.tokenizer import (
    TokenizerConfig,
    build_tokenizer,
    check_unchanged,
    is_heldout,
    roundtrip_failures,
    split_corpus,
)

from tibcpt.config import ConfigError, load_config
from tibcpt.errors import InputError

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = SHARED / "corpus"
REPO = Path(__file__).resolve().parents[2]
# The real SmolLM2 tokenizer: `make base-model`'s folder, or bench/pack.py's export.
SMOL = next((p for p in (REPO / "models" / "smollm2-135m", Path("~/.cache/tibcpt/smollm2-tokenizer").expanduser())
             if (p / "tokenizer.json").is_file()), REPO / "models" / "smollm2-135m")  # fmt: skip


def make_clean_corpus(folder: Path, max_modern: int = 120) -> list[dict]:
    """A small clean-corpus folder (CONTRACTS columns) from real shared text: modern files + classical chunks."""
    rows = []

    def add(doc_id: str, text: str, source: str, genre: str) -> None:
        text = rejoin_segmented(text.replace("\ufeff", "").strip())
        if text:
            b = len(text.encode("utf-8"))
            rows.append(dict(id=doc_id, text=text, source=source, license="CC-BY-4.0", genre=genre, url=None,
                             title=None, n_syllables=len(syllables(text)), n_bytes=b))  # fmt: skip

    for p in sorted((CORPUS / "modern" / "nanhai-modern-writing").glob("*.txt"))[:max_modern]:
        add(f"nanhai/{p.stem}", p.read_text(encoding="utf-8-sig"), "nanhai", "literature")
    add("udhr/bod", (CORPUS / "modern" / "udhr" / "udhr_bod.txt").read_text(encoding="utf-8"), "udhr", "legal")
    mila = (CORPUS / "classical" / "classical-tibetan-corpus" / "mila.txt").read_text(encoding="utf-8")
    for i in range(0, min(len(mila), 200_000), 10_000):
        add(f"mila/{i}", mila[i : i + 10_000], "mila", "religious")
    (folder / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "data" / "shard-00000.parquet", compression="zstd")
    return rows


def make_bpe_base(folder: Path) -> Path:
    """A small byte-level BPE base (GPT-2 pre-tokenizer) trained on English wikitext2 from ../shared.

    Special tokens and eos as in the SmolLM2-Instruct GGUF `make base-model` converts: eos names the
    chat-turn end `<|im_end|>`, while documents were separated by `<|endoftext|>` in pretraining.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    text = (SHARED / "general" / "english-wikitext2" / "valid.txt").read_text(encoding="utf-8")[:1_000_000]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=3000, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tok.train_from_iterator(text.splitlines(), trainer)
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", bos_token="<|im_start|>",
                            unk_token="<|endoftext|>").save_pretrained(str(folder))  # fmt: skip
    return folder


def non_tibetan_texts() -> list[str]:
    wiki = (SHARED / "general" / "english-wikitext2" / "test.txt").read_text(encoding="utf-8")
    paras = [p for p in wiki.split("\n") if len(p) > 200][:50]
    code = (REPO / "pipeline" / "tokens" / "pack.py").read_text(encoding="utf-8")[:5000]
    return paras + [
        code,
        "西藏自治区位于中国西南部，平均海拔四千米以上。",
        "mixed: Ünïcödé, 日本語, русский, 1,234.5 €",
        # same UTF-8 lead byte E0 as Tibetan, and U+FF0B (EF BC 8B) ends like the tsheg (E0 BC 8B)
        "हिन्दी भाषा, ภาษาไทย, বাংলা, ＋１２３",
        "emoji 😀👍🏽 👨\u200d👩\u200d👧 🇧🇹!",
        "  \n\n\t  lead and trail   \r\n",
        "it's they've we'll I'd ’s",
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    make_clean_corpus(folder)
    return folder


SMALL = ["vocab_size=3000", "max_added=2500", "heldout_fraction=0.1"]
TIB_TEXT = (CORPUS / "modern" / "udhr" / "udhr_bod.txt").read_text(encoding="utf-8")[:3000]


@pytest.fixture(scope="module")
def llama_ext(corpus, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tok") / "llama-ext"
    report = build_tokenizer(corpus, SHARED / "tokenizers" / "llama2" / "tokenizer.model", out,
                             load_config(TokenizerConfig, None, SMALL))  # fmt: skip
    return out, report


@pytest.fixture(scope="module")
def bpe_ext(corpus, tmp_path_factory) -> tuple[Path, Path, dict]:
    base = make_bpe_base(tmp_path_factory.mktemp("bpe-base"))
    out = tmp_path_factory.mktemp("tok") / "bpe-ext"
    report = build_tokenizer(corpus, base, out, load_config(TokenizerConfig, None, [*SMALL, "bpe_mode=added_tokens"]))
    return base, out, report


@pytest.fixture(scope="module")
def bpe_merges_ext(corpus, bpe_ext, tmp_path_factory) -> tuple[Path, Path, dict]:
    base = bpe_ext[0]
    out = tmp_path_factory.mktemp("tok") / "bpe-merges-ext"
    report = build_tokenizer(corpus, base, out, load_config(TokenizerConfig, None, [*SMALL, "bpe_mode=merges"]))
    return base, out, report


def test_training_lines_respect_sentencepiece_limit():
    text = (CORPUS / "classical" / "derge-kangyur" / "vol001_vinaya_ka.txt").read_text(encoding="utf-8")[:300_000]
    lines = list(training_lines([text], max_bytes=4000))
    assert all(len(line.encode("utf-8")) <= 4000 for line in lines)
    # nothing but whitespace is lost at the cuts
    assert "".join("".join(lines).split()) == "".join(text.split())


def test_new_pieces_are_tibetan_only_and_capped(corpus):
    sample, _ = split_corpus([corpus / "data" / "shard-00000.parquet"], TokenizerConfig(heldout_fraction=0.1))
    model = parse_model(train_sentencepiece(training_lines(sample), vocab_size=1500))
    pieces = new_pieces(model, {"་", "ས"}, max_added=400)
    assert len(pieces) == 400
    assert all(ADDABLE_RE.match(p) for p, _ in pieces)
    assert "་" not in {p for p, _ in pieces}


@pytest.mark.parametrize("which", ["llama", "bpe", "bpe_merges"])
def test_extension_lowers_fertility_and_keeps_other_text(which, llama_ext, bpe_ext, bpe_merges_ext, corpus):
    from transformers import AutoTokenizer

    if which == "llama":
        out, report = llama_ext
        base_dir = out.parent / "base-copy"
        base_dir.mkdir(exist_ok=True)
        (base_dir / "tokenizer.model").write_bytes((SHARED / "tokenizers" / "llama2" / "tokenizer.model").read_bytes())
        base = AutoTokenizer.from_pretrained(str(base_dir))
    else:
        base_dir, out, report = bpe_ext if which == "bpe" else bpe_merges_ext
        base = AutoTokenizer.from_pretrained(str(base_dir))
    ext = AutoTokenizer.from_pretrained(str(out))
    assert 0 < report["pieces_added"] <= 2500
    assert len(ext) == len(base) + report["pieces_added"]
    # issue 5: Llama-2 ~5.6 tokens/syllable, byte-level ~9; a 3k-piece model must at least halve it
    assert report["before"]["tokens_per_syllable"] > 3.0
    assert report["after"]["tokens_per_syllable"] < report["before"]["tokens_per_syllable"] / 2
    assert json.loads((out / "fertility.json").read_text()) == report
    assert {"modern", "classical"} <= set(report["groups"])
    assert report["groups"]["classical"]["after"]["tokens_per_syllable"] < 1.5
    assert check_unchanged(base, ext, non_tibetan_texts()) == []
    rows = pq.read_table(corpus / "data" / "shard-00000.parquet").to_pylist()
    assert roundtrip_failures(ext, [r["text"] for r in rows]) == []
    # existing ids keep their tokens
    vb, ve = base.get_vocab(), ext.get_vocab()
    assert all(ve[t] == i for t, i in vb.items())


def test_rebuild_is_skipped_when_up_to_date(llama_ext, corpus):
    out, report = llama_ext
    mtime = (out / "tokenizer.json").stat().st_mtime_ns
    again = build_tokenizer(corpus, SHARED / "tokenizers" / "llama2" / "tokenizer.model", out,
                            load_config(TokenizerConfig, None, SMALL))  # fmt: skip
    assert again == report
    assert (out / "tokenizer.json").stat().st_mtime_ns == mtime


def test_heldout_is_excluded_from_training(corpus):
    cfg = TokenizerConfig(heldout_fraction=0.1, heldout_min_docs=0)
    rows = pq.read_table(corpus / "data" / "shard-00000.parquet").to_pylist()
    sample, heldout = split_corpus([corpus / "data" / "shard-00000.parquet"], cfg)
    held_ids = {r["id"] for r in rows if is_heldout(r["id"], 0.1)}
    assert 0 < len(heldout) == len(held_ids) == len({r["id"] for r in heldout} & held_ids)
    assert not {r["text"] for r in heldout} & set(sample)


def test_fertility_slice_per_era_and_eval_only_sources_never_trained(corpus):
    """At least heldout_min_docs per era where the share cap allows; eval-only sources held out whole."""
    rows = pq.read_table(corpus / "data" / "shard-00000.parquet").to_pylist()
    cfg = TokenizerConfig(heldout_fraction=0.02, heldout_min_docs=25, heldout_max_share=0.3)
    sample, heldout = split_corpus([corpus / "data" / "shard-00000.parquet"], cfg, eval_only={"udhr"})
    udhr = next(r["text"] for r in rows if r["source"] == "udhr")
    assert udhr not in sample and any(r["source"] == "udhr" and r["eval_only"] for r in heldout)
    modern = [r for r in heldout if r["era"] == "modern" and not r["eval_only"]]
    classical = [r for r in heldout if r["era"] == "classical"]
    n_classical = sum(r["genre"] == "religious" for r in rows)  # mila chunks: 20 documents
    assert len(modern) == 25 - 1  # the udhr document counts for the modern era too
    assert len(classical) == int(0.3 * n_classical) < 25  # capped: a small era keeps most for training
    assert not {r["text"] for r in heldout} & set(sample)


def test_sentencepiece_and_fast_tokenizer_agree_on_independent_text(llama_ext):
    """The shipped tokenizer.model and tokenizer.json give the same ids (issue 10: 524 of 1,004 lines differed)."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as sp_pb2
    from transformers import AutoTokenizer

    out, report = llama_ext
    m = sp_pb2.ModelProto()
    m.ParseFromString((out / "tokenizer.model").read_bytes())
    new = [p.score for p in m.pieces[32000:]]
    assert len(new) == report["pieces_added"] and all(a > b for a, b in zip(new, new[1:]))  # distinct, ordered
    assert new[0] < min(p.score for p in m.pieces[:32000])
    stories = sorted((CORPUS / "modern" / "global-asp-stories").glob("*.md"))
    lines = [ln for p in stories for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    # fast readers parse special-token strings ("<unk>" in WikiText) inside text; sentencepiece never does
    lines += [t for t in non_tibetan_texts() if not any(x in t for x in ("<unk>", "<s>", "</s>"))]
    sp, fast = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model")), AutoTokenizer.from_pretrained(out)
    assert len(lines) > 300
    assert [fast.encode(t, add_special_tokens=False) for t in lines] == sp.encode(lines)
    assert report["agreement"]["sentencepiece_disagree"] == 0 and report["agreement"]["texts"] > 100


def test_build_fails_loudly_when_tokenizer_files_disagree(corpus, tmp_path, monkeypatch):
    """The old scores (floor - 1 - rank in float32 below Llama-2's -1e9) tie; the build must refuse them."""
    import numpy as np
    from tibcpt.pipeline.tokens import spm as tokenizer_spm

    monkeypatch.setattr(
        tokenizer_spm, "new_scores", lambda floor, n: [float(np.float32(floor - 1 - r)) for r in range(n)]
    )
    with pytest.raises(RuntimeError, match="sentencepiece .*differ on"):
        build_tokenizer(corpus, SHARED / "tokenizers" / "llama2" / "tokenizer.model", tmp_path / "bad",
                        load_config(TokenizerConfig, None, SMALL))  # fmt: skip
    assert not (tmp_path / "bad").exists()  # nothing half-built is left under the real name


def test_document_separators_follow_the_family(llama_ext, bpe_ext):
    from transformers import AutoTokenizer

    out, report = llama_ext
    assert report["document_separator"]["bos_token"] == "<s>" and report["document_separator"]["eos_token"] is None
    base, bout, breport = bpe_ext
    assert breport["document_separator"]["eos_token"] == "<|endoftext|>"
    assert AutoTokenizer.from_pretrained(base).eos_token == "<|im_end|>"
    assert AutoTokenizer.from_pretrained(bout).eos_token == "<|endoftext|>"  # where a CPT document ends


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="vocab_size"):
        TokenizerConfig(vocab_size=10)
    with pytest.raises(ConfigError, match="heldout_fraction"):
        load_config(TokenizerConfig, None, ["heldout_fraction=0.9"])
    load_config(TokenizerConfig, REPO / "configs" / "pipeline" / "tokenizer.yaml")


@pytest.mark.skipif(
    not (SMOL / "tokenizer.json").is_file(), reason=f"SmolLM2 tokenizer not exported to {SMOL} (see bench/pack.py)"
)
def test_smollm2_extension_keeps_other_text(corpus, tmp_path):
    from transformers import AutoTokenizer

    out = tmp_path / "smol-ext"
    report = build_tokenizer(corpus, SMOL, out, load_config(TokenizerConfig, None, [*SMALL, "bpe_mode=added_tokens"]))
    base, ext = AutoTokenizer.from_pretrained(str(SMOL)), AutoTokenizer.from_pretrained(str(out))
    assert report["after"]["tokens_per_syllable"] < report["before"]["tokens_per_syllable"] / 3
    assert check_unchanged(base, ext, non_tibetan_texts()) == []


# --- bpe_mode=merges -------------------------------------------------------------------------------


LLAMA3_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


@pytest.mark.parametrize("style", ["gpt2", "llama3"])
def test_merges_pre_tokenizer_keeps_tibetan_whole_and_other_text_split_as_base(style):
    from tibcpt.pipeline.tokens.bpe_merges import TIB_RUN_RE, tibetan_pre_tokenizer
    from tokenizers import Regex
    from tokenizers import pre_tokenizers as pt

    if style == "gpt2":
        spec = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
        base = pt.ByteLevel(add_prefix_space=False)
    else:
        split = {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": False}
        spec = {"type": "Sequence", "pretokenizers": [split, {"type": "ByteLevel", "add_prefix_space": False,
                                                              "trim_offsets": True, "use_regex": False}]}  # fmt: skip
        base = pt.Sequence([pt.Split(Regex(LLAMA3_PATTERN), "isolated"), pt.ByteLevel(add_prefix_space=False, use_regex=False)])  # fmt: skip
    from tokenizers import Tokenizer, models

    t = Tokenizer(models.BPE())
    t.pre_tokenizer = base
    spec_json = json.loads(t.to_str())
    spec_json["pre_tokenizer"] = tibetan_pre_tokenizer(spec)
    ext_pre = Tokenizer.from_str(json.dumps(spec_json)).pre_tokenizer
    for text in non_tibetan_texts():
        assert ext_pre.pre_tokenize_str(text) == base.pre_tokenize_str(text)
    mixed = f"Hello world, {TIB_TEXT[:400]} 2024 end.\n"
    pieces = [mixed[a:b] for _, (a, b) in ext_pre.pre_tokenize_str(mixed)]
    assert "".join(pieces) == mixed
    tib = [p for p in pieces if any("\u0f00" <= c <= "\u0fff" for c in p)]
    assert tib and all(TIB_RUN_RE.fullmatch(p) for p in tib)
    # a run is cut only at spaces: syllables (letters + vowel signs + tsheg) stay together
    assert len(tib) == len(TIB_TEXT[:400].split())


def test_merges_extension_appends_only_tibetan_merges(bpe_merges_ext):
    from tibcpt.pipeline.tokens.bpe_merges import is_tibetan_only_merge
    from transformers import AutoTokenizer

    base_dir, out, report = bpe_merges_ext
    b = json.loads((base_dir / "tokenizer.json").read_text(encoding="utf-8"))["model"]
    e = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))["model"]
    assert report["model_type"] == "merges"
    assert e["merges"][: len(b["merges"])] == b["merges"]  # base merges keep their ranks
    new = e["merges"][len(b["merges"]) :]
    assert len(new) >= report["pieces_added"] > 1000
    assert all(is_tibetan_only_merge("".join(m)) for m in new)
    assert all(e["vocab"][t] == i for t, i in b["vocab"].items())
    # mixed text: the English around Tibetan keeps the base's ids; the Tibetan becomes few tokens
    base, ext = AutoTokenizer.from_pretrained(str(base_dir)), AutoTokenizer.from_pretrained(str(out))
    head, tail = "The declaration reads:", " That is all."
    ids = ext.encode(f"{head} {TIB_TEXT[:300]}{tail}", add_special_tokens=False)
    assert ids[: len(base.encode(head))] == base.encode(head)
    assert ids[-len(base.encode(tail)) :] == base.encode(tail)
    # a 2.5k-merge model on a small corpus: at least 3x fewer tokens than the base's ~9 per syllable
    assert len(ext.encode(TIB_TEXT[:300])) < len(base.encode(TIB_TEXT[:300])) / 3


@pytest.mark.skipif(
    not (SMOL / "tokenizer.json").is_file(), reason=f"SmolLM2 tokenizer not exported to {SMOL} (see bench/pack.py)"
)
def test_smollm2_merges_extension_keeps_other_text(corpus, tmp_path):
    from transformers import AutoTokenizer

    out = tmp_path / "smol-merges"
    report = build_tokenizer(corpus, SMOL, out, load_config(TokenizerConfig, None, [*SMALL, "bpe_mode=merges"]))
    base, ext = AutoTokenizer.from_pretrained(str(SMOL)), AutoTokenizer.from_pretrained(str(out))
    assert report["after"]["tokens_per_syllable"] < report["before"]["tokens_per_syllable"] / 4
    assert check_unchanged(base, ext, non_tibetan_texts()) == []
    rows = pq.read_table(corpus / "data" / "shard-00000.parquet").to_pylist()
    assert roundtrip_failures(ext, [r["text"] for r in rows]) == []


def test_make_names_outputs_per_base_and_reads_the_config_files():
    """`make tokenizer pack BASE_TOKENIZER=<llama2>` must not overwrite SmolLM2's folders (issue 10)."""
    import subprocess

    def plan(*args: str) -> str:
        return subprocess.run(["make", "-n", "-C", str(REPO), "tokenizer", "pack", *args],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip

    smol, llama = plan(), plan("BASE_TOKENIZER=../shared/tokenizers/llama2")
    bare = plan("BASE_TOKENIZER=../shared/tokenizers/llama2/tokenizer.model")
    assert "--out out/tokenizer-smollm2-135m" in smol and "--out out/shards-smollm2-135m" in smol
    assert "--out out/tokenizer-llama2" in llama and "--out out/shards-llama2" in llama and "smollm2" not in llama
    assert "--out out/tokenizer-llama2" in bare
    for p in (smol, llama):
        assert "--config configs/pipeline/tokenizer.yaml" in p and "--config configs/pipeline/pack.yaml" in p
        assert p.count("--sources sources.yaml") == 2  # eval-only sources reach both commands


def test_separator_rules_per_family(tmp_path):
    from tibcpt.pipeline.tokens.separators import document_separators

    llama3 = document_separators(tmp_path, {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "a": 1})
    assert (llama3.bos_token_id, llama3.eos_token_id) == (128000, 128001)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "</doc>"}), encoding="utf-8")
    other = document_separators(tmp_path, {"</doc>": 7, "a": 1})
    assert other.family == "fallback" and (other.bos_token_id, other.eos_token_id) == (None, 7)
    with pytest.raises(InputError, match="no document separator"):
        document_separators(tmp_path / "empty", {"a": 1})


def test_refuses_to_replace_a_folder_it_did_not_write(corpus, tmp_path):
    """--out pointing at a user's folder is refused before any work; nothing in it is touched."""
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "a.txt").write_text("mine")
    with pytest.raises(InputError, match="is not a tokenizer folder"):
        build_tokenizer(corpus, SHARED / "tokenizers" / "llama2" / "tokenizer.model", mine,
                        load_config(TokenizerConfig, None, SMALL))  # fmt: skip
    assert [p.name for p in mine.iterdir()] == ["a.txt"] and (mine / "a.txt").read_text() == "mine"
