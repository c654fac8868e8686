"""Stage 8: Tibetan vocabulary extension — `tibcpt tokenizer --corpus out/corpus --base PATH --out DIR`.

Llama-family tokenizers barely know Tibetan (Llama-2: 15 Tibetan pieces, ~5.6 tokens per syllable;
SmolLM2: ~9.2). We train a SentencePiece model on the clean corpus (held-out documents excluded)
and extend the base with its Tibetan pieces (`tokenizer_spm` for `tokenizer.model` bases,
`tokenizer_bpe` for byte-level `tokenizer.json` bases). The output folder loads with
`AutoTokenizer.from_pretrained` and carries `fertility.json` (tokens per syllable / character /
byte on held-out documents, before and after) and `tokenizer_manifest.json` (config and input hash,
for skip-if-done).

Extension is an option, measured, not a default: new embeddings start untrained.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow.parquet as pq
from tibcpt.pipeline.text.segment import syllables
from tibcpt.pipeline.tokens import bpe as tokenizer_bpe
from tibcpt.pipeline.tokens import bpe_merges as tokenizer_bpe_merges
from tibcpt.pipeline.tokens import spm as tokenizer_spm
from tibcpt.pipeline.tokens.agreement import check_agreement, check_texts
from tibcpt.pipeline.tokens.heldout import era, fertility_slices, id_fraction, is_heldout, source_info  # noqa: F401 (is_heldout: re-exported)
from tibcpt.pipeline.tokens.separators import ENDOFTEXT, document_separators

from tibcpt.config import config_hash, load_config, to_dict
from tibcpt.errors import ConfigError, InputError
from tibcpt.io import check_replaceable, write_json_atomic

log = logging.getLogger(__name__)

# Non-Tibetan probes whose ids must not change (checked on every build; tests use more).
PROBES = (
    "The quick brown fox jumps over the lazy dog.\n  Indented line, tabs\tand 1234567.",
    "藏语是一种汉藏语系语言。北京欢迎你！",
    "def f(x: int) -> int:\n    return x ** 2  # comment\n",
    "Mixed: naïve café — Ελληνικά, русский, हिन्दी, 日本語のテキスト. 😀",
)


@dataclass
class TokenizerConfig:
    model_type: Literal["bpe", "unigram"] = "bpe"
    """SentencePiece algorithm for the Tibetan model. BPE: its pieces append cleanly to a BPE base
    (Llama-2 is SentencePiece BPE) because BPE scores are merge ranks."""
    vocab_size: int = 20000
    """Size of the Tibetan SentencePiece model (before dropping pieces the base already has)."""
    max_added: int = 20000
    """At most this many pieces are added (issue 5 goal: <= 20,000)."""
    character_coverage: float = 0.9999
    """SentencePiece character_coverage; near 1.0 so rare Tibetan stacks get pieces, not bytes."""
    max_piece_length: int = 16
    """Longest piece in characters (SentencePiece default 16: about 3-4 syllables)."""
    sample_bytes: int = 200_000_000
    """Train on at most this many UTF-8 bytes of documents (chosen by id hash, held-out excluded)."""
    heldout_fraction: float = 0.02
    """Documents whose id hash falls below this are held out for fertility (same hash as pack's split)."""
    heldout_max_docs: int = 2000
    """Cap on held-out documents measured per era (fertility is an average; more only costs time)."""
    heldout_min_docs: int = 100
    """Fertility is measured on at least this many held-out documents per era (modern, classical)
    where `heldout_max_share` allows: a small corpus's 2 % is a handful (issue 10: 11 documents)."""
    heldout_max_share: float = 0.25
    """At most this share of an era's documents is held out from tokenizer training for fertility."""
    bpe_mode: Literal["added_tokens", "merges"] = "added_tokens"
    """Byte-level BPE bases only (SmolLM2, Llama-3 style): `added_tokens` adds the SentencePiece pieces
    as added tokens (`tokenizer_bpe`); `merges` appends learned Tibetan merges and keeps Tibetan runs
    whole in the pre-tokenizer (`tokenizer_bpe_merges`). Both keep non-Tibetan ids identical.
    Default by measurement on SmolLM2, out/corpus (bench/results/pack.json `bpe_modes`): same
    fertility (held-out modern 1.17 vs 1.18, classical 0.62 vs 0.62 tokens/syllable, ~20k pieces
    each), but added tokens encode 4.3x faster on Tibetan (909k vs 212k tokens/s: merges run BPE over
    whole uncached Tibetan runs) and 1.7x on English, and build in 10 s vs 86 s. Merges only win on
    tokenizer.json size (6.4 vs 7.4 MB) and load time (0.7 vs 1.8 s), both one-off."""

    def __post_init__(self) -> None:
        if self.vocab_size < 100:
            raise ValueError(f"vocab_size must be >= 100, got {self.vocab_size}")
        if self.max_added < 1:
            raise ValueError(f"max_added must be >= 1, got {self.max_added}")
        if not 0.9 <= self.character_coverage <= 1.0:
            raise ValueError(f"character_coverage must be in [0.9, 1.0], got {self.character_coverage}")
        if not 1 <= self.max_piece_length <= 64:
            raise ValueError(f"max_piece_length must be in [1, 64], got {self.max_piece_length}")
        if self.sample_bytes < 1000:
            raise ValueError(f"sample_bytes must be >= 1000, got {self.sample_bytes}")
        if not 0.0 < self.heldout_fraction < 0.5:
            raise ValueError(f"heldout_fraction must be in (0, 0.5), got {self.heldout_fraction}")
        if self.heldout_max_docs < 1:
            raise ValueError(f"heldout_max_docs must be >= 1, got {self.heldout_max_docs}")
        if self.heldout_min_docs < 0:
            raise ValueError(f"heldout_min_docs must be >= 0, got {self.heldout_min_docs}")
        if not 0.0 <= self.heldout_max_share < 0.5:
            raise ValueError(f"heldout_max_share must be in [0, 0.5), got {self.heldout_max_share}")
        if self.bpe_mode not in ("added_tokens", "merges"):
            raise ValueError(f"bpe_mode must be 'added_tokens' or 'merges', got {self.bpe_mode!r}")


# --- corpus access (shared with tibcpt.pipeline.tokens.pack) ---------------------------------------------------


def corpus_files(corpus: str | Path) -> list[Path]:
    """The clean corpus shards, sorted (a folder with data/*.parquet, or the data folder itself)."""
    corpus = Path(corpus)
    data = corpus / "data" if (corpus / "data").is_dir() else corpus
    files = sorted(data.glob("*.parquet"))
    if not files:
        raise InputError(f"no Parquet shards under {data}")
    return files


def iter_docs(files: list[Path], columns: tuple[str, ...] = ("id", "text", "source")) -> Iterator[dict]:
    """Rows of the corpus shards in file order, as dicts of `columns`."""
    for f in files:
        pf = pq.ParquetFile(f)
        for batch in pf.iter_batches(batch_size=2048, columns=list(columns)):
            yield from batch.to_pylist()


def files_sha256(files: list[Path]) -> str:
    """Content hash of input files (names and bytes): the resume key for derived outputs."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


# --- fertility -----------------------------------------------------------------------------------


def fertility(tok: Any, texts: list[str]) -> dict[str, float]:
    """Tokens per Tibetan syllable, per character and per UTF-8 byte of `texts` (no special tokens)."""
    n_tok = sum(len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"])
    n_syl = sum(len(syllables(t)) for t in texts)
    n_chr = sum(len(t) for t in texts)
    n_byt = sum(len(t.encode("utf-8")) for t in texts)
    return {
        "tokens": n_tok,
        "syllables": n_syl,
        "tokens_per_syllable": round(n_tok / max(n_syl, 1), 4),
        "tokens_per_char": round(n_tok / max(n_chr, 1), 4),
        "tokens_per_byte": round(n_tok / max(n_byt, 1), 4),
    }


# --- base tokenizers -----------------------------------------------------------------------------


def base_kind(base: Path) -> Literal["sentencepiece", "byte_level"]:
    """`sentencepiece` if the base has a tokenizer.model, `byte_level` for a ByteLevel tokenizer.json."""
    if base.is_file() and base.suffix == ".model" or (base / "tokenizer.model").is_file():
        return "sentencepiece"
    tj = base / "tokenizer.json"
    if tj.is_file() and tokenizer_bpe.is_byte_level(tj):
        return "byte_level"
    raise InputError(f"{base}: expected a tokenizer.model or a byte-level tokenizer.json")


def load_base(base: Path, workdir: Path) -> tuple[Any, Path]:
    """Load the base with AutoTokenizer; return (tokenizer, folder it was loaded from).

    A bare `tokenizer.model` is copied to its own folder first: transformers 5 builds a 3-token
    tokenizer when given `vocab_file=` directly (shared/corpus/SOURCES.md).
    """
    from transformers import AutoTokenizer

    if base.is_file():
        folder = workdir / "base"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(base, folder / "tokenizer.model")
        base = folder
    return AutoTokenizer.from_pretrained(str(base)), base


def check_unchanged(base_tok: Any, ext_tok: Any, texts: tuple[str, ...] | list[str] = PROBES) -> list[str]:
    """Texts whose ids differ between base and extended tokenizer (should be none for non-Tibetan)."""
    return [
        t for t in texts if base_tok.encode(t, add_special_tokens=False) != ext_tok.encode(t, add_special_tokens=False)
    ]


def roundtrip_failures(tok: Any, texts: list[str]) -> list[int]:
    """Indexes of texts with decode(encode(x)) != x."""
    bad = []
    for i, ids in enumerate(tok(texts, add_special_tokens=False)["input_ids"]):
        if tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False) != texts[i]:
            bad.append(i)
    return bad


def extend_base(base_dir: Path, pieces: list[tuple[str, float]], stage: Path) -> tuple[Any, int]:
    """(extended tokenizer, pieces added): the base in `base_dir` with the SentencePiece `pieces`.

    A `tokenizer.model` base gets them appended to its proto in `stage`, which transformers then
    converts (slow → fast); a byte-level base gets them as added tokens (`tokenizer_bpe`).
    """
    from transformers import AutoTokenizer

    if (base_dir / "tokenizer.model").is_file():
        for f in base_dir.iterdir():
            if f.is_file() and f.name != "tokenizer.json":
                shutil.copy(f, stage / f.name)
        n_added = tokenizer_spm.extend_spm_file(base_dir / "tokenizer.model", pieces, stage / "tokenizer.model")
        return AutoTokenizer.from_pretrained(str(stage)), n_added
    ext_tok = AutoTokenizer.from_pretrained(str(base_dir))
    return ext_tok, tokenizer_bpe.extend_fast_tokenizer(ext_tok, pieces)


# --- the stage -----------------------------------------------------------------------------------


def split_corpus(
    files: list[Path], cfg: TokenizerConfig, eval_only: set[str] | frozenset[str] = frozenset()
) -> tuple[list[str], list[dict]]:
    """(training texts up to sample_bytes, held-out rows) — deterministic, by id hash.

    Held out (never a training text): validation ids, every document of an `eval_only` source, and
    the per-era fertility top-up (`heldout.fertility_slices`). Held-out rows carry `text`, `source`,
    `era` and `eval_only`; at most `heldout_max_docs` per era and per eval-only source are kept.
    """
    rows = list(iter_docs(files, ("id", "text", "source", "genre")))
    held = fertility_slices(rows, cfg.heldout_fraction, set(eval_only), cfg.heldout_min_docs, cfg.heldout_max_share)
    train = sorted((r for r in rows if r["id"] not in held), key=lambda r: id_fraction(r["id"], "sample"))
    sample, total = [], 0
    for r in train:
        if total >= cfg.sample_bytes:
            break
        sample.append(r["text"])
        total += len(r["text"].encode("utf-8"))
    heldout, per_group = [], {}
    for r in sorted((r for r in rows if r["id"] in held), key=lambda r: id_fraction(r["id"], "heldout-order")):
        group = r["source"] if r["source"] in eval_only else era(r.get("genre"))
        if per_group.setdefault(group, 0) < cfg.heldout_max_docs:
            per_group[group] += 1
            heldout.append({**r, "era": era(r.get("genre")), "eval_only": r["source"] in eval_only})
    return sample, heldout


def fertility_groups(base_tok: Any, ext_tok: Any, heldout: list[dict], min_docs: int) -> dict[str, dict]:
    """Fertility before/after per era (modern, classical) and per evaluation-only source."""
    groups: dict[str, list[str]] = {}
    for r in heldout:
        groups.setdefault(r["era"], []).append(r["text"])
        if r["eval_only"]:
            groups.setdefault(f"eval_only:{r['source']}", []).append(r["text"])
    out = {}
    for name, texts in sorted(groups.items()):
        out[name] = {"docs": len(texts), "before": fertility(base_tok, texts), "after": fertility(ext_tok, texts)}
        if not name.startswith("eval_only:"):
            out[name]["min_docs_met"] = len(texts) >= min_docs
            if len(texts) < min_docs:
                log.warning("tokenizer: fertility of %s text rests on %d held-out documents (< %d): "
                            "the corpus has too few documents of that era", name, len(texts), min_docs)  # fmt: skip
    return out


def build_tokenizer(
    corpus: Path, base: Path, out: Path, cfg: TokenizerConfig, force: bool = False, eval_only: set[str] | None = None
) -> dict:
    """Train Tibetan pieces on `corpus`, extend `base`, write the tokenizer folder `out`; return fertility.json.

    `eval_only`: sources never trained on (default: those the corpus manifest marks `eval_only`).
    """
    files = corpus_files(corpus)
    eval_only = source_info(None, corpus).eval_only if eval_only is None else set(eval_only)
    base_hash = files_sha256([base] if base.is_file() else sorted(p for p in base.iterdir() if p.is_file()))
    key = {"config": config_hash(cfg), "corpus": files_sha256(files), "base": base_hash, "eval_only": sorted(eval_only)}
    check_replaceable(out, "tokenizer_manifest.json", "a tokenizer folder")  # it is replaced at the end
    manifest_path = out / "tokenizer_manifest.json"
    if not force and manifest_path.is_file():
        old = json.loads(manifest_path.read_text(encoding="utf-8"))
        if old.get("key") == key:
            log.info("tokenizer: %s is up to date (same config, corpus and base); skipping", out)
            return json.loads((out / "fertility.json").read_text(encoding="utf-8"))

    kind = base_kind(base)
    sample, heldout_rows = split_corpus(files, cfg, eval_only)
    heldout = [r["text"] for r in heldout_rows]
    if not heldout:
        raise ConfigError("no held-out documents; raise heldout_fraction or use a larger corpus")
    use_merges = kind == "byte_level" and cfg.bpe_mode == "merges"
    mode = "merges" if use_merges else cfg.model_type
    log.info("tokenizer: training %s on %d docs, %d held out", mode, len(sample), len(heldout))
    blob = b""
    if not use_merges:  # merges mode learns its own merges over the base's byte-level segmentation
        blob = tokenizer_spm.train_sentencepiece(
            tokenizer_spm.training_lines(sample),
            vocab_size=cfg.vocab_size,
            model_type=cfg.model_type,
            character_coverage=cfg.character_coverage,
            max_piece_length=cfg.max_piece_length,
        )
        trained = tokenizer_spm.parse_model(blob)

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".tmp-{out.name}-", dir=out.parent) as td:
        work = Path(td)
        base_tok, base_dir = load_base(base, work)
        stage = work / "out"
        stage.mkdir()
        if use_merges:
            n_added = tokenizer_bpe_merges.extend_with_merges(
                base_dir, sample, stage, cfg.max_added, cfg.max_piece_length
            )
            from transformers import AutoTokenizer

            ext_tok = AutoTokenizer.from_pretrained(str(stage))
            mixed = tokenizer_bpe_merges.mixed_pieces(stage / "tokenizer.json", list(PROBES) + heldout[:50])
            if mixed:
                raise RuntimeError(f"pre-tokenizer mixes Tibetan with other text in {mixed[:1]!r}")
        else:
            pieces = tokenizer_spm.new_pieces(trained, set(base_tok.get_vocab()), cfg.max_added)
            ext_tok, n_added = extend_base(base_dir, pieces, stage)
        sep = document_separators(base_dir, base_tok.get_vocab())
        if sep.eos_token == ENDOFTEXT and ext_tok.eos_token != ENDOFTEXT:
            # A GGUF of SmolLM2-Instruct names <|im_end|> (end of a chat turn) as eos; the extended
            # model is trained on <|endoftext|>-separated documents, so that is where it should stop.
            ext_tok.eos_token = ENDOFTEXT
        ext_tok.save_pretrained(str(stage))
        if blob:
            (stage / "tibetan.model").write_bytes(blob)  # the trained model, for inspection / reuse

        changed = check_unchanged(base_tok, ext_tok)
        if changed:
            raise RuntimeError(f"extension changed non-Tibetan segmentation for {changed[:1]!r}")
        bad = roundtrip_failures(ext_tok, heldout)
        if bad:
            raise RuntimeError(f"decode(encode(x)) != x for {len(bad)} held-out documents")
        agreement = check_agreement(stage, check_texts(heldout, PROBES))
        report = {
            "base": str(base),
            "base_kind": kind,
            "model_type": mode,
            "pieces_added": n_added,
            "vocab_size_before": len(base_tok),
            "vocab_size_after": len(ext_tok),
            "heldout_docs": len(heldout),
            "train_docs": len(sample),
            "before": fertility(base_tok, heldout),
            "after": fertility(ext_tok, heldout),
            "groups": fertility_groups(base_tok, ext_tok, heldout_rows, cfg.heldout_min_docs),
            "agreement": agreement,
            "document_separator": sep.to_dict(),
        }
        write_json_atomic(stage / "fertility.json", report)
        write_json_atomic(stage / "tokenizer_manifest.json", {"key": key, "config": to_dict(cfg)})
        # Swap the finished folder in (manifest inside it, so a half-written folder is never "done").
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(stage), str(out))
    log.info(
        "tokenizer: +%d pieces; tokens/syllable %.3f -> %.3f",
        n_added,
        report["before"]["tokens_per_syllable"],
        report["after"]["tokens_per_syllable"],
    )
    return report


def add_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", required=True, help="clean corpus folder (data/*.parquet)")
    parser.add_argument("--base", required=True, help="base tokenizer: folder or tokenizer.model")
    parser.add_argument("--out", required=True, help="output tokenizer folder")
    parser.add_argument("--config", default=None, help="YAML config (configs/pipeline/tokenizer.yaml)")
    parser.add_argument("--sources", default=None, help="sources.yaml: its eval_only sources are never trained on")
    parser.add_argument("--force", action="store_true", help="rebuild even if the output is up to date")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")


def cli(args: argparse.Namespace) -> int:
    cfg = load_config(TokenizerConfig, args.config, args.overrides)
    eval_only = source_info(args.sources, args.corpus).eval_only
    report = build_tokenizer(Path(args.corpus), Path(args.base), Path(args.out), cfg, args.force, eval_only)
    print(f"pieces added: {report['pieces_added']}; held-out Tibetan tokens per syllable, base -> extended:")
    for g, v in report["groups"].items():
        before, after = v["before"]["tokens_per_syllable"], v["after"]["tokens_per_syllable"]
        print(f"  {g}: {v['docs']} documents, {before:.3f} -> {after:.3f}")
    return 0
