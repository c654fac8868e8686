"""Stage 3b, clean: remove the non-text lines and marks that survive extraction and normalization.

Runs after `normalize` (the rules see canonical text: one space, trimmed lines, shads spaced) and
before `segment`. Every rule is line-level or mark-level, counts what it removed in the stage stats
(`extra[<rule>]`), and applies only to the sources listed for it (source-name globs), so a rule
that is safe on one corpus is never run blind on another. What each rule removes, and why it is
safe where it is on by default:

- `noise_lines` (all sources): lines with no letter of any script that hold a digit or '/': page
  numbers ("5", "12/16"), PDF running-footer residue ("2016 40 2007 40", "///40/", "། 21"); and
  lines of tshegs only. No word is lost; only a number-only line (a bare year) could be
  content, and it carries no language. 11.6 % of the characters of the children's stories.
- `page_markers` (all sources): an "N/M" page counter at the end of a text line ("... འའུ 3/16").
  Only where the document shows a page sequence: at least `min_page_markers` different N with the
  same M, N <= M, or one "N/N" (N > 1: a last page). A fraction written once in a story stays.
- `line_numbers` (opted-in sources only): "(n)" manuscript line numbers (old-tibetan-corpus: "(1)" at
  each line of the Annals, mid-line in the Chronicle, often inside a word: "བཙན (6) པོར"). The mark
  goes; between two syllables a tsheg takes its place (the scribe's line end, where the tsheg was
  not written), after a tsheg nothing, elsewhere one space. Not on by default elsewhere: a modern
  text's "(1) ... (2) ..." enumeration is content (nanhai-modern-writing has one).
- `lacunae` (all sources): editorial gap marks "[---]", "[...]", "[…]" (26 in the Old Tibetan
  texts). A lacuna becomes nothing at a line edge and a line break inside a line, and
  `meta["lacunae"]` records how many there were. Why not keep it or a placeholder: the mark is an
  editor's, never written Tibetan, and a model would learn to emit it; why a line break and not
  nothing: the words on either side were not next to each other, so joining them would fabricate
  a syllable sequence ("རྗེ་སྟག་[---]་ཚབ"). The count lets users drop or down-weight fragments.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from dataclasses import dataclass, field

from tibcpt.pipeline.document import Document, Rejection, Stage, StageStats
from tibcpt.pipeline.text.normalize import NormalizeConfig, TextNormalizer
from tibcpt.pipeline.text.segment import SYLLABLE_CHARS, TSHEG

RULES = ("noise_lines", "page_markers", "line_numbers", "lacunae")

# A line with a digit or '/' and no letter of any script (Tibetan consonants are letters; a stray
# vowel sign, tsheg or shad left from the line before is not a word): "5/8", "2016 40", "། 21", "ོ 86".
_LETTER_RE = re.compile(r"[^\W\d_]")
_NOISE_MARK_RE = re.compile("[0-9\u0f20-\u0f33/]")
# "N/M" at a line end, not part of a longer number or path ("2015/12/18", "1/2/3").
_PAGE_MARKER_RE = re.compile(r"(?:(?<=[^\d/ ])|^)[ ]*(\d{1,3}) ?/ ?(\d{1,3})[ ]*$", re.M)
_LINE_NUMBER_RE = re.compile(r"(?:[ ]*\(\d{1,4}\)[ ]*)+")  # adjacent numbers are one mark
# Adjacent marks are one gap; the tsheg or shad right after a mark closed the lost words. The
# pattern starts at the bracket (a literal prefix keeps the scan fast); spaces before a mark go
# with the line trimming.
_LACUNA_MARK = "\\[ ?(?:-{2,}|\\.{3,}|…) ?\\]"
_LACUNA_RE = re.compile(f"{_LACUNA_MARK}(?:[ {TSHEG}\u0f0d]*{_LACUNA_MARK})*[ {TSHEG}\u0f0d]*")
_SYLLABLE_RE = re.compile(f"[{SYLLABLE_CHARS}]")
_NEWLINE_RUN_RE = re.compile("\n+")
_TSHEG_LINE_RE = re.compile(f"[{TSHEG} ]+")


@dataclass
class CleanConfig:
    """Which line-level cleaning rules run, and on which sources (lists of source-name globs;
    an empty list turns the rule off). See the module docstring for what each rule removes."""

    enabled: bool = True
    noise_lines: list[str] = field(default_factory=lambda: ["*"])
    """Drop lines without letters that hold only digits and ASCII symbols (page numbers, PDF residue)."""
    page_markers: list[str] = field(default_factory=lambda: ["*"])
    """Drop "N/M" page counters at line ends where the document has a page sequence."""
    min_page_markers: int = 2
    """Different page numbers N with the same total M that make a document's "N/M" a page counter."""
    line_numbers: list[str] = field(default_factory=lambda: ["old-tibetan-corpus"])
    """Remove "(n)" manuscript line numbers. Opt-in per source: elsewhere "(1)" enumerates content."""
    lacunae: list[str] = field(default_factory=lambda: ["*"])
    """Remove "[---]" / "[...]" gap marks (a line break inside a line); count them in meta["lacunae"]."""

    def __post_init__(self) -> None:
        for rule in RULES:
            globs = getattr(self, rule)
            if not isinstance(globs, list) or not all(isinstance(g, str) and g for g in globs):
                raise ValueError(f"{rule}: must be a list of source-name globs (e.g. ['*']), got {globs!r}")
        if not isinstance(self.min_page_markers, int) or self.min_page_markers < 2:
            raise ValueError(f"min_page_markers: must be an integer >= 2, got {self.min_page_markers!r}")


def is_noise_line(line: str) -> bool:
    """A non-empty line without a letter of any script that holds a digit or '/' (page numbers, PDF
    residue), or only tshegs (a tsheg ends a syllable; alone it is extraction residue)."""
    if not line or _LETTER_RE.search(line):
        return False
    return _NOISE_MARK_RE.search(line) is not None or _TSHEG_LINE_RE.fullmatch(line) is not None


def page_denominators(text: str, min_markers: int = 2) -> set[str]:
    """The totals M of "N/M" line-end markers that form a page sequence in `text`."""
    pages: dict[str, set[int]] = {}
    for m in _PAGE_MARKER_RE.finditer(text):
        n, total = int(m.group(1)), int(m.group(2))
        if 1 <= n <= total:
            pages.setdefault(m.group(2), set()).add(n)
    # A last page's counter ("... རེད 2/2") marks its total even alone: running text has no "N/N".
    # (Any N/N, not only the document's last one: removing that one would expose the next.)
    return {total for total, ns in pages.items() if len(ns) >= min_markers or int(total) in ns and int(total) > 1}


def _line_number_sub(m: re.Match[str]) -> str:
    s = m.string
    before = s[m.start() - 1] if m.start() > 0 else "\n"
    after = s[m.end()] if m.end() < len(s) else "\n"
    if before == "\n" or after == "\n" or before == TSHEG or after in (TSHEG, "\u0f0d"):
        return ""  # a line edge, or punctuation that takes no space next to it (normalize rules 7-8)
    if _SYLLABLE_RE.match(before) and _SYLLABLE_RE.match(after):
        return TSHEG  # the manuscript line ended inside a phrase: "བཙན (6) པོར" -> "བཙན་པོར"
    return " "


def _lacuna_sub(m: re.Match[str]) -> str:
    s, i = m.string, m.start() - 1
    while i >= 0 and s[i] == " ":
        i -= 1
    at_edge = i < 0 or s[i] == "\n" or m.end() == len(s) or s[m.end()] == "\n"
    return "" if at_edge else "\n"


class Cleaner(Stage):
    """Apply the `CleanConfig` rules per document; drop documents left empty ("empty_after_clean")."""

    name = "clean"

    def __init__(self, cfg: CleanConfig | None = None, normalize: NormalizeConfig | None = None) -> None:
        self.cfg = cfg or CleanConfig()
        # Removing a mark can leave punctuation or a joiner where normalize would not have it
        # ("དུའ། (399)། །" -> "དུའ།། །"): changed text is normalized again with the run's rules,
        # so the stage's output is what normalize would give (tested as a property).
        self._norm = TextNormalizer(normalize or NormalizeConfig())

    def rules_for(self, source: str) -> set[str]:
        if not self.cfg.enabled:
            return set()
        return {r for r in RULES if any(fnmatch.fnmatchcase(source, g) for g in getattr(self.cfg, r))}

    def clean(self, text: str, rules: set[str], counts: Counter) -> str:
        """`text` with `rules` applied until nothing changes; what each rule removed is added to `counts`.

        One pass is not always enough: normalizing what a rule left can expose another mark
        ("ཀ16/16\u200d(3)": once "(3)" goes, normalize drops the joiner that kept "16/16" from
        the line end, found by test_cleaned_text_is_a_fixed_point). Every pass only removes, so
        the loop ends; the bound is a guard."""
        for _ in range(8):
            new = self._clean_once(text, rules, counts)
            if new == text:
                break
            text = new
        return text

    def _clean_once(self, text: str, rules: set[str], counts: Counter) -> str:
        original = text
        # Removing lines must not create longer blank-line runs than the normalized input had.
        max_newlines = max((len(r) for r in _NEWLINE_RUN_RE.findall(text)), default=1)
        # Each rule first asks whether its mark occurs at all (`in` scans in C; the regexes scan slower).
        if "line_numbers" in rules and "(" in text:
            n = text.count("(")
            text = _LINE_NUMBER_RE.sub(_line_number_sub, text)
            counts["line_numbers"] += n - text.count("(")
        if "lacunae" in rules and "[" in text:
            n = text.count("[")
            text = _LACUNA_RE.sub(_lacuna_sub, text)
            counts["lacunae"] += n - text.count("[")
        if "page_markers" in rules and "/" in text and (totals := page_denominators(text, self.cfg.min_page_markers)):

            def drop(m: re.Match[str]) -> str:
                if m.group(2) in totals and 1 <= int(m.group(1)) <= int(m.group(2)):
                    counts["page_markers"] += 1
                    return ""
                return m.group()

            text = _PAGE_MARKER_RE.sub(drop, text)
        lines = [ln.strip(" ") for ln in text.split("\n")]
        if "noise_lines" in rules:
            n = len(lines)
            lines = [ln for ln in lines if not is_noise_line(ln)]
            counts["noise_lines"] += n - len(lines)
        text = "\n".join(lines)
        text = re.sub(f"\n{{{max_newlines + 1},}}", "\n" * max_newlines, text).strip("\n")
        return self._norm(text) if text != original else text

    def process(self, docs: list[Document], stats: StageStats, rejects: list[Rejection]) -> list[Document]:
        kept = []
        for doc in docs:
            rules = self.rules_for(doc.source)
            if not rules:
                kept.append(doc)
                continue
            counts: Counter = Counter()
            new = self.clean(doc.text, rules, counts)
            if counts["lacunae"]:
                doc.meta["lacunae"] = doc.meta.get("lacunae", 0) + counts["lacunae"]
            stats.extra.update(+counts)  # only the rules that removed something
            if not new.strip():
                self.reject(doc, "empty_after_clean", stats, rejects, detail=f"{dict(counts)}")
                continue
            if new != doc.text:
                stats.extra["changed_docs"] += 1
                stats.extra["chars_removed"] += max(0, len(doc.text) - len(new))
                doc.text = new
            kept.append(doc)
        return kept
