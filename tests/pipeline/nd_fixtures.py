"""Labelled near-duplicate set built from the real Tibetan sample corpus (shared by tests and bench).

Passages of 150-400 syllables are cut from different files of ../shared/corpus (markup stripped,
`tibcpt.pipeline.text.normalize.normalize` applied). Each cluster is one passage plus edited copies; every
passage is checked to share < 10 % of its syllable 5-grams with all earlier ones, so the labels
are honest. Edits (kinds):
  indel       2-4 % of syllables inserted (from other passages) or deleted
  swap        two pairs of adjacent sentences swapped
  boilerplate a site header and footer (real udhr lines, the same on every page) added
  unicode     U+0F0C for tsheg, precomposed vowels (U+0F73/0F75/0F81), ZWSP after tshegs, ༎, BOM, NBSP
  truncate    a contiguous 50-85 % span (5-gram Jaccard to the source down to 0.5)
  mixed       boilerplate + unicode + 1 % indel
  repost      reposted on another site: that site's navigation and footer (10-35 % of the copy)
              around the text, half of them with a 0-2 % edit
  reorder     paragraphs (runs of 1-4 sentences) in another order
  partial     a contiguous 50-80 % of the passage followed by 20-40 % new text (a reworked
              article: 5-gram Jaccard 0.35-0.6)
  trunc40     a contiguous 40-50 % span (Jaccard ~ the length ratio, containment ~1)
  edits       many small edits: 8-14 % of syllables substituted, inserted or deleted, a few
              sentences merged or split (5-gram Jaccard 0.3-0.55)
Negatives: singleton passages, and hard negatives that must never be merged:
  vowel       a cluster's source passage with every vowel sign changed (ི→ུ→ེ→ོ→ི): same consonant
              skeleton, different words; a Mn-stripping normalizer (datatrove's) makes it identical
  formula     the same real ~30-syllable Kangyur opening (འདི་སྐད་བདག་གིས་ཐོས་པ་...) + different passages
  template    two different passages on the same site: the same navigation and footer, 10-35 % of
              each page (5-gram Jaccard up to ~0.3)
  quote       two different passages that quote the same 60-160-syllable passage
  canon       two neighbouring Kangyur texts of one volume (dhāraṇīs, sutras: stock openings,
              mantras and colophons in common); pairs sharing half of their 3-grams are left out
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tibcpt.pipeline.text.normalize import normalize
from tibcpt.pipeline.text.segment import SYLLABLE_CHARS, rejoin_segmented, sentences, syllables

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = SHARED / "corpus"

_FILES = [
    "classical/classical-tibetan-corpus/bu_ston.txt",
    "classical/classical-tibetan-corpus/marpa.txt",
    "classical/classical-tibetan-corpus/mdzangs_blun.txt",
    "classical/classical-tibetan-corpus/mila.txt",
    "classical/classical-tibetan-corpus/taranatha.txt",
    "classical/derge-kangyur/vol001_vinaya_ka.txt",
    "classical/derge-kangyur/vol060_sutra_ma.txt",
    "classical/derge-kangyur/vol090_tantra_pha.txt",
    "classical/old-tibetan-corpus/otchronicle.txt",
]
_SEGMENTED_DIR = "modern/nanhai-modern-writing"
# E-text markup of the Derge and Old Tibetan files: [1b.2] folio/line, {D172} text, (error,correction),
# (12) line numbers, [---] lacunae.
_MARKUP = [
    (re.compile(r"\(([^(),]*),([^(),]*)\)"), r"\2"),
    (re.compile(r"\[[^\]]*\]|\{[^}]*\}|\(\d+\)"), ""),
    (re.compile(r"\s*\n\s*"), " "),
]
_UNIT_RE = re.compile(f"[{SYLLABLE_CHARS}]+\u0f0b?")
_VOWEL_CYCLE = str.maketrans({"\u0f72": "\u0f74", "\u0f74": "\u0f7a", "\u0f7a": "\u0f7c", "\u0f7c": "\u0f72"})
FORMULA_ANCHOR = "འདི་སྐད་བདག་གིས་ཐོས་པ་དུས་གཅིག་ན"


@dataclass
class LabelledSet:
    docs: list[tuple[str, str, int]] = field(default_factory=list)
    """(id, text, source_rank) in the order near_dedup receives them."""
    label: dict[str, str] = field(default_factory=dict)
    """doc id -> true cluster label (singletons have their own)."""
    kind: dict[str, str] = field(default_factory=dict)
    """doc id -> original | indel | swap | boilerplate | unicode | truncate | mixed | repost | reorder |
    partial | trunc40 | edits | single | vowel | formula | template | quote."""
    source_of: dict[str, str] = field(default_factory=dict)
    """edited copy / vowel variant id -> the passage id it was made from."""
    hard_negatives: list[tuple[str, str, str]] = field(default_factory=list)
    """(id_a, id_b, kind) pairs that must end in different clusters."""


def mn_strip(text: str) -> str:
    """What datatrove's MinHash normalizer does to Tibetan: NFD, then drop every category-Mn char."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


@cache
def _window_source(rel: str) -> str:
    raw = (CORPUS / rel).read_text(encoding="utf-8-sig")
    for rx, rep in _MARKUP:
        raw = rx.sub(rep, raw)
    return raw


@cache
def _segmented_files() -> tuple[str, ...]:
    return tuple(sorted(str(p.relative_to(CORPUS)) for p in (CORPUS / _SEGMENTED_DIR).glob("*.txt")))


def _clean(rel: str, text: str) -> str:
    if rel.startswith(_SEGMENTED_DIR):
        text = rejoin_segmented(text)
    return normalize(text)


def cut_passage(rng: random.Random, rel: str, lo: int = 150, hi: int = 400) -> str | None:
    """Whole sentences from a random place in `rel` totalling lo..hi syllables (None if too short)."""
    src = _window_source(rel)
    target = rng.randint(lo, hi)
    start = rng.randrange(max(1, len(src) - 12 * hi))
    window = _clean(rel, src[start : start + 12 * hi])
    sents = sentences(window)[1:]  # the first one is cut mid-sentence
    out, n = [], 0
    for s in sents:
        k = len(syllables(s))
        if n + k > hi:
            break
        out.append(s)
        n += k
        if n >= target:
            break
    return " ".join(out) if n >= lo else None


def shingle_set(text: str, k: int = 5) -> set[tuple[str, ...]]:
    from tibcpt.pipeline.text.normalize import match_key

    s = syllables(match_key(text))
    return {tuple(s[i : i + k]) for i in range(len(s) - k + 1)}


def exact_jaccard(a: str, b: str) -> float:
    sa, sb = shingle_set(a), shingle_set(b)
    return len(sa & sb) / max(1, len(sa | sb))


# --- edits ---------------------------------------------------------------------------------------


def edit_indel(rng: random.Random, text: str, rate: float, donor: list[str]) -> str:
    units = _UNIT_RE.findall(text)
    spans = [m.span() for m in _UNIT_RE.finditer(text)]
    n_edits = max(1, round(rate * len(units)))
    out = text
    for s, e in sorted(rng.sample(spans, min(n_edits, len(spans))), reverse=True):
        if rng.random() < 0.5:
            out = out[:s] + out[e:]
        else:
            out = out[:s] + rng.choice(donor).rstrip("\u0f0b") + "\u0f0b" + out[s:]
    return out


def edit_swap(rng: random.Random, text: str) -> str:
    s = sentences(text)
    for _ in range(2):
        if len(s) >= 2:
            i = rng.randrange(len(s) - 1)
            s[i], s[i + 1] = s[i + 1], s[i]
    return " ".join(s)


def edit_boilerplate(rng: random.Random, text: str, header: str, footer: str) -> str:
    return f"{header}\n{text}\n{footer}"


def edit_unicode(rng: random.Random, text: str) -> str:
    t = text.replace("\u0f71\u0f72", "\u0f73").replace("\u0f71\u0f74", "\u0f75").replace("\u0f71\u0f80", "\u0f81")
    t = t.replace("།།", "༎").replace("། །", "༎ ")
    chars = []
    for c in t:
        if c == "\u0f0b":
            r = rng.random()
            chars.append("\u0f0c" if r < 0.3 else "\u0f0b\u200b" if r < 0.6 else c)
        else:
            chars.append(c)
    t = "".join(chars).replace(" ", "\u00a0", 3)
    return "\ufeff" + t


def edit_truncate(rng: random.Random, text: str) -> str:
    spans = [m.span() for m in _UNIT_RE.finditer(text)]
    frac = rng.uniform(0.5, 0.85)
    n = max(1, int(frac * len(spans)))
    s = rng.randrange(len(spans) - n + 1)
    return text[spans[s][0] : spans[s + n - 1][1]]


def edit_vowels(text: str) -> str:
    """Every i/u/e/o vowel sign replaced by the next one: same consonants, different words."""
    return text.translate(_VOWEL_CYCLE)


def edit_substitute(rng: random.Random, text: str, rate: float, donor: list[str]) -> str:
    """Many small edits: syllables replaced (spelling, OCR, a changed word), inserted or deleted."""
    spans = [m.span() for m in _UNIT_RE.finditer(text)]
    out = text
    for s, e in sorted(rng.sample(spans, min(len(spans), max(1, round(rate * len(spans))))), reverse=True):
        r = rng.random()
        word = rng.choice(donor).rstrip("\u0f0b") + "\u0f0b"
        if r < 0.5:
            out = out[:s] + word + out[e:]
        elif r < 0.75:
            out = out[:s] + word + out[s:]
        else:
            out = out[:s] + out[e:]
    return out.replace("། ", "་", 1).replace("ས་ན་", "ས། ན་", 1)


def edit_reorder(rng: random.Random, text: str) -> str:
    s = sentences(text)
    paras, i = [], 0
    while i < len(s):
        k = rng.randint(1, 4)
        paras.append(" ".join(s[i : i + k]))
        i += k
    if len(paras) >= 2:
        first = paras[:]
        while paras == first:
            rng.shuffle(paras)
    return "\n".join(paras)


def edit_span(rng: random.Random, text: str, lo: float, hi: float) -> str:
    spans = [m.span() for m in _UNIT_RE.finditer(text)]
    n = max(1, int(rng.uniform(lo, hi) * len(spans)))
    s = rng.randrange(len(spans) - n + 1)
    return text[spans[s][0] : spans[s + n - 1][1]]


def site_chrome(rng: random.Random, lines: list[str]) -> tuple[str, str]:
    """A site's header (navigation) and footer: real Tibetan lines plus the usual web furniture."""
    nav = " | ".join(rng.sample(_NAV, 9))
    head = nav + "\n" + rng.choice(lines)
    foot = " ".join(rng.sample(lines, rng.randint(1, 2))) + "\n" + " | ".join(rng.sample(_NAV, 6)) + " © 2024"
    return head, foot


_NAV = ["མདུན་ངོས།", "གསར་འགྱུར།", "བོད་ལྗོངས།", "རྒྱལ་ཁབ།", "འཛམ་གླིང་།", "དཔལ་འབྱོར།", "རིག་གནས།", "སློབ་གསོ།",
        "བརྙན་ཟློས།", "པར་རིས།", "ང་ཚོའི་སྐོར།", "འབྲེལ་གཏུག", "ནང་འཛུལ།", "ཐོ་འགོད།", "འཚོལ་ཞིབ།", "མཉམ་སྤྱོད།",
        "དཔར་འདེབས།", "སྔོན་མ།", "རྗེས་མ།", "གསར་འགྱུར་གཞན།", "པར་དབང་ཡོད།", "Home", "Share", "Print"]  # fmt: skip


def _grams(text: str, k: int) -> set[tuple[str, ...]]:
    from tibcpt.pipeline.text.normalize import match_key

    s = syllables(match_key(text))
    return {tuple(s[i : i + k]) for i in range(len(s) - k + 1)}


@cache
def _canon_texts() -> tuple[str, ...]:
    """Kangyur texts (one per {D...} marker) of 60-1500 syllables, in volume order (neighbours are
    often of one kind: dhāraṇī after dhāraṇī)."""
    out = []
    for vol in ("vol060_sutra_ma", "vol090_tantra_pha"):
        raw = (CORPUS / f"classical/derge-kangyur/{vol}.txt").read_text(encoding="utf-8-sig")
        for part in re.split(r"\{D\d+[^}]*\}", raw):
            for rx, rep in _MARKUP:
                part = rx.sub(rep, part)
            text = normalize(part).strip()
            if 60 <= len(syllables(text)) <= 1500:
                out.append(text)
    return tuple(out)


def _udhr_lines() -> list[str]:
    lines = [normalize(ln) for ln in (CORPUS / "modern/udhr/udhr_bod.txt").read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if 8 <= len(syllables(ln)) <= 25]


def _formula_openings(n_syl: int = 30) -> list[str]:
    """Real Kangyur sutra openings: the anchor phrase and what follows, cut to n_syl syllables."""
    src = _window_source("classical/derge-kangyur/vol060_sutra_ma.txt")
    out = []
    for m in re.finditer(FORMULA_ANCHOR, src):
        op = normalize(src[m.start() : m.start() + 20 * n_syl])
        spans = [x.span() for x in _UNIT_RE.finditer(op)]
        if len(spans) >= n_syl:
            out.append(op[: spans[n_syl - 1][1]])
    return out


def build_labelled_set(
    n_clusters: int = 60,
    n_single: int = 60,
    n_vowel: int = 20,
    n_formula: int = 20,
    seed: int = 0,
    n_template: int | None = None,
    n_quote: int | None = None,
    n_canon: int | None = None,
) -> LabelledSet:
    """Deterministic labelled set (same seed -> same docs); ids say kind and cluster."""
    rng = random.Random(seed)
    files = _FILES + list(_segmented_files()[:: max(1, len(_segmented_files()) // 12)])
    owner: dict[tuple[str, ...], int] = {}
    passages: list[str] = []

    def fresh() -> str:
        while True:
            rel = files[len(passages) % len(files)] if rng.random() < 0.7 else rng.choice(files)
            p = cut_passage(rng, rel)
            if p is None:
                continue
            sh = shingle_set(p)
            # Honest labels: a new passage may share at most 10 % of its 5-grams with earlier ones.
            if len(sh) < 100 or sum(1 for s in sh if s in owner) > 0.1 * len(sh):
                continue
            for s in sh:
                owner.setdefault(s, len(passages))
            passages.append(p)
            return p

    ls = LabelledSet()
    udhr = _udhr_lines()
    boiler = [(udhr[i], udhr[i + 1]) for i in range(0, 6, 2)]
    kinds = ["indel", "swap", "boilerplate", "unicode", "truncate", "mixed"]
    hard = ["repost", "reorder", "partial", "trunc40", "edits"]
    sites = [site_chrome(rng, udhr) for _ in range(8)]
    entries: list[tuple[str, str, str, str]] = []  # id, text, label, kind
    originals: list[tuple[str, str]] = []
    for c in range(n_clusters):
        p = fresh()
        cid = f"c{c:03d}"
        entries.append((f"{cid}-original", p, cid, "original"))
        originals.append((f"{cid}-original", p))
        # every cluster gets one or two of the hard edits and one to three of the easier ones
        chosen = rng.sample(hard, rng.randint(1, 2)) + rng.sample(kinds, rng.randint(1, 3))
        for k, kind in enumerate(chosen):
            donor = syllables(passages[rng.randrange(len(passages))])
            if kind == "indel":
                t = edit_indel(rng, p, rng.uniform(0.02, 0.04), donor)
            elif kind == "swap":
                t = edit_swap(rng, p)
            elif kind == "boilerplate":
                t = edit_boilerplate(rng, p, *rng.choice(boiler))
            elif kind == "unicode":
                t = edit_unicode(rng, p)
            elif kind == "truncate":
                t = edit_truncate(rng, p)
            elif kind == "repost":
                head, foot = rng.choice(sites)
                body = edit_indel(rng, p, rng.uniform(0.0, 0.02), donor) if rng.random() < 0.5 else p
                t = f"{head}\n{body}\n{foot}"
            elif kind == "reorder":
                t = edit_reorder(rng, p)
            elif kind == "partial":
                kept = edit_span(rng, p, 0.5, 0.8)
                new = fresh()
                n_new = int(len(syllables(p)) * rng.uniform(0.2, 0.4))
                t = kept + " " + "་".join(syllables(new)[:n_new]) + "།"
            elif kind == "trunc40":
                t = edit_span(rng, p, 0.4, 0.5)
            elif kind == "edits":
                t = edit_substitute(rng, p, rng.uniform(0.08, 0.14), donor)
            else:
                t = edit_unicode(rng, edit_boilerplate(rng, edit_indel(rng, p, 0.01, donor), *rng.choice(boiler)))
            did = f"{cid}-{kind}{k}"
            entries.append((did, t, cid, kind))
            ls.source_of[did] = f"{cid}-original"
    for s in range(n_single):
        entries.append((f"s{s:03d}", fresh(), f"s{s:03d}", "single"))
    for v in range(min(n_vowel, len(originals))):
        oid, p = originals[v]
        vid = f"v{v:03d}"
        entries.append((vid, edit_vowels(p), vid, "vowel"))
        ls.source_of[vid] = oid
        cid = oid.split("-")[0]
        ls.hard_negatives += [(vid, e[0], "vowel") for e in entries if e[2] == cid]
    openings = _formula_openings()
    groups: dict[int, list[str]] = {}
    for f in range(n_formula):
        g = f % max(1, min(4, len(openings)))
        fid = f"f{f:03d}"
        entries.append((fid, openings[g] + "། " + fresh(), fid, "formula"))
        for other in groups.get(g, []):
            ls.hard_negatives.append((other, fid, "formula"))
        groups.setdefault(g, []).append(fid)
    for t_i in range(n_formula if n_template is None else n_template):
        head, foot = sites[t_i % 2]  # two busy sites: many pages share their chrome
        a, b = f"t{t_i:03d}a", f"t{t_i:03d}b"
        for did in (a, b):
            entries.append((did, f"{head}\n{fresh()}\n{foot}", did, "template"))
        ls.hard_negatives.append((a, b, "template"))
    for q_i in range(n_formula if n_quote is None else n_quote):
        quote = "་".join(syllables(fresh())[: rng.randint(60, 160)]) + "།"
        a, b = f"q{q_i:03d}a", f"q{q_i:03d}b"
        for did in (a, b):
            p2 = sentences(fresh())
            cut = rng.randrange(1, max(2, len(p2)))
            entries.append((did, " ".join(p2[:cut]) + " " + quote + " " + " ".join(p2[cut:]), did, "quote"))
        ls.hard_negatives.append((a, b, "quote"))
    canon = _canon_texts()
    for c_i in range(min(n_formula if n_canon is None else n_canon, len(canon) // 2)):
        a_text, b_text = canon[2 * c_i], canon[2 * c_i + 1]
        sa, sb = _grams(a_text, 3), _grams(b_text, 3)
        if len(sa & sb) >= 0.5 * min(len(sa), len(sb)):
            continue  # the same text twice in the canon: a true near-duplicate, not a hard negative
        if any(sum(1 for g in shingle_set(t) if g in owner) > 0.1 * len(shingle_set(t)) for t in (a_text, b_text)):
            continue  # contains a passage cut for another document: labels would be wrong
        a, b = f"k{c_i:03d}a", f"k{c_i:03d}b"
        entries += [(a, a_text, a, "canon"), (b, b_text, b, "canon")]
        ls.hard_negatives.append((a, b, "canon"))
    rng.shuffle(entries)
    for i, (did, text, label, kind) in enumerate(entries):
        ls.docs.append((did, text, i % 3))
        ls.label[did] = label
        ls.kind[did] = kind
    return ls


def pair_metrics(ls: LabelledSet, duplicate_of: dict[str, str]) -> dict[str, float]:
    """Pairwise precision/recall/F1 of predicted clusters (id -> kept id) against the labels."""
    from collections import Counter

    pred = {d: duplicate_of.get(d, d) for d, _, _ in ls.docs}

    def pairs(counter: Counter) -> int:
        return sum(n * (n - 1) // 2 for n in counter.values())

    true_pairs = pairs(Counter(ls.label.values()))
    pred_pairs = pairs(Counter(pred.values()))
    tp = pairs(Counter((ls.label[d], pred[d]) for d in pred))
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    merged_hn = sum(1 for a, b, _ in ls.hard_negatives if pred[a] == pred[b])
    return {"precision": precision, "recall": recall, "f1": f1, "true_pairs": true_pairs,
            "pred_pairs": pred_pairs, "hard_negatives": len(ls.hard_negatives), "hard_negatives_merged": merged_hn}  # fmt: skip
