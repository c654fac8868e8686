"""A logits processor that keeps generated Tibetan well formed at syllable starts.

A Tibetan syllable's stack starts with a letter (U+0F40–0F6C, U+0F88–0F8C); vowel signs, subjoined
letters and the other combining marks (U+0F71–0F84, 0F86–0F87, 0F8D–0FBC, 0F35, 0F37, 0F39,
0F3E, 0F3F, 0FC6: the classes of pipeline/text/segment.py) only follow a letter or another mark of
the same stack. A model that has not learnt this emits shapes such as `།ྱ` (a subjoined ya after a
shad), which no reader can pronounce (issue 10). This processor masks, at every step, each token
whose text would start with such a mark when the text so far (prompt and sampled tokens) does not
end in a letter or mark.

It is built once from the tokenizer's pieces: the bytes of every token (byte-level BPE pieces
through the GPT-2 byte alphabet, SentencePiece `▁`/`<0xNN>` pieces, added tokens as written). It
works on bytes because a byte-level vocabulary has tokens that hold only part of a 3-byte Tibetan
character: a token that starts with the bytes E0 BE can only complete to U+0F80–0FBF (almost all
marks), and after a pending E0 BD the bytes B1–BF complete a vowel sign (U+0F71–0F7F).

The same byte view keeps the output valid UTF-8: a character left incomplete takes only tokens that
continue it, and no token may start with a continuation byte where no character is pending. Without
this, 5 of 20 samples of round 3's default model held U+FFFD (894 of them), where a byte-level piece
began a character that the next token did not finish (bench/results/recipes_clean.json); with
this mask the 160 samples of bench/results/generate_grid.json hold none.
"""

from __future__ import annotations

import json
import re

import torch

from tibcpt.bytelevel import byte_decoder

LETTERS = set(range(0x0F40, 0x0F6D)) | set(range(0x0F88, 0x0F8D))
MARKS = (
    set(range(0x0F71, 0x0F85))
    | {0x0F86, 0x0F87}
    | set(range(0x0F8D, 0x0FBD))
    | {0x0F35, 0x0F37, 0x0F39, 0x0F3E, 0x0F3F, 0x0FC6}
)
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def token_bytes(tokenizer) -> list[bytes]:
    """The UTF-8 bytes each token id stands for (special tokens: b"")."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    decoder = spec.get("decoder") or {}
    kinds = {decoder.get("type")} | {d.get("type") for d in decoder.get("decoders") or []}
    byte_level = "ByteLevel" in kinds
    dec = byte_decoder()
    added = {i: t for i, t in tokenizer.added_tokens_decoder.items()}
    out = []
    for i, piece in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        if i in added:
            out.append(b"" if added[i].special else added[i].content.encode("utf-8"))
        elif piece is None:
            out.append(b"")
        elif byte_level and all(c in dec for c in piece):
            out.append(bytes(dec[c] for c in piece))
        elif m := _BYTE_PIECE.fullmatch(piece):
            out.append(bytes([int(m.group(1), 16)]))
        else:
            out.append(piece.replace("\u2581", " ").encode("utf-8"))
    return out


def _char_len(lead: int) -> int:
    """Bytes of the UTF-8 character that starts with byte `lead` (ASCII or a lead byte)."""
    return 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4


def _split_pending(tail: bytes) -> tuple[bytes, bytes]:
    """(complete UTF-8 prefix, trailing bytes of a character not yet complete)."""
    for k in range(1, min(4, len(tail)) + 1):
        b = tail[-k]
        if b & 0xC0 != 0x80:  # a lead byte or ASCII
            return (tail[:-k], tail[-k:]) if _char_len(b) > k else (tail, b"")
    return tail, b""


def in_stack(char: str | None) -> bool:
    """True when a combining mark may follow `char` (a letter or mark of a Tibetan stack)."""
    return char is not None and (ord(char) in LETTERS or ord(char) in MARKS)


class WellFormedTibetan:
    """`transformers` logits processor (callable on input_ids, scores); see the module docstring."""

    def __init__(self, tokenizer):
        self.pieces = token_bytes(tokenizer)
        n = max(len(self.pieces), getattr(tokenizer, "vocab_size", 0))
        starts_mark = torch.zeros(n, dtype=torch.bool)
        after_e0bd = torch.zeros(n, dtype=torch.bool)
        after_e0 = torch.zeros(n, dtype=torch.bool)
        for i, b in enumerate(self.pieces):
            if not b:
                continue
            first = b[:3].decode("utf-8", errors="ignore")[:1] if b[0] >= 0xE0 else ""
            if (first and ord(first) in MARKS) or (len(b) == 2 and b[:2] == b"\xe0\xbe"):
                starts_mark[i] = True
            if 0xB1 <= b[0] <= 0xBF:
                after_e0bd[i] = True
            if b[0] == 0xBE or (len(b) >= 2 and b[0] == 0xBD and 0xB1 <= b[1] <= 0xBF):
                after_e0[i] = True
        self.masks = {b"": starts_mark, b"\xe0\xbd": after_e0bd, b"\xe0": after_e0}
        # breaks_utf8[need]: tokens that would leave invalid UTF-8 when `need` continuation bytes are
        # due (0: none). Valid iff the first min(len, need) bytes continue and byte `need` does not.
        cont = [len(b) - len(b.lstrip(bytes(range(0x80, 0xC0)))) for b in self.pieces]
        self.breaks_utf8 = [
            torch.tensor(
                [c != min(len(b), need) for b, c in zip(self.pieces, cont, strict=True)] + [False] * (n - len(cont))
            )
            for need in range(4)
        ]
        self.device = starts_mark.device

    def tail(self, ids: list[int]) -> bytes:
        """The last few bytes of the text of `ids` (enough for one character and its predecessor)."""
        out = b""
        for i in reversed(ids):
            out = (self.pieces[i] if i < len(self.pieces) else b"") + out
            if len(out) >= 8:
                break
        return out

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.device != self.device:  # once, not a host-to-GPU copy of a vocabulary mask per token
            self.masks = {k: v.to(scores.device) for k, v in self.masks.items()}
            self.breaks_utf8 = [m.to(scores.device) for m in self.breaks_utf8]
            self.device = scores.device
        for row, ids in enumerate(input_ids.tolist()):
            complete, pending = _split_pending(self.tail(ids))
            last = complete.decode("utf-8", errors="ignore")[-1:] or None
            mask = self.breaks_utf8[_still_needed(pending)]
            if (marks := self.masks.get(pending)) is not None and not in_stack(last):
                mask = mask | marks
            m = mask[: scores.shape[1]]
            scores[row, : m.shape[0]] = scores[row, : m.shape[0]].masked_fill(m, float("-inf"))
        return scores


def _still_needed(pending: bytes) -> int:
    """Continuation bytes that the incomplete character `pending` still needs (0 for none)."""
    return _char_len(pending[0]) - len(pending) if pending else 0
