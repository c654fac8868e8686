"""Stage 5: Tibetan-aware document quality filters.

Each rule is a pure function `(DocMeasures, cfg) -> Drop | None`: `DocMeasures` (pipeline/text/measures.py)
holds one document's text and computes each measure once, for all rules. `Drop` is a `str` (the
reason, e.g. "dup_line_frac") that also carries a `detail` (measured value vs threshold).
`QualityFilter` runs the rules cheap-first with the thresholds of the document's genre
(`FilterConfig.genre_thresholds`) and rejects a document with the first reason that fires
(datatrove's BaseFilter habit: reasons are data).

Thresholds default to FineWeb-2's per-language config for Tibetan (huggingface/fineweb-2,
`configs/bod_Tibt.yml`) where a rule exists there, with Gopher's definitions (Rae et al. 2021,
Table A1; datatrove `GopherRepetitionFilter`). The Tibetan adaptations:
- "words" are syllables (`tibcpt.pipeline.text.segment.syllables`); an n-gram's character length counts each
  syllable plus its tsheg, so fractions stay comparable with `len(text)` (FineWeb-2's Tibetan
  stop words also carry their tsheg, e.g. "དང་");
- sentence ends are shads (། ༎ ...) or a line-final ཀ/ག/ཤ syllable, where the shad is implied
  (NORMALIZATION.md rule 8); datatrove's ASCII-only stop characters would count every Tibetan line
  as unterminated, which is why FineWeb-2 had to set `line_punct_thr: 0.0` for bod_Tibt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from tibcpt.pipeline.document import Document, Rejection, Stage, StageStats
from tibcpt.pipeline.text.measures import (
    DocMeasures,
    dup_line_frac,
    invalid_syllable_share,
    legacy_font_share,
    line_punct_frac,
    private_use_count,
    short_unterminated_line_frac,
    tibetan_share,
)
from tibcpt.pipeline.text.ngrams import dup_ngram_bound, dup_ngram_chars, top_ngram_chars

log = logging.getLogger(__name__)


class Drop(str):
    """A drop reason (compares equal to the plain reason string) with a human-readable detail."""

    detail: str

    def __new__(cls, reason: str, detail: str = "") -> Drop:
        obj = super().__new__(cls, reason)
        obj.detail = detail
        return obj


@dataclass
class GenreThresholds:
    """Per-genre overrides of `FilterConfig` (None: keep the general value)."""

    max_dup_line_frac: float | None = None
    top_ngram_fracs: tuple[float, ...] | None = None
    dup_ngram_fracs: tuple[float, ...] | None = None
    max_invalid_syllable_share: float | None = None
    max_short_unterminated_line_frac: float | None = None


_NARRATIVE = GenreThresholds(
    max_dup_line_frac=0.38,
    top_ngram_fracs=(0.41, 0.35, 0.37),
    dup_ngram_fracs=(0.39, 0.37, 0.35, 0.35, 0.34, 0.35),
    # bench: 0.99; set to 1.0 (off): children's books that end no sentence with a shad exist in the
    # sample (L2-6537: every line), and link lists come from web/news sources, not these genres.
    max_short_unterminated_line_frac=1.0,
)
GENRE_THRESHOLDS: dict[str, GenreThresholds] = {
    "children": _NARRATIVE,
    "literature": _NARRATIVE,
    "history": _NARRATIVE,
    "religious": GenreThresholds(
        top_ngram_fracs=(0.206, 0.27, 0.31),
        # 1.0 = off: whole Vinaya texts repeat 85 % of their 5-grams (formulas restated per case)
        dup_ngram_fracs=(1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
        max_invalid_syllable_share=0.4,
    ),
}
"""Calibrated by bench/filters.py (bench/results/filters.json): per genre, the largest value its good
documents of the labelled set reach x 1.25 + 0.02, never stricter than FineWeb-2. Children's books,
Nanhai prose and the classical biographies are calibrated together ("narrative": stories with
refrains, songs and verse occur in all three); the Kangyur alone (dhāraṇīs: mantra syllables fail
the standard-syllable check, formulas repeat). The factor 1.25 had the smallest held-out error on a
2-fold split (good rejected 1.5 %, bad kept 4.2 %); 1.5+ lets spam and OCR through."""


@dataclass
class FilterConfig:
    """Thresholds of the quality rules; a rule whose threshold is None (or 0 for counts) is off."""

    enabled: bool = True
    """False keeps every document: for a general-domain (e.g. English replay) corpus built with the
    same pipeline, where Tibetan quality rules do not apply (configs/pipeline/replay-english.yaml)."""
    syllables_per_word: float = 1.25
    """FineWeb-2 measured its word-based thresholds on botok tokens (datatrove `TibetanTokenizer`,
    punctuation tokens included); botok runs at ~0.06 MB/s here, 30x under the 2 MB/s budget, so we
    count syllables and convert: an n-word window spans round(n * this) syllables, and newlines per
    word = newlines per syllable * this. 1.25 = syllables per botok token measured on 30k-char
    samples of 9 files of ../shared/corpus (range 0.96 Old Tibetan .. 1.29 modern prose)."""
    max_private_use_chars: int = 0
    """Private-use code points allowed (U+E000-F8FF, planes 15-16). Pre-Unicode Tibetan fonts and
    some Tibetan Machine Uni PDFs put glyphs there (NORMALIZATION.md, "Damaged input"); the real
    sample has none, so any is a sign of a legacy-font extraction."""
    max_legacy_font_share: float = 0.1
    """Largest share of non-space characters in Latin runs that look like a legacy Tibetan font read
    as ASCII (Sambhota/Dedris, TMW: "G-iR-bR-;R-", '-' being the tsheg). 0 of 416 real files has
    any such run; 10% tolerates a stray romanised title while catching a page of font garbage."""
    min_tibetan_share: float = 0.8
    """Smallest share of letters that are Tibetan (U+0F40-0FBC: consonants, vowel signs, subjoined
    letters) among all letters. FineWeb-2 uses a GlotLID score (0.682 for bod_Tibt) instead, which
    needs a model; this script share is the cheap stand-in. Real sample files are >= 0.95 (the
    lowest is a Nanhai text naming English people and places); 0.8 keeps bilingual asides."""
    min_syllables: int = 50
    """Fewest syllables in a document. Gopher/FineWeb's min_doc_words is 50 words; a Tibetan word
    averages about 1.5 syllables, so 50 syllables is a slightly more lenient minimum."""
    stop_syllables: tuple[str, ...] = (
        "དང", "ལ", "ཀྱི", "དུ", "ནས", "གི", "གྱི", "ནི",
        "ཀྱིས", "གྱིས", "ལས", "སུ", "ཏུ", "ར", "ཀྱང", "ཡང", "ཏེ", "སྟེ", "དེ",
    )  # fmt: skip
    """Tibetan function syllables (case particles, connectives). The first eight are FineWeb-2's
    bod_Tibt stop words with the tsheg stripped; the shad (also a FineWeb-2 stop word) is counted
    separately as one more when the text contains it."""
    min_stop_syllables: int = 2
    """Fewest distinct stop syllables present (datatrove GopherQualityFilter `min_stop_words=2`)."""
    max_invalid_syllable_share: float = 0.3
    """Largest share of syllables that fail `is_valid_syllable` (botok's standard-Tibetan check),
    Tibetan digit groups excluded. Sanskrit mantras and Old Tibetan orthography (reverse gigu) are
    legitimately non-standard, so this is loose; broken ToUnicode maps push it far higher."""
    max_newline_ratio: float | None = 0.417
    """Largest lines-per-word ratio (FineWeb-2 bod_Tibt `new_line_ratio`; words estimated as
    syllables / syllables_per_word; blank lines not counted). Catches page-number lists and menus."""
    min_line_punct_frac: float | None = None
    """Smallest share of lines ending in a shad/terminal mark (implied shad after ཀ/ག/ཤ counted).
    Off by default like FineWeb-2 bod_Tibt (`line_punct_thr: 0.0`): classical e-texts break lines
    at folio lines (`[1b.2]...`), mid-sentence. The measure is kept in meta for analysis."""
    max_dup_line_frac: float | None = 0.261
    """Largest fraction of non-empty lines that repeat an earlier line (FineWeb-2 bod_Tibt)."""
    top_ngram_fracs: tuple[float, ...] = (0.206, 0.205, 0.175)
    """Largest character share of the most frequent 2-, 3-, 4-word gram (FineWeb-2 bod_Tibt
    top_n_grams), measured over `word_ngram_syllables(n)` syllables."""
    dup_ngram_fracs: tuple[float, ...] = (0.174, 0.153, 0.14, 0.129, 0.115, 0.102)
    """Largest character share of duplicated 5..10-word grams (FineWeb-2 bod_Tibt dup_n_grams, per
    n), measured over `word_ngram_syllables(n)` syllables."""
    max_short_unterminated_line_frac: float | None = 0.85
    """Largest share of non-empty lines that are short (< `short_line_syllables`) and end without a
    sentence end, among the lines with Tibetan letters (>= 10 of them): headline and link lists, whose lines are cut-off
    titles. On the labelled set (bench/filters.py) good documents reach 0.77 (children's books:
    a title line per page) and link lists start at 0.91."""
    short_line_syllables: int = 20
    """A line under this many syllables is short for `max_short_unterminated_line_frac`."""
    genre_thresholds: dict[str, GenreThresholds] = field(default_factory=lambda: dict(GENRE_THRESHOLDS))
    """Per-genre (sources.yaml `genre`) overrides of the repetition and syllable rules: songs with
    refrains, folk tales with formulas and liturgy are repetitive by design, so FineWeb-2's web
    thresholds dropped 18 of 259 good documents of the labelled set. Values calibrated per genre
    in bench/filters.py; a genre not listed uses the values above."""

    def __post_init__(self) -> None:
        for name in ("max_legacy_font_share", "min_tibetan_share", "max_invalid_syllable_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"filter.{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("max_dup_line_frac", "min_line_punct_frac"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise ValueError(f"filter.{name} must be in [0, 1] or null, got {v}")
        if not 0.5 <= self.syllables_per_word <= 4.0:
            raise ValueError(f"filter.syllables_per_word must be in [0.5, 4], got {self.syllables_per_word}")
        if self.max_newline_ratio is not None and self.max_newline_ratio <= 0:
            raise ValueError("filter.max_newline_ratio must be > 0 or null")
        for name in ("max_private_use_chars", "min_syllables", "min_stop_syllables"):
            if getattr(self, name) < 0:
                raise ValueError(f"filter.{name} must be >= 0")
        if self.min_stop_syllables > len(self.stop_syllables) + 1:
            raise ValueError("filter.min_stop_syllables exceeds the number of stop syllables (+ shad)")
        for name in ("top_ngram_fracs", "dup_ngram_fracs"):
            if any(not 0.0 < v <= 1.0 for v in getattr(self, name)):
                raise ValueError(f"filter.{name} values must be in (0, 1]")
        self.stop_syllables = tuple(self.stop_syllables)
        v = self.max_short_unterminated_line_frac
        if v is not None and not 0.0 <= v <= 1.0:
            raise ValueError(f"filter.max_short_unterminated_line_frac must be in [0, 1] or null, got {v}")
        for genre, gt in self.genre_thresholds.items():
            if not isinstance(gt, GenreThresholds):
                raise ValueError(f"filter.genre_thresholds.{genre} must be a mapping of thresholds")
        self._by_genre: dict[str | None, FilterConfig] = {}
        self.top_ngram_fracs = tuple(self.top_ngram_fracs)
        self.dup_ngram_fracs = tuple(self.dup_ngram_fracs)

    def for_genre(self, genre: str | None) -> FilterConfig:
        """This config with `genre_thresholds[genre]` applied (built once per genre)."""
        if genre not in self._by_genre:
            gt = self.genre_thresholds.get(genre) if genre else None
            if gt is None:
                self._by_genre[genre] = self
            else:
                over = {k: v for k, v in asdict(gt).items() if v is not None}
                self._by_genre[genre] = replace(self, genre_thresholds={}, **over)
        return self._by_genre[genre]

    def word_ngram_syllables(self, n: int) -> int:
        """Syllables spanned by an n-word window (at least n): 2,3,4 -> 3,4,5; 5..10 -> 6,8,9,10,11,13."""
        return max(n, int(n * self.syllables_per_word + 0.5))

    TOP_NGRAM_MIN_N = 2
    """top_ngram_fracs[i] applies to n = TOP_NGRAM_MIN_N + i (Gopher: 2, 3, 4)."""
    DUP_NGRAM_MIN_N = 5
    """dup_ngram_fracs[i] applies to n = DUP_NGRAM_MIN_N + i (Gopher: 5..10)."""


# --------------------------------------------------------------------------------------------------
# Rules: (measures, cfg) -> Drop | None. Measures live in `tibcpt.pipeline.text.measures`; a rule
# reads what it needs from the document's `DocMeasures` (computed once, shared by the rules).

Rule = Callable[[DocMeasures, FilterConfig], "Drop | None"]


def rule_legacy_font(m: DocMeasures, cfg: FilterConfig) -> Drop | None:
    pua = private_use_count(m.text)
    if pua > cfg.max_private_use_chars:
        return Drop("legacy_font_or_garbage", f"private_use_chars={pua} > {cfg.max_private_use_chars}")
    share = legacy_font_share(m.text)
    if share > cfg.max_legacy_font_share:
        return Drop("legacy_font_or_garbage", f"legacy_font_share={share:.3f} > {cfg.max_legacy_font_share}")
    return None


def rule_tibetan_share(m: DocMeasures, cfg: FilterConfig) -> Drop | None:
    share = m.tibetan_share
    if share < cfg.min_tibetan_share:
        return Drop("low_tibetan_share", f"tibetan_share={share:.3f} < {cfg.min_tibetan_share}")
    return None


def rule_min_syllables(m: DocMeasures, cfg: FilterConfig) -> Drop | None:
    if len(m.syls) < cfg.min_syllables:
        return Drop("too_few_syllables", f"n_syllables={len(m.syls)} < {cfg.min_syllables}")
    return None


def rule_stop_syllables(m: DocMeasures, cfg: FilterConfig) -> Drop | None:
    found = len(set(cfg.stop_syllables).intersection(m.syls)) + ("\u0f0d" in m.text)
    if found < cfg.min_stop_syllables:
        return Drop("no_stop_syllables", f"stop_syllables={found} < {cfg.min_stop_syllables}")
    return None


def rule_invalid_syllables(m: DocMeasures, cfg: FilterConfig) -> Drop | None:
    share = invalid_syllable_share(m.syls)
    if share > cfg.max_invalid_syllable_share:
        return Drop("invalid_syllables", f"invalid_share={share:.3f} > {cfg.max_invalid_syllable_share}")
    return None


def rule_newline_ratio(m: DocMeasures, cfg: FilterConfig) -> Drop | None:
    if cfg.max_newline_ratio is None or not m.syls:
        return None
    # Non-empty lines, not raw "\n" as datatrove counts: normalize keeps one blank line between
    # paragraphs, which would double-count every paragraph break (26 vs 9 of 262 children's books
    # dropped; the 9 left are < 150-syllable PDFs that are mostly page numbers).
    ratio = len(m.lines) * cfg.syllables_per_word / len(m.syls)
    if ratio > cfg.max_newline_ratio:
        return Drop("list_ratio", f"lines_per_word={ratio:.3f} > {cfg.max_newline_ratio}")
    return None


def rule_line_punct(m: DocMeasures, cfg: FilterConfig) -> Drop | None:
    if cfg.min_line_punct_frac is None:
        return None
    frac = line_punct_frac(m.lines)
    if frac < cfg.min_line_punct_frac:
        return Drop("line_punct", f"line_punct_frac={frac:.3f} < {cfg.min_line_punct_frac}")
    return None


def rule_short_unterminated_lines(m: DocMeasures, cfg: FilterConfig) -> Drop | None:
    if cfg.max_short_unterminated_line_frac is None or len(m.lines) < 10:
        return None
    frac, counted = short_unterminated_line_frac(m.lines, cfg.short_line_syllables)
    if counted >= 10 and frac > cfg.max_short_unterminated_line_frac:
        thr = cfg.max_short_unterminated_line_frac
        return Drop("link_list", f"short_unterminated_line_frac={frac:.3f} > {thr}")
    return None


def rule_dup_lines(m: DocMeasures, cfg: FilterConfig) -> Drop | None:
    if cfg.max_dup_line_frac is None:
        return None
    frac = dup_line_frac(m.lines)
    if frac > cfg.max_dup_line_frac:
        return Drop("dup_line_frac", f"dup_line_frac={frac:.3f} > {cfg.max_dup_line_frac}")
    return None


def rule_top_ngrams(m: DocMeasures, cfg: FilterConfig) -> Drop | None:
    """Gopher top 2/3/4-word-gram character fractions, over syllable windows."""
    if not m.text or len(m.syls) < 2:
        return None
    for i, thr in enumerate(cfg.top_ngram_fracs):
        n = cfg.TOP_NGRAM_MIN_N + i
        frac = top_ngram_chars(m.ngrams, cfg.word_ngram_syllables(n)) / len(m.text)
        if frac > thr:
            return Drop(f"top_{n}gram", f"top_{n}gram_frac={frac:.3f} > {thr}")
    return None


def rule_dup_ngrams(m: DocMeasures, cfg: FilterConfig) -> Drop | None:
    """Gopher duplicated 5..10-word-gram character fractions, over syllable windows."""
    if not m.text or len(m.syls) < 2:
        return None
    idx, total = m.ngrams, len(m.text)
    sizes = [cfg.word_ngram_syllables(cfg.DUP_NGRAM_MIN_N + i) for i in range(len(cfg.dup_ngram_fracs))]
    # One bound at the smallest size clears every size whose threshold it is under (bound is
    # non-increasing in n); the exact greedy scan runs only where it is not.
    smallest = min(sizes, default=0)
    bound = dup_ngram_bound(idx, smallest) if sizes else 0
    for i, (thr, size) in enumerate(zip(cfg.dup_ngram_fracs, sizes)):
        if bound <= thr * total:
            continue
        # At the smallest size the bound just failed: no limit, so it is not computed again.
        frac = dup_ngram_chars(idx, size, limit=None if size == smallest else thr * total) / total
        if frac > thr:
            n = cfg.DUP_NGRAM_MIN_N + i
            return Drop(f"dup_{n}gram", f"dup_{n}gram_frac={frac:.3f} > {thr}")
    return None


TEXT_RULES: tuple[Rule, ...] = (rule_legacy_font, rule_tibetan_share)
"""Rules that need only the text: run first, before paying for syllabification."""
SYLLABLE_RULES: tuple[Rule, ...] = (
    rule_min_syllables,
    rule_stop_syllables,
    rule_newline_ratio,
    rule_line_punct,
    rule_short_unterminated_lines,
    rule_dup_lines,
    rule_invalid_syllables,
    rule_top_ngrams,
    rule_dup_ngrams,
)
"""Cheap-first: O(1)/set lookups, then line scans, then per-syllable checks, then n-gram hashing."""


def check_measures(m: DocMeasures, cfg: FilterConfig, genre: str | None = None) -> Drop | None:
    """Run every rule in order on one document's measures; the first drop, or None if kept.
    `genre` (the source's genre) selects `cfg.genre_thresholds[genre]`."""
    cfg = cfg.for_genre(genre)
    for rule in TEXT_RULES:
        if (drop := rule(m, cfg)) is not None:
            return drop
    for rule in SYLLABLE_RULES:
        if (drop := rule(m, cfg)) is not None:
            return drop
    return None


def check(text: str, cfg: FilterConfig, syls: list[str] | None = None, genre: str | None = None) -> Drop | None:
    """Run every rule in order; return the first drop, or None if the document is kept.

    `genre` (the source's genre) selects `cfg.genre_thresholds[genre]`."""
    return check_measures(DocMeasures(text, syls), cfg, genre)


class QualityFilter(Stage):
    """Drop documents that fail a quality rule; keep `tibetan_share` in meta (cheap, useful later).

    A document's genre is `doc.meta["genre"]` if set, else `source_genres[doc.source]` (the runner
    knows each source's genre from sources.yaml)."""

    name = "filter"

    def __init__(self, cfg: FilterConfig | None = None, source_genres: dict[str, str] | None = None) -> None:
        self.cfg = cfg or FilterConfig()
        self.source_genres = dict(source_genres or {})

    def process(self, docs: list[Document], stats: StageStats, rejects: list[Rejection]) -> list[Document]:
        if not self.cfg.enabled:
            return list(docs)
        kept = []
        for doc in docs:
            m = DocMeasures(doc.text)  # per-document state: lives and dies with this iteration
            doc.meta["tibetan_share"] = round(m.tibetan_share, 4)
            genre = doc.meta.get("genre") or self.source_genres.get(doc.source)
            drop = check_measures(m, self.cfg, genre)
            if drop is None:
                kept.append(doc)
            else:
                self.reject(doc, str(drop), stats, rejects, drop.detail)
        return kept


__all__ = [
    "DocMeasures", "Drop", "FilterConfig", "QualityFilter", "check", "check_measures",
    "dup_line_frac", "invalid_syllable_share", "legacy_font_share", "line_punct_frac",
    "private_use_count", "tibetan_share",
]  # fmt: skip
