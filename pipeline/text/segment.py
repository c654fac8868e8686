"""Stage 4: Tibetan syllables, sentences, re-joining word-segmented input, optional botok words.

Tibetan writes a tsheg (་) after every syllable and a shad (།) at clause ends; there are no spaces
between words. So the syllable, not the whitespace token, is the unit every later stage counts
(filters: invalid-syllable share; near-dedup: syllable shingles; manifest: `n_syllables`).

`syllables` is one precompiled `re.findall`: a syllable is a maximal run of Tibetan letters and
combining marks; everything else (tsheg, shad and the other punctuation U+0F04–0F14, brackets
U+0F3A–0F3D, spaces, Latin, CJK, ...) separates syllables and is not itself a syllable. A run of
Tibetan digits (༠–༩, half digits U+0F2A–0F33, with their combining marks U+0F18/0F19) is one token.

`is_valid_syllable` wraps botok's port of BDRC lucene-bo `isStandardTibetan`
(`botok.utils.standard_tibetan.is_standard_tibetan`: onset table × vowel+coda table) behind an
`lru_cache`: syllable types follow Zipf's law, so a small cache answers almost every call.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import shutil
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from botok.utils.standard_tibetan import is_standard_tibetan
from tibcpt.pipeline.document import Document, Rejection, Stage, StageStats

from tibcpt.errors import InputError

log = logging.getLogger(__name__)

# --- character classes (Unicode 15 Tibetan block chart) ---------------------------------------
# Letters U+0F40–0F6C, vowel signs and marks U+0F71–0F84 (U+0F85 paluta is punctuation),
# U+0F86–0F87 marks, U+0F88–0F8C sign letters, subjoined letters U+0F8D–0FBC, and the combining
# marks that live elsewhere in the block: 0F35/0F37 (nga-zung under-marks), 0F39 (tsa-phru),
# 0F3E/0F3F (yar/mar tshes), 0FC6 (padma gdan). U+0F00 ༀ is a syllable by itself (om).
SYLLABLE_CHARS = "\u0f00\u0f40-\u0f6c\u0f71-\u0f84\u0f86-\u0fbc\u0f35\u0f37\u0f39\u0f3e\u0f3f\u0fc6"
DIGIT_CHARS = "\u0f20-\u0f33\u0f18\u0f19"
TSHEG = "\u0f0b"
SHADS = "\u0f0d-\u0f12"
"""། ༎ ༏ ༐ ༑ ༒: the shad family that ends a clause or sentence (U+0F0D–0F12)."""

_SYLLABLE_RE = re.compile(f"[{SYLLABLE_CHARS}]+|[\u0f20-\u0f33][{DIGIT_CHARS}]*")
_DIGITS_RE = re.compile(f"[\u0f20-\u0f33][{DIGIT_CHARS}]*")
# A sentence: anything up to a shad run; shads separated only by spaces stay together ("། །").
_SENTENCE_RE = re.compile(f"[^{SHADS}]*[{SHADS}]+(?:[ \\t]*[{SHADS}]+)*|[^{SHADS}]+$")


def syllables(text: str) -> list[str]:
    """Tibetan syllables of `text` (tsheg, shad, punctuation, spaces and non-Tibetan stripped).

    >>> syllables("བཀྲ་ཤིས་བདེ་ལེགས། ༢༠༢༤ lo")
    ['བཀྲ', 'ཤིས', 'བདེ', 'ལེགས', '༢༠༢༤']
    """
    return _SYLLABLE_RE.findall(text)


def count_syllables(text: str) -> int:
    """Number of `syllables(text)` without building strings for a caller that only counts."""
    return sum(1 for _ in _SYLLABLE_RE.finditer(text))


@lru_cache(maxsize=1 << 18)
def is_valid_syllable(syl: str) -> bool:
    """True if `syl` is a standard Tibetan syllable (or a Tibetan digit group).

    Uses botok's `is_standard_tibetan` (onset × vowel/coda tables from BDRC lucene-bo), which
    expects NFD text with one vowel sign: Sanskrit stacks (0F71 a-chung, 0F7E, several stacks)
    and damaged syllables (stray subjoined letters, a vowel on a digit) are not standard. Digit
    groups count as valid because `syllables()` yields them as tokens.
    """
    if not syl:
        return False
    if _DIGITS_RE.fullmatch(syl):
        return True
    return is_standard_tibetan(syl)


def sentences(text: str) -> list[str]:
    """Split at shad runs, keeping the shads with the sentence they end; strip, drop empties."""
    out = []
    for m in _SENTENCE_RE.finditer(text):
        s = m.group().strip()
        if s:
            out.append(s)
    return out


# --- re-joining word-segmented input (NORMALIZATION.md "Word-segmented input") ----------------
# nanhai-modern-writing writes "པ-འི" for the affixed genitive and "ཁྱབ་+བོ" for a split
# ending: both join marks go between Tibetan characters (a tsheg counts).
_JOIN_MARK_RE = re.compile(f"(?<=[{SYLLABLE_CHARS}{TSHEG}])[-+](?=[{SYLLABLE_CHARS}])")
_MARK_AFTER_JOIN_RE = re.compile("[-+][\u0f71-\u0f87\u0f8d-\u0fbc\u0f35\u0f37\u0f39\u0f3e\u0f3f\u0fc6]")
# A space between two syllables stands for the word-final tsheg the source dropped.
_WORD_SPACE_RE = re.compile(f"(?<=[{SYLLABLE_CHARS}])[ ]+(?=[{SYLLABLE_CHARS}])")
# Spaces before a shad: removed, except after a syllable ending in ཀ/ག/ཤ (with or without a
# vowel), where Tibetan orthography writes a space instead of the first shad ("ཞིག །").
_SPACE_BEFORE_SHAD_RE = re.compile(f"([{SYLLABLE_CHARS}{TSHEG}])[ ]+(?=[{SHADS}])")
_KA_GA_SHA_END_RE = re.compile("[\u0f40\u0f42\u0f64][\u0f71-\u0f84]*$")
# Shad rule: a syllable ending in ང, with or without a vowel, keeps its tsheg before a shad (ང་།,
# ངེ་།), NORMALIZATION.md rule 8; the vowels are normalize.VOWELS, so a rejoined "ང-ེ །" gets the
# tsheg normalize would give it (hypothesis found 'ངེ།' after rejoin, 'ངེ་།' after normalize).
_NGA_SHAD_RE = re.compile(f"\u0f44[\u0f71-\u0f7e\u0f80-\u0f87]*(?=[{SHADS}])")
_SHAD_GAP_RE = re.compile(f"(?<=[{SHADS}])[ ]{{2,}}(?=[{SHADS}])")


# Affixes the segmenter split off as words of their own ("བ འི", "པ ས"): they belong to the
# syllable before them. Measured on nanhai-modern-writing + childrens-stories against unsegmented
# reference text and by reading every འོ/འུ case (bench/cleaning_affixes.py, README "Cleaning"):
# - འི འམ འང (genitive, "or", "also") are never words: always attached.
# - ས ར (ergative/instrumental, dative) are also words ("earth", "goat"): attached only when the
#   result is a standard syllable (99.1 % / 98.8 % agreement with the reference; never: 1.8 / 1.2 %).
# - འོ: the final particle follows a verb or noun ("ཟ འོ །", "ཐུགས་རྗེ་ཆེ འོ"); after a case particle
#   or connective ("ངོ ལ འོ བྱས" kissed, "རྒྱལ་པོ ས འོ ཡག" "oh, good") it is a word: kept apart there.
# - འུ: after a vowel it is the diminutive (བྱི འུ, སྤྲེ འུ); after ད/རིང/སྐབས it is the colloquial
#   pronoun "we" ("ད འུ གཉིས"): attached only after a vowel sign.
_AFFIX_IF_STANDARD = ("ས", "ར")
_CASE_PARTICLE_RE = re.compile("(?:ལ|ས|ར|སུ|རུ|དུ|ཏུ|ཀྱིས|གྱིས|གིས|ཡིས|ཏེ|སྟེ|དེ)$|[\u0f72\u0f74\u0f7a-\u0f7d\u0f80][སར]$")
_ENDS_IN_VOWEL_RE = re.compile("[\u0f72\u0f74\u0f7a-\u0f7d\u0f80]$")
# The affix is not consumed: in "དེའི ས ར" the ས that stays a word is the syllable ར attaches to.
# A tsheg after འོ/འུ/ས/ར means a word begins there (འོ་མ milk, ས་ཆ place); འི/འམ/འང never begin
# a word, so "ཁོ འི་མཆེ་བ" (47 cases in nanhai) attaches too.
_AFFIX_RE = re.compile(
    f"(?<![{SYLLABLE_CHARS}])([{SYLLABLE_CHARS}]+)[ ]+"
    f"(?=((?:འི|འམ|འང)(?![{SYLLABLE_CHARS}])|(?:འོ|འུ|ས|ར)(?![{SYLLABLE_CHARS}{TSHEG}])))"
)


def _attaches(prev: str, affix: str) -> bool:
    if affix in _AFFIX_IF_STANDARD:
        return is_standard_tibetan(prev + affix)
    if affix == "འོ":
        return not _CASE_PARTICLE_RE.search(prev)
    if affix == "འུ":
        return bool(_ENDS_IN_VOWEL_RE.search(prev))
    return True


def attach_affixes(text: str) -> str:
    """Attach affixes split off as separate words: 'བ འི' → 'བའི', 'ང ས' → 'ངས' (rules above)."""
    out: list[str] = []
    pos = 0
    joined_end, joined = -1, ""  # where the last attached affix starts, and the syllable it made
    for m in _AFFIX_RE.finditer(text):
        prev, affix = m.group(1), m.group(2)
        if m.start(1) == joined_end:
            if affix in _AFFIX_IF_STANDARD:
                continue  # "ཁོ ས ར": the case particle already attached; ར is a word (goat)
            prev = joined
        if not _attaches(prev, affix):
            continue
        keep = m.group(1)
        if affix[0] == "འ" and len(keep) > 1 and keep.endswith("འ"):
            # The a-chung suffix gives way to the affix: མཁའ + འི = མཁའི (never མཁའའི).
            keep = keep[:-1]
        out.append(text[pos : m.start(1)] + keep)
        pos = m.end()  # drops the spaces; the affix follows from here
        joined_end, joined = m.end(), prev.removesuffix("འ") + affix
    out.append(text[pos:])
    return "".join(out)


def rejoin_segmented(text: str) -> str:
    """Undo word segmentation: 'སེང་གེ རྒན་པོ' → 'སེང་གེ་རྒན་པོ', 'པ-འི' / 'པ འི' → 'པའི', 'དང  །' → 'དང་།'.

    Letters are preserved exactly (only an a-chung before an attached affix goes); syllables are
    too, except that an affix written as a word of its own joins its syllable (`attach_affixes`).
    Only spaces, '-' and '+' between Tibetan characters are rewritten.
    """
    if _MARK_AFTER_JOIN_RE.search(text):
        # "སུ-ེ" (a vowel split off by mistake): joined, two marks meet and need canonical order again.
        text = unicodedata.normalize("NFC", _JOIN_MARK_RE.sub("", text))
    else:
        text = _JOIN_MARK_RE.sub("", text)
    text = attach_affixes(text)
    # Before shads first, so a ག-final's orthographic space is not turned into a tsheg below.
    text = _SPACE_BEFORE_SHAD_RE.sub(lambda m: m.group(1) + " " if _ends_ka_ga_sha(text, m) else m.group(1), text)
    text = _WORD_SPACE_RE.sub(TSHEG, text)
    text = _NGA_SHAD_RE.sub(lambda m: m.group() + TSHEG, text)
    return _SHAD_GAP_RE.sub(" ", text)


def _ends_ka_ga_sha(text: str, m: re.Match[str]) -> bool:
    """Does the syllable that ends at m.start(1) end in ཀ/ག/ཤ (+ vowel)? Looks back a few chars."""
    if m.group(1) == TSHEG:
        return False
    start = max(0, m.start(1) - 6)
    return bool(_KA_GA_SHA_END_RE.search(text, start, m.end(1)))


# --- optional botok word segmentation ---------------------------------------------------------


@dataclass
class SegmentConfig:
    """Settings of the segment stage."""

    botok_dialect_pack: str | None = None
    """Path to a botok dialect pack folder (e.g. ../shared/botok/general); needed for words only.
    It is copied to `cache_dir` because botok writes its trie pickle beside the pack."""
    word_segmentation: bool = False
    """Run botok's WordTokenizer and record `meta["n_words"]` (slow: ~tens of KB/s per core)."""
    cache_dir: str = "~/.cache/tibcpt/botok"
    """Where the writable copy of the dialect pack (and botok's trie pickle) lives."""
    rejoin_segmented: bool = True
    """Re-join documents whose `meta["segmented"]` is true (word-segmented corpora)."""

    def __post_init__(self) -> None:
        if self.word_segmentation and not self.botok_dialect_pack:
            raise ValueError("botok_dialect_pack: required when word_segmentation is true")
        if self.botok_dialect_pack is not None and not str(self.botok_dialect_pack).strip():
            raise ValueError("botok_dialect_pack: must be a path or null")
        if not str(self.cache_dir).strip():
            raise ValueError("cache_dir: must not be empty")


def _pack_copy(pack: Path, cache_dir: Path) -> Path:
    """Copy the dialect pack once to cache_dir/<hash of its file list and sizes>/<pack name>."""
    files = sorted(p for p in pack.rglob("*") if p.is_file() and not p.name.endswith(".pickled"))
    h = hashlib.sha256()
    for p in files:
        h.update(f"{p.relative_to(pack)}\0{p.stat().st_size}\0".encode())
    dest = cache_dir / h.hexdigest()[:16] / pack.name
    if not dest.is_dir():
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(pack, tmp)
        tmp.rename(dest)
    return dest


@lru_cache(maxsize=4)
def load_word_tokenizer(dialect_pack: str, cache_dir: str = "~/.cache/tibcpt/botok") -> Any:
    """botok WordTokenizer from a writable copy of `dialect_pack`; never downloads."""
    pack = Path(dialect_pack).expanduser()
    if not (pack / "dictionary").is_dir():
        raise InputError(
            f"botok dialect pack not found at {pack} (expected a folder with dictionary/ and adjustments/; "
            "e.g. ../shared/botok/general) — botok must not download one"
        )
    from botok import Config, WordTokenizer  # heavy import, only when words are wanted

    copy = _pack_copy(pack, Path(cache_dir).expanduser())
    return WordTokenizer(config=Config.from_path(copy))


def words(text: str, tokenizer: Any) -> list[str]:
    """botok word tokens of `text` (punctuation and non-words dropped), each without its tsheg."""
    out = []
    for tok in tokenizer.tokenize(text, split_affixes=False):
        if tok.chunk_type in ("TEXT", "NUM") or getattr(tok, "syls", None):
            w = tok.text_cleaned if getattr(tok, "text_cleaned", None) else tok.text.strip()
            w = w.strip(TSHEG + " ")
            if w:
                out.append(w)
    return out


class Segmenter(Stage):
    """Re-join segmented sources, then record `n_syllables` (and `n_words`) in each document."""

    name = "segment"

    def __init__(self, cfg: SegmentConfig | None = None) -> None:
        self.cfg = cfg or SegmentConfig()
        self._tok = None
        if self.cfg.word_segmentation:
            assert self.cfg.botok_dialect_pack is not None
            self._tok = load_word_tokenizer(self.cfg.botok_dialect_pack, self.cfg.cache_dir)

    def process(self, docs: list[Document], stats: StageStats, rejects: list[Rejection]) -> list[Document]:
        for doc in docs:
            if self.cfg.rejoin_segmented and doc.meta.get("segmented"):
                joined = rejoin_segmented(doc.text)
                if joined != doc.text:
                    stats.extra["rejoined_docs"] += 1
                doc.text = joined
            n = count_syllables(doc.text)
            doc.meta["n_syllables"] = n
            stats.extra["syllables"] += n
            if self._tok is not None:
                nw = len(words(doc.text, self._tok))
                doc.meta["n_words"] = nw
                stats.extra["words"] += nw
        return docs


def add_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", help="UTF-8 text files to count")
    parser.add_argument("--segmented", action="store_true", help="re-join word-segmented input first")


def cli(args: argparse.Namespace) -> int:
    for f in args.files:
        text = Path(f).read_text(encoding="utf-8")
        if args.segmented:
            text = rejoin_segmented(text)
        print(f"{f}\t{count_syllables(text)} syllables\t{len(sentences(text))} sentences")
    return 0
