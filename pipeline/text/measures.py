"""Per-document measures of the quality filters (stage 5, `filters`): pure functions of the text,
and `DocMeasures`, the one object that carries a document's text and its measures between rules.

`DocMeasures` computes each measure at most once per document (syllables, the Tibetan share the
stage also stores in meta, the n-gram index both repetition rules hash), so no state outlives the
document: two documents never share a cache, whatever order or threads they run in (issue 9: the
module used to keep the last result in globals keyed by object identity).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cached_property

from tibcpt.pipeline.text.ngrams import NgramIndex
from tibcpt.pipeline.text.segment import is_valid_syllable, syllables

_PUA = re.compile("[\ue000-\uf8ff\U000f0000-\U0010ffff]")
_TIB_LETTERS = re.compile("[\u0f40-\u0fbc]+")
# Letters of any other script: word characters minus digits, underscore and the Tibetan block.
_OTHER_LETTERS = re.compile(r"[^\W\d_\u0f00-\u0fff]+")
# Legacy-font runs: >= 3 chunks of 1-4 printable ASCII characters joined by '-' (the tsheg in
# Sambhota/TMW encodings), with a letter somewhere, not glued to preceding ASCII (so English
# "state-of-the-art" never matches from its middle). Dates like 2019-01-05 have no letter.
_LEGACY_RUN = re.compile(r"(?<![!-~])(?=[!-,.-~-]*[A-Za-z])(?:[!-,.-~]{1,4}-){2,}[!-,.-~]{0,4}")
_SHAD_END = re.compile("[\u0f0d-\u0f14.!?\"'”」。]\\s*$|[\u0f40\u0f42\u0f64][\u0f71-\u0f84\u0f90-\u0fbc]*\\s*$")
_WS = re.compile(r"\s+")
_DIGITS = re.compile("[\u0f20-\u0f33][\u0f20-\u0f33\u0f18\u0f19]*")


def private_use_count(text: str) -> int:
    return len(_PUA.findall(text))


def legacy_font_share(text: str) -> float:
    """Share of non-space characters inside legacy-font-looking Latin runs ("G-iR-bR-;R-")."""
    if "-" not in text:
        return 0.0
    n = len(text) - len(_WS.findall(text)) if text else 0
    if n == 0:
        return 0.0
    return sum(len(m) for m in _LEGACY_RUN.findall(text)) / n


def tibetan_share(text: str) -> float:
    """Tibetan letters / all letters (0.0 when the text has no letters at all)."""
    tib = sum(map(len, _TIB_LETTERS.findall(text)))
    other = sum(map(len, _OTHER_LETTERS.findall(text)))
    return tib / (tib + other) if tib + other else 0.0


def invalid_syllable_share(syls: list[str]) -> float:
    """Share of syllables failing `is_valid_syllable`, Tibetan digit groups left out. Checked once
    per distinct syllable (Zipf: a 5k-syllable document has ~1k types)."""
    invalid = total = 0
    for syl, count in Counter(syls).items():
        if _DIGITS.fullmatch(syl):
            continue
        total += count
        if not is_valid_syllable(syl):
            invalid += count
    return invalid / total if total else 0.0


def lines(text: str) -> list[str]:
    """Non-empty lines, stripped."""
    return [ln for ln in (x.strip() for x in text.split("\n")) if ln]


def line_punct_frac(text: str | list[str]) -> float:
    """Share of non-empty lines that end a sentence: shad family, ASCII/CJK stops, or a final
    ཀ/ག/ཤ syllable whose shad is implied (NORMALIZATION.md rule 8). Takes the text or its `lines`."""
    lns = lines(text) if isinstance(text, str) else text
    return sum(1 for ln in lns if _SHAD_END.search(ln)) / len(lns) if lns else 0.0


def short_unterminated_line_frac(lns: list[str], max_syllables: int) -> tuple[float, int]:
    """(share, number of lines counted): among lines with a Tibetan letter, the share that have fewer
    than `max_syllables` syllables and no sentence end (shad family, ASCII/CJK stop, implied shad):
    a list of headlines or links. Lines without Tibetan (page numbers, PDF noise) are not counted."""
    tib = [ln for ln in lns if _TIB_LETTERS.search(ln)]
    n = sum(1 for ln in tib if not _SHAD_END.search(ln) and len(syllables(ln)) < max_syllables)
    return (n / len(tib) if tib else 0.0), len(tib)


def dup_line_frac(text: str | list[str]) -> float:
    """Gopher: fraction of non-empty lines that are exact repeats of an earlier line (text or `lines`)."""
    lns = lines(text) if isinstance(text, str) else text
    return (len(lns) - len(set(lns))) / len(lns) if lns else 0.0


class DocMeasures:
    """One document's text and its measures, each computed on first use and kept on this object.

    The filter stage makes one per document and hands it to every rule; `syls` may be given when
    the caller already split the text."""

    def __init__(self, text: str, syls: list[str] | None = None) -> None:
        self.text = text
        if syls is not None:
            self.__dict__["syls"] = syls

    @cached_property
    def syls(self) -> list[str]:
        return syllables(self.text)

    @cached_property
    def lines(self) -> list[str]:
        return lines(self.text)

    @cached_property
    def tibetan_share(self) -> float:
        return tibetan_share(self.text)

    @cached_property
    def ngrams(self) -> NgramIndex:
        """Syllable codes of the document, hashed once for the top- and duplicated-n-gram rules."""
        return NgramIndex.build(self.syls)
