"""SentencePiece side of vocabulary extension: train Tibetan pieces, append them to a `tokenizer.model`.

Training follows the Chinese-LLaMA recipe (Cui et al. 2023, `merge_tokenizers.py`) that the Tibetan
Llama work reused: train a separate SentencePiece model on the new language only, then append its
pieces that the base lacks to the base model proto. Existing pieces, their ids and scores are never
touched; new pieces get scores below every existing piece so that, in a BPE base, every original
merge still wins over a new one (the original segmentation of text without Tibetan cannot change:
a new piece contains Tibetan characters, so it can never be formed from non-Tibetan text).
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as sp_pb2

log = logging.getLogger(__name__)

TIBETAN_RE = re.compile("[\u0f00-\u0fff]")
# A piece we may add: Tibetan block characters only, optionally led by SentencePiece's space mark
# (word-segmented modern sources put spaces between words). Anything with Latin, digits or CJK
# would let the extension change how non-Tibetan text is split, which the issue forbids.
ADDABLE_RE = re.compile("^\u2581?[\u0f00-\u0fff]+$")
SPACE_MARK = "\u2581"

# SentencePiece skips (silently, with a log line) sentences longer than max_sentence_length bytes;
# classical e-texts have lines of many kilobytes, so we cut lines at shad boundaries first.
MAX_SENTENCE_BYTES = 8192
_CUT_RE = re.compile("(?<=[\u0f0d-\u0f12]) +|\n")


def training_lines(texts: Iterable[str], max_bytes: int = MAX_SENTENCE_BYTES) -> Iterator[str]:
    """Split documents into SentencePiece 'sentences' no longer than `max_bytes` UTF-8 bytes.

    Cuts at newlines, then at the space after a shad, then (rare: a shad-free run) hard by characters.
    """
    max_chars = max_bytes // 3  # a Tibetan character is 3 UTF-8 bytes
    for text in texts:
        buf = ""
        for part in _CUT_RE.split(text):
            if not part.strip():
                continue
            if buf and len(buf) + 1 + len(part) > max_chars:
                yield buf
                buf = ""
            buf = f"{buf} {part}" if buf else part
            while len(buf) > max_chars:
                yield buf[:max_chars]
                buf = buf[max_chars:]
        if buf:
            yield buf


def train_sentencepiece(
    lines: Iterable[str],
    vocab_size: int,
    model_type: str = "bpe",
    character_coverage: float = 0.9999,
    max_piece_length: int = 16,
    seed_threads: int = 2,
) -> bytes:
    """Train a SentencePiece model on `lines`; return the serialized model proto.

    No dummy prefix (a Tibetan document does not start a new 'word' with a space), byte fallback
    on, identity normalization (the corpus is already normalized by `tibcpt.pipeline.text.normalize`; NFKC would
    rewrite Tibetan marks), digits split (Llama-2 does the same for Arabic digits).
    """
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type=model_type,
        vocab_size=vocab_size,
        character_coverage=character_coverage,
        add_dummy_prefix=False,
        byte_fallback=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        split_digits=True,
        max_sentence_length=MAX_SENTENCE_BYTES + 16,
        max_sentencepiece_length=max_piece_length,
        num_threads=seed_threads,
        hard_vocab_limit=False,  # a small test corpus may not support the requested size
        minloglevel=2,
    )
    return model.getvalue()


def parse_model(blob: bytes) -> sp_pb2.ModelProto:
    m = sp_pb2.ModelProto()
    m.ParseFromString(blob)
    return m


def new_pieces(trained: sp_pb2.ModelProto, base_vocab: set[str], max_added: int) -> list[tuple[str, float]]:
    """Tibetan pieces of `trained` that `base_vocab` lacks, best (highest score) first, at most `max_added`."""
    out = []
    for p in trained.pieces:
        if p.type != sp_pb2.ModelProto.SentencePiece.NORMAL or p.piece in base_vocab:
            continue
        if ADDABLE_RE.match(p.piece):
            out.append((p.piece, p.score))
    # Single characters first, always: in a BPE model every longer piece is reachable only through
    # merges of pieces down to characters, and a character missing from the base would otherwise
    # fall back to 3 byte tokens. Then the rest by score (BPE score = -merge rank), so a cut keeps a
    # merge-closed prefix. Stable sort: the trained model's order breaks ties.
    chars = [x for x in out if len(x[0]) == 1]
    longer = sorted((x for x in out if len(x[0]) > 1), key=lambda x: -x[1])
    return (chars + longer)[:max_added]


def new_scores(floor: float, n: int) -> list[float]:
    """`n` scores strictly below `floor` and strictly decreasing, exactly representable in float32.

    The model proto stores scores as float32. Llama-2's lowest scores are -1e9 (its whitespace-run
    pieces), where float32 values are 64 apart, so `floor - 1 - rank` collapsed 19,690 new pieces onto
    309 scores (issue 10): sentencepiece then broke the ties one way and transformers' converter,
    which ranks merges by piece id, another. The step doubles until every score is distinct.
    """
    step = 1.0
    while True:
        scores = np.float32(floor) - np.float32(step) * np.arange(1, n + 1, dtype=np.float64)
        f32 = scores.astype(np.float32)
        if n == 0 or (f32[0] < np.float32(floor) and bool(np.all(np.diff(f32.astype(np.float64)) < 0))):
            return [float(x) for x in f32]
        step *= 2


def extend_model(base: sp_pb2.ModelProto, pieces: list[tuple[str, float]]) -> sp_pb2.ModelProto:
    """Copy of `base` with `pieces` appended after every existing piece, in order, scored below all of them.

    Scores fall with the id, so sentencepiece (merges by score) and the fast tokenizer transformers
    converts from this file (merges ranked by piece id, `generate_merges`) apply merges in one order.
    """
    ext = sp_pb2.ModelProto()
    ext.CopyFrom(base)
    floor = min((p.score for p in base.pieces), default=0.0)
    have = {p.piece for p in base.pieces}
    todo = []
    for piece, _ in pieces:
        if piece not in have:
            have.add(piece)
            todo.append(piece)
    for piece, score in zip(todo, new_scores(floor, len(todo)), strict=True):
        new = ext.pieces.add()
        new.piece = piece
        new.score = score
        new.type = sp_pb2.ModelProto.SentencePiece.NORMAL
    return ext


def extend_spm_file(base_model: Path, pieces: list[tuple[str, float]], out_model: Path) -> int:
    """Append `pieces` to the SentencePiece model at `base_model`; write `out_model`; return #added."""
    base = parse_model(base_model.read_bytes())
    ext = extend_model(base, pieces)
    out_model.write_bytes(ext.SerializeToString())
    return len(ext.pieces) - len(base.pieces)
