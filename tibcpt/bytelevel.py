"""GPT-2 byte-level BPE alphabet, shared by the tokenizer extension (pipeline) and generation (training).

Hand-rolled because it is a few lines and transformers moves `bytes_to_unicode` between versions;
`tokenizers.pre_tokenizers.ByteLevel.alphabet()` gives the characters but not the byte each stands for.
"""

from __future__ import annotations

from functools import cache


@cache
def byte_decoder() -> dict[str, int]:
    """GPT-2 `bytes_to_unicode` inverted: byte-level piece character -> the byte it stands for."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}
