"""Stage 3: lossless Unicode and punctuation normalization of Tibetan training text.

Rules and their sources are in ../shared/corpus/NORMALIZATION.md (numbers below refer to it);
botok 1.1.7's `botok/utils/{unicode_normalization,lenient_normalization,corpus_normalization}.py`
is the reference implementation we follow. What we take from botok and what we do differently:

- Rules 1–4 and 9 are one `str.translate` table (a C loop): botok's `normalize_unicode` does the
  same mappings with ~25 `str.replace` passes plus a per-character Python reorder loop, and its
  `normalize_invalid_start_string` only looks at the first character of the whole string, which
  is wrong for whole documents.
- Rule 5 (ONE canonical mark order): we choose Unicode canonical order, i.e. NFC (for Tibetan
  NFC == NFD: every precomposed Tibetan letter is a composition exclusion). Why not botok's
  `unicode_reorder`: its order is not NFD-stable (a stack with 0F74 and a top vowel comes out
  different from NFD), and tokenizers, HF datasets tools and editors routinely apply NFC/NFKC;
  text that is already canonically ordered survives them unchanged, so training text, dedup
  keys and evaluation text cannot drift apart. NFC also leaves Latin/CJK in their usual
  composed form. It runs in C (hundreds of MB/s).
- Rule 6: botok's ra-mgo regex (U+0F6A kept only before the subjoined letters that would
  otherwise turn ར into the small ra-mgo) and its ཅ༹→ཙ, ཆ༹→ཚ, ཇ༹→ཛ, written against
  canonical order (0F39 has ccc 216, so vowels come between the letter and the tsa-phru).
- Rules 7–8 follow botok's `normalize_punctuation` rule table (tsheg_variants, tsheg_runs,
  space_after/before_tsheg, shad_variants, nyis_shad, double_shad → "། །", tsheg_before_shad,
  nga_tsheg_shad) but with `re.sub` (its offset tracking makes it ~3 MB/s) and WITHOUT its
  non-lossless rules: removing every yig mgo not at the start of the text and deleting the
  shad after ཀ/ག/ཤ (that shad marks a clause end that `segment.sentences` uses). Set
  `NormalizeConfig.botok_punctuation` to run botok's full modern-typography rules instead.
- 0F02/0F03 (gter yig mgo ligatures) are kept: botok has no decomposition rule for them and
  they are head marks, not syllables.

`match_key` is the LOSSY key for dedup and decontamination ("Lossy rules"): botok's
`normalize_lenient`, `normalize_old_tib` and per-syllable `normalize_ngatadara`, punctuation
and spacing dropped. It drops a-chung and wa-zur (and 0F35/0F37/0F39) but keeps the vowel signs
ི ུ ེ ོ and subjoined ya/ra/la (datatrove's default "strip combining marks" would erase most Tibetan words).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from botok.utils.lenient_normalization import (
    normalize_lenient,
    normalize_ngatadara,
    normalize_old_tib,
    normalize_punctuation,
)
from tibcpt.pipeline.document import Document, Rejection, Stage, StageStats

log = logging.getLogger(__name__)

# --- rules 1–4: one-to-many character mappings (NORMALIZATION.md; botok normalize_unicode) ---
DECOMPOSE: dict[str, str] = {
    # 1. discouraged precomposed vowels
    "\u0f73": "\u0f71\u0f72",
    "\u0f75": "\u0f71\u0f74",
    "\u0f81": "\u0f71\u0f80",
    "\u0f76": "\u0fb2\u0f80",
    "\u0f78": "\u0fb3\u0f80",
    # 2. deprecated (compatibility decompositions only: NFC/NFD keep them)
    "\u0f77": "\u0fb2\u0f71\u0f80",
    "\u0f79": "\u0fb3\u0f71\u0f80",
    # 3. letters with subjoined HA / KSSA (composition exclusions)
    "\u0f43": "\u0f42\u0fb7",
    "\u0f4d": "\u0f4c\u0fb7",
    "\u0f52": "\u0f51\u0fb7",
    "\u0f57": "\u0f56\u0fb7",
    "\u0f5c": "\u0f5b\u0fb7",
    "\u0f69": "\u0f40\u0fb5",
    "\u0f93": "\u0f92\u0fb7",
    "\u0f9d": "\u0f9c\u0fb7",
    "\u0fa2": "\u0fa1\u0fb7",
    "\u0fa7": "\u0fa6\u0fb7",
    "\u0fac": "\u0fab\u0fb7",
    "\u0fb9": "\u0f90\u0fb5",
    # 4. ༀ has no Unicode decomposition ("a mistake that cannot be changed", botok)
    "\u0f00": "\u0f68\u0f7c\u0f7e",
}
TSHEG_VARIANTS = {"\u0f0c": "\u0f0b", "\u0fd2": "\u0f0b"}
"""7. non-breaking tsheg and nyis tsheg → tsheg (botok tsheg_variants)."""
SHAD_VARIANTS = {
    "\u0f0e": "\u0f0d\u0f0d",
    "\u0f0f": "\u0f0d",
    "\u0f10": "\u0f0d",
    "\u0f11": "\u0f0d",
    "\u0f12": "\u0f0d",
}
"""8. nyis shad → two shads; tsheg shad, nyis tsheg shad, rin chen spungs shad, rgya gram shad → shad."""

# --- rule 9: invisible, space and control characters ----------------------------------------
INVISIBLE = "\ufeff\u200b\u2060\u180e\u034f"
"""BOM (anywhere), ZWSP, word joiner, Mongolian vowel separator, CGJ (NORMALIZATION.md 9)."""
SOFT_HYPHEN = "\u00ad"
"""A line-break hint (category Cf), invisible unless a line breaks there: word processors and PDF
producers leave it inside words. Removed everywhere (rule 9's "other control characters")."""
JOINERS = "\u200c\u200d"
"""ZWNJ and ZWJ. Tibetan shaping uses neither (Unicode ch. 13.4 lists no joiner behaviour for the
script), so beside Tibetan text, a space or a text edge they only split strings that look equal
(dedup, tokenizer). Between two characters of another script they are kept: ZWNJ is orthographic in
Persian and Indic scripts and ZWJ builds emoji sequences (UAX #51)."""
# A run of joiners next to Tibetan, whitespace or an edge. Whole runs: removing one joiner of a run
# must not expose another to a different context, or a second pass would change the text.
_JOINER_RE = re.compile(f"(?<=[\u0f00-\u0fff\\s])[{JOINERS}]+|^[{JOINERS}]+|[{JOINERS}]+(?=[\u0f00-\u0fff\\s]|$)", re.M)
# Bidi and other format controls: invisible, never meaningful in Tibetan (category Cf).
FORMAT_CONTROLS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069"
SPACES = "\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
NEWLINES = "\r\x0b\x0c\x85\u2028\u2029"
"""CR (after CRLF → LF), VT, FF, NEL, LS, PS all become \\n."""
CONTROLS = "".join(chr(c) for c in [*range(0x00, 0x09), *range(0x0E, 0x20), *range(0x7F, 0x85), *range(0x86, 0xA0)])
"""C0/C1 controls except \\t \\n VT FF CR NEL (those are spaces or line breaks above)."""

VOWELS = "\u0f71-\u0f7e\u0f80-\u0f87"
"""Vowel signs and marks except visarga 0F7F (botok _P_VOWELS_NO_VISARGA)."""
LETTERS = "\u0f40-\u0fbc"


@dataclass
class NormalizeConfig:
    """Which rule groups of NORMALIZATION.md to apply; all on by default."""

    decompose: bool = True
    """Rules 1–4: precomposed/deprecated vowels, subjoined HA/KSSA letters, ༀ → ཨོཾ."""
    canonical_order: bool = True
    """Rule 5: Unicode canonical mark order (NFC; == NFD for Tibetan), applied last."""
    letters: bool = True
    """Rule 6: botok's ra-mgo (0F6A → ར unless it must stay full-form) and ཅ༹→ཙ, ཆ༹→ཚ, ཇ༹→ཛ."""
    tsheg: bool = True
    """Rule 7: 0F0C/0FD2 → tsheg, tsheg runs collapsed, spaces next to a tsheg removed."""
    shad: bool = True
    """Rule 8: shad variants → །, shad pairs spaced "། །", no space/tsheg before a shad except
    ང་། and the space after a final ཀ/ག/ཤ."""
    whitespace: bool = True
    """Rule 9: invisible characters removed, Unicode spaces/tabs → ' ', line breaks → '\\n',
    controls stripped, space runs and blank-line runs collapsed, lines trimmed."""
    botok_punctuation: bool = False
    """Use botok's full `normalize_punctuation` for rules 7–8 instead (modern typography: also
    drops yig mgo after the start and the shad after ཀ/ག/ཤ; ~3 MB/s)."""
    max_blank_lines: int = 1
    """Runs of blank lines are collapsed to this many (1 keeps paragraph breaks)."""

    def __post_init__(self) -> None:
        if not isinstance(self.max_blank_lines, int) or self.max_blank_lines < 0:
            raise ValueError(f"max_blank_lines: must be an integer >= 0, got {self.max_blank_lines!r}")
        if self.botok_punctuation and not (self.tsheg and self.shad):
            raise ValueError("botok_punctuation: needs tsheg and shad on (it applies both rule groups)")


# --- compiled rules ---------------------------------------------------------------------------
_CRLF_RE = re.compile("\r\n")
_SPACE_RUN_RE = re.compile(" {2,}")
_LINE_EDGE_RE = re.compile(" *\n *")
# 7. a tsheg with spaces on either side and repeated tshegs (with spaces) → one tsheg. Each
# alternative needs a space or a second tsheg, so the ordinary "X་Y" is never matched (speed).
_TSHEG_RE = re.compile("(?: +\u0f0b|\u0f0b[ \u0f0b])[ \u0f0b]*")
# 8. runs of shads with optional spaces between → spaced "། །" (botok double_shad), keeping every
# shad: botok collapses a run of three into two, which would lose a mark of the training text.
_SHAD_RUN_RE = re.compile("\u0f0d(?: *\u0f0d)+")


def _space_shads(m: re.Match[str]) -> str:
    n = m.group().count("\u0f0d")
    return "\u0f0d \u0f0d" if n == 2 else " ".join("\u0f0d" * n)


# 8. spaces between a syllable and a shad: removed, but a final ཀ/ག/ཤ (± vowel) keeps one space,
# the orthographic stand-in for the first shad (botok shad_spacing; NORMALIZATION.md 8).
# The syllable may end in a combining mark outside 0F40-0FBC (tsa-phru 0F39, 0F35/0F37, yar/mar
# tshes 0F3E/0F3F, 0FC6): "ཅ༹ །" must lose its space now, not after rule 6 has made it "ཙ །".
_SPACE_BEFORE_SHAD_RE = re.compile(f"(?<=[{LETTERS}\u0f35\u0f37\u0f39\u0f3e\u0f3f\u0fc6]) +(?=\u0f0d)")
_KA_GA_SHA_END_RE = re.compile(f"[\u0f40\u0f42\u0f64][{VOWELS}]*$")
# 8. tsheg before a shad: removed except after ང ± vowel (botok tsheg_before_shad), where it is
# added if missing (botok nga_tsheg_shad).
_TSHEG_BEFORE_SHAD_RE = re.compile("\u0f0b+(?=\u0f0d)")
_NGA_END_RE = re.compile(f"\u0f44[{VOWELS}]*$")
_NGA_SHAD_RE = re.compile(f"\u0f44[{VOWELS}]*(?=\u0f0d)")
# 6. botok normalize_unicode: "ra doesn't transform into a small rago before anything else than
# (most) subjoined", so 0F6A is only needed before those; elsewhere it is plain ར.
_RA_MGO_RE = re.compile("\u0f6a(?![\u0f90-\u0f97\u0f9a-\u0fac\u0fae\u0faf\u0fb4-\u0fbc])")
# 6. ཅ༹ → ཙ etc.; in canonical order, marks with ccc < 216 sit between the letter and 0F39.
_TSA_PHRU_RE = re.compile("([\u0f45\u0f46\u0f47])([\u0f71\u0f72\u0f74\u0f7a-\u0f7d\u0f80]*)\u0f39")
_TSA_PHRU_MAP = {"\u0f45": "\u0f59", "\u0f46": "\u0f5a", "\u0f47": "\u0f5b"}


def _space_before_shad(m: re.Match[str]) -> str:
    # Look back a few characters: does the syllable end in ཀ/ག/ཤ ± vowels?
    return " " if _KA_GA_SHA_END_RE.search(m.string, max(0, m.start() - 8), m.start()) else ""


def _tsheg_before_shad(m: re.Match[str]) -> str:
    return "\u0f0b" if _NGA_END_RE.search(m.string, max(0, m.start() - 8), m.start()) else ""


def _build_table(cfg: NormalizeConfig) -> dict[str, str]:
    table: dict[str, str] = {}
    if cfg.whitespace:
        table.update(dict.fromkeys(INVISIBLE + SOFT_HYPHEN + FORMAT_CONTROLS + CONTROLS, ""))
        table.update(dict.fromkeys(SPACES, " "))
        table.update(dict.fromkeys(NEWLINES, "\n"))
    if cfg.decompose:
        table.update(DECOMPOSE)
    if cfg.tsheg:
        table.update(TSHEG_VARIANTS)
    if cfg.shad:
        table.update(SHAD_VARIANTS)
    return table


class TextNormalizer:
    """The compiled rules for one `NormalizeConfig`; call it on a string."""

    def __init__(self, cfg: NormalizeConfig | None = None) -> None:
        self.cfg = cfg or NormalizeConfig()
        self.table = _build_table(self.cfg)
        chars = "".join(re.escape(c) for c in sorted(self.table))
        self.map_re = re.compile(f"[{chars}]") if chars else None
        self.blank_re = re.compile(f"\n{{{self.cfg.max_blank_lines + 2},}}")
        self.blank_to = "\n" * (self.cfg.max_blank_lines + 1)

    def __call__(self, text: str) -> str:
        cfg = self.cfg
        if cfg.whitespace:
            text = _CRLF_RE.sub("\n", text)
        if self.map_re is not None:
            # A regex over the mapped characters, not str.translate: translate looks every
            # character up in a dict (~8 MB/s); mapped characters are rare (>100 MB/s).
            text = self.map_re.sub(lambda m: self.table[m.group()], text)
        if cfg.whitespace:
            # After the table: a control removed there can no longer stand between a joiner and
            # the Tibetan letter that makes it removable (idempotence).
            if "\u200c" in text or "\u200d" in text:  # `in` scans in C; the regex costs ~20 % of normalize
                text = _JOINER_RE.sub("", text)
            text = _SPACE_RUN_RE.sub(" ", text)
            text = _LINE_EDGE_RE.sub("\n", text)
        if cfg.botok_punctuation:
            # botok's rules alone are not idempotent ("།།་།" → "། །།" → "། །"): run them until the
            # text stops changing (each pass only shortens shad and tsheg runs), then ours.
            text = _until_stable(normalize_punctuation, text)
        if cfg.tsheg:
            text = _TSHEG_RE.sub("\u0f0b", text)
        if cfg.shad:
            # Order matters for idempotence: a tsheg between two shads must go before the
            # shad run is respaced, and a space before ང། before ང gets its tsheg.
            text = _SPACE_BEFORE_SHAD_RE.sub(_space_before_shad, text)
            text = _TSHEG_BEFORE_SHAD_RE.sub(_tsheg_before_shad, text)
            text = _NGA_SHAD_RE.sub(lambda m: m.group() + "\u0f0b", text)
            text = _SHAD_RUN_RE.sub(_space_shads, text)
        if cfg.whitespace:
            text = self.blank_re.sub(self.blank_to, text).strip()
        if cfg.canonical_order:
            text = unicodedata.normalize("NFC", text)
        if cfg.letters:
            # After canonical order: both rules keep the text in canonical order.
            text = _RA_MGO_RE.sub("\u0f62", text)
            text = _TSA_PHRU_RE.sub(lambda m: _TSA_PHRU_MAP[m.group(1)] + m.group(2), text)
        return text


def _until_stable(rule, text: str, limit: int = 8) -> str:
    """`rule` applied until the text stops changing (at most `limit` passes)."""
    for _ in range(limit):
        after = rule(text)
        if after == text:
            break
        text = after
    return text


_DEFAULT = TextNormalizer()


def normalize(text: str, cfg: NormalizeConfig | None = None) -> str:
    """Lossless, idempotent normalization of training text (all rules unless `cfg` says otherwise)."""
    return _DEFAULT(text) if cfg is None else TextNormalizer(cfg)(text)


# --- lossy match key (NORMALIZATION.md "Lossy rules") -----------------------------------------
_KEY_TOKEN_RE = re.compile(
    "[\u0f40-\u0f6c\u0f71-\u0f84\u0f86-\u0fbc\u0f35\u0f37\u0f39\u0f3e\u0f3f\u0fc6]+"  # Tibetan syllable
    "|[\u0f20-\u0f29]+"  # Tibetan digits
    "|[^\\W_]+"  # words in other scripts
)
_DIGITS_TO_ASCII = {0x0F20 + i: str(i) for i in range(10)}


@lru_cache(maxsize=1 << 17)
def _key_syllable(syl: str) -> str:
    # normalize_ngatadara anchors at ^ (syllable start), so it runs per syllable.
    return normalize_ngatadara(syl)


def match_key_raw_tokens(text: str, normalized: bool = False) -> list[str]:
    """Tokens of the lossy key before per-token folding (`fold_key_token`): callers that cache per
    token (near-dedup shingling) fold each distinct token once."""
    # lenient first: old texts write the reversed gigu (0F80) that old_tib's "མྱི" rules miss.
    # `normalized=True`: the caller passes normalize()'s output (the corpus runner does), so the
    # lossless pass, a third of this function's time, is not repeated.
    s = normalize_old_tib(normalize_lenient(text if normalized else normalize(text)))
    return _KEY_TOKEN_RE.findall(s.casefold())


def fold_key_token(tok: str) -> str:
    """Per-token part of the key: ང/ཏ/ད/ར folding of a Tibetan syllable; ASCII digits otherwise."""
    return _key_syllable(tok) if "\u0f40" <= tok[0] <= "\u0fbc" else tok.translate(_DIGITS_TO_ASCII)


def match_key_tokens(text: str, normalized: bool = False) -> list[str]:
    """The tokens `match_key` joins: folded Tibetan syllables, and other words/digits (casefolded,
    Tibetan digits as ASCII)."""
    return [fold_key_token(tok) for tok in match_key_raw_tokens(text, normalized)]


def match_key(text: str, normalized: bool = False) -> str:
    """Lossy key for dedup/decontamination: same text modulo spelling variants and punctuation.

    normalize() → botok normalize_lenient (drop 0F35/0F37/0F39, a-chung, wasur; retroflex →
    dental; 0F82/0F83/0F86 → 0F7E; 0F80 → 0F72; fixed-form ya/ra → ya/ra) → normalize_old_tib
    (merged syllables, old spellings) → per-syllable ང/ཏ/ད/ར OCR folding; then only the
    syllables (joined by tsheg) and words (by single spaces) remain, casefolded, Tibetan digits
    as ASCII.
    Drops a-chung and wa-zur; keeps the vowel signs ི ུ ེ ོ and subjoined ya/ra/la.
    """
    out: list[str] = []
    prev_tib = False
    for tok in match_key_tokens(text, normalized):
        tib = "\u0f40" <= tok[0] <= "\u0fbc"
        if out:
            # Tsheg between syllables: the key reads like Tibetan text (botok's rules match
            # "X་Y"). Not idempotent: botok's normalize_old_tib rules feed each other.
            out.append("\u0f0b" if tib and prev_tib else " ")
        out.append(tok)
        prev_tib = tib
    return "".join(out)


# --- stage ------------------------------------------------------------------------------------


class Normalizer(Stage):
    """Normalize every document; drop those that end up empty ("empty_after_normalize")."""

    name = "normalize"

    def __init__(self, cfg: NormalizeConfig | None = None) -> None:
        self.cfg = cfg or NormalizeConfig()
        self._norm = TextNormalizer(self.cfg)

    def process(self, docs: list[Document], stats: StageStats, rejects: list[Rejection]) -> list[Document]:
        out = []
        for doc in docs:
            new = self._norm(doc.text)
            if not new.strip():
                self.reject(doc, "empty_after_normalize", stats, rejects, detail=f"{len(doc.text)} chars before")
                continue
            if new != doc.text:
                stats.extra["changed_docs"] += 1
                stats.extra["chars_removed"] += max(0, len(doc.text) - len(new))
                doc.text = new
            out.append(doc)
        return out


def add_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", help="UTF-8 text files (default: stdin); output to stdout")
    parser.add_argument("--key", action="store_true", help="print the lossy match key instead")


def cli(args: argparse.Namespace) -> int:
    fn = match_key if args.key else normalize
    texts = [Path(f).read_text(encoding="utf-8") for f in args.files] if args.files else [sys.stdin.read()]
    for t in texts:
        sys.stdout.write(fn(t) + "\n")
    return 0
