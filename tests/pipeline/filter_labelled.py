"""Labelled quality-filter set: real good Tibetan documents by genre, and bad ones made from real text
by realistic corruptions (shared by tests/pipeline/test_filters.py and bench/filters.py).

Built at run time from ../shared (never copied into the repository); deterministic for a seed.

Good documents (label "good"), each with its source's genre as in sources.yaml:
  story       children's books (Esukhia children's stories, through normalize + clean + re-join as in
              the pipeline; African Storybook stories, Markdown title/footer removed) - many repeat a
              refrain page after page
  song/prose  Nanhai modern writing (rejoined): folk tales, songs with refrains (mgur), riddle lists,
              essays, education news and academic prose (the sample's only news/textbook-like
              register: ../shared has no news site or textbook text)
  verse       Milarepa's and Marpa's biographies (songs in verse), Old Tibetan chronicle/annals
  liturgy     Derge Kangyur texts split per canonical text ({D...}): Vinaya, sutras, tantras, dhāraṇīs
  legal       the UDHR, three to six articles per document
Documents under 50 syllables are left out of the good set: the minimum length is a policy, not a
quality judgement, and is tested on its own.

Bad documents (label = kind), the genre of the text they were made from (web chrome gets "web"):
  menu          navigation items (real 1-3 syllable words) one per line or `|`-separated
  link_list     headline lists: real sentence openings, 5-14 syllables, with dates/view counts
  boilerplate   a one-sentence teaser under a site's Tibetan/English chrome (login, share, ©)
  wrong_lang    English (wikitext-2), Tibetan mojibake (UTF-8 read as cp1252), Tibetan in Wylie
  legacy_font   Tibetan through an ASCII font map (Sambhota/TMW style, '-' for tsheg) or private use
  ocr_garbage   heavy OCR damage: look-alike letters, lost tshegs, stray marks, scrambled stacks
  spam          one paragraph pasted 2-6 times, keyword stuffing, template lines with one slot
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tibcpt.pipeline.text.normalize import normalize
from tibcpt.pipeline.text.segment import rejoin_segmented, sentences, syllables

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = SHARED / "corpus"
TSHEG, SHAD = "\u0f0b", "\u0f0d"
_TIB = re.compile("[\u0f40-\u0fbc]")
_MARKUP = [
    (re.compile(r"\(([^(),]*),([^(),]*)\)"), r"\2"),
    (re.compile(r"\[[^\]]*\]|\{[^}]*\}|\(\d+\)|#[^\n]*"), ""),
]
STOP = {"དང", "ལ", "ཀྱི", "དུ", "ནས", "གི", "གྱི", "ནི", "ཀྱིས", "གྱིས", "ལས", "སུ", "ཏུ", "ར", "ཀྱང", "ཡང", "ཏེ", "སྟེ", "དེ"}


@dataclass
class Item:
    id: str
    text: str
    genre: str
    label: str
    """"good" or the bad kind (menu, link_list, ...)."""
    kind: str = ""
    """Finer description: the good category (story, verse, ...) or how the bad one was made."""


@dataclass
class FilterSet:
    items: list[Item] = field(default_factory=list)

    @property
    def good(self) -> list[Item]:
        return [x for x in self.items if x.label == "good"]

    @property
    def bad(self) -> list[Item]:
        return [x for x in self.items if x.label != "good"]


# --- good documents ----------------------------------------------------------------------------


@cache
def _cleaner():
    from tibcpt.pipeline.text.clean import Cleaner

    return Cleaner()


def as_in_pipeline(text: str, source: str, segmented: bool) -> str:
    """What the filter stage receives: normalize -> clean (the source's rules) -> re-join segmented text."""
    from collections import Counter

    cleaner = _cleaner()
    text = cleaner.clean(normalize(text), cleaner.rules_for(source), Counter())
    return rejoin_segmented(text) if segmented else text


def _children(path: Path) -> str:
    return as_in_pipeline(path.read_text(encoding="utf-8"), "childrens-stories", True)


def _asp(path: Path) -> str:
    body = [ln for ln in path.read_text(encoding="utf-8").split("\n") if not ln.startswith(("* ", "#"))]
    return normalize("\n".join(body))


def _etext(rel: str) -> str:
    raw = (CORPUS / rel).read_text(encoding="utf-8-sig")
    for rx, rep in _MARKUP:
        raw = rx.sub(rep, raw)
    return raw


@cache
def kangyur_texts() -> tuple[str, ...]:
    out = []
    for rel in (
        "classical/derge-kangyur/vol001_vinaya_ka.txt",
        "classical/derge-kangyur/vol060_sutra_ma.txt",
        "classical/derge-kangyur/vol090_tantra_pha.txt",
    ):
        raw = (CORPUS / rel).read_text(encoding="utf-8-sig")
        for part in re.split(r"\{D\d+[^}]*\}", raw):
            for rx, rep in _MARKUP:
                part = rx.sub(rep, part)
            part = normalize(re.sub(r"\s*\n\s*", " ", part)).strip()
            if part:
                out.append(part)  # whole: repetition grows with length (Vinaya: 0.85)
    return tuple(out)


def _chunks(text: str, rng: random.Random, n: int, lo: int = 1500, hi: int = 6000) -> list[str]:
    """n chunks of lo..hi characters cut at line (or sentence) ends."""
    out = []
    for _ in range(n):
        size = rng.randint(lo, hi)
        a = rng.randrange(0, max(1, len(text) - size))
        a = text.find("\n", a) + 1 if "\n" in text[a : a + size // 2] else a
        chunk = text[a : a + size]
        cut = max(chunk.rfind("\n"), chunk.rfind(SHAD))
        out.append(chunk[: cut + 1] if cut > len(chunk) // 2 else chunk)
    return out


def good_documents(
    rng: random.Random, n_children: int = 80, n_asp: int = 20, n_nanhai: int = 80, all_kangyur: bool = True
) -> list[Item]:
    items: list[Item] = []
    kids = sorted((CORPUS / "modern/childrens-stories").glob("*.txt"))
    for p in rng.sample(kids, min(n_children, len(kids))):
        items.append(Item(f"children/{p.stem}", _children(p), "children", "good", "story"))
    asp = sorted((CORPUS / "modern/global-asp-stories").glob("*.md"))
    for p in rng.sample(asp, min(n_asp, len(asp))):
        items.append(Item(f"asp/{p.stem[:4]}", _asp(p), "children", "good", "story"))
    nanhai = sorted((CORPUS / "modern/nanhai-modern-writing").glob("*.txt"))
    must = {"C-D-DL-L-KY-16", "C-D-DL-A-KY-06", "C-D-PD-075", "C-D-PD-080", "C-D-PD-096", "C-D-DL-L-KY-03"}
    rest = [p for p in nanhai if p.stem not in must]
    pick = [p for p in nanhai if p.stem in must] + rng.sample(rest, min(n_nanhai, len(rest)))
    for p in pick[:n_nanhai]:
        text = as_in_pipeline(p.read_text(encoding="utf-8"), "nanhai-modern-writing", True)
        items.append(Item(f"nanhai/{p.stem}", text, "literature", "good", "prose/song"))
    for rel, n in (("mila", 12), ("marpa", 8), ("bu_ston", 4), ("taranatha", 4), ("mdzangs_blun", 4)):
        text = normalize((CORPUS / f"classical/classical-tibetan-corpus/{rel}.txt").read_text(encoding="utf-8"))
        for i, c in enumerate(_chunks(text, rng, n)):
            items.append(Item(f"classical/{rel}#{i}", c, "history", "good", "verse/biography"))
    for rel in ("otannals", "otchronicle"):
        text = normalize(_etext(f"classical/old-tibetan-corpus/{rel}.txt"))
        for i, c in enumerate(_chunks(text, rng, 4)):
            items.append(Item(f"old/{rel}#{i}", c, "history", "good", "chronicle"))
    kg = [t for t in kangyur_texts() if len(syllables(t)) >= 50]
    # all of them (the tails: Vinaya formulas, dhāraṇīs); tests take the short ones
    for i, t in enumerate(kg if all_kangyur else [t for t in kg if len(t) < 5000]):
        items.append(Item(f"kangyur#{i}", t, "religious", "good", "liturgy/dharani/sutra"))
    udhr = [ln for ln in normalize((CORPUS / "modern/udhr/udhr_bod.txt").read_text(encoding="utf-8")).split("\n") if ln]
    i = 0
    while i < len(udhr):
        k = rng.randint(6, 14)
        items.append(Item(f"udhr#{i}", "\n".join(udhr[i : i + k]), "legal", "good", "legal"))
        i += k
    return [x for x in items if len(syllables(x.text)) >= 50]


# --- bad documents -----------------------------------------------------------------------------

_CHROME_BO = [
    "མདུན་ངོས།", "གསར་འགྱུར།", "བོད་ལྗོངས།", "རྒྱལ་ཁབ།", "འཛམ་གླིང་།", "དཔལ་འབྱོར།", "རིག་གནས།", "སློབ་གསོ།",
    "བརྙན་ཟློས།", "པར་རིས།", "ང་ཚོའི་སྐོར།", "འབྲེལ་གཏུག", "ནང་འཛུལ།", "ཐོ་འགོད།", "འཚོལ་ཞིབ།", "མཉམ་སྤྱོད།",
    "དཔར་འདེབས།", "སྔོན་མ།", "རྗེས་མ།", "ཚང་མ་ལྟ་བ།", "གསར་འགྱུར་གཞན།", "པར་དབང་ཡོད།", "ཀློག་ཐེངས།",
]  # fmt: skip
_CHROME_EN = ["Home", "Login", "Register", "Share", "Facebook", "Twitter", "WeChat", "Print", "Contact us",
              "© 2024 All rights reserved.", "Privacy policy", "Terms of use", "Subscribe", "RSS"]  # fmt: skip


def _sentence_pool(texts: list[str]) -> list[str]:
    return [s for t in texts for s in sentences(t) if 8 <= len(syllables(s)) <= 60]


def _words(texts: list[str]) -> list[str]:
    syl = [s for t in texts for s in syllables(t) if s not in STOP and len(s) > 1]
    return [TSHEG.join(syl[i : i + k]) for i, k in zip(range(0, len(syl) - 3, 3), [1, 2, 3] * len(syl))]


def menu(rng: random.Random, words: list[str]) -> str:
    items = rng.sample(_CHROME_BO, 8) + rng.sample(words, rng.randint(20, 60))
    if rng.random() < 0.5:
        return "\n".join(w + SHAD for w in items)
    return "\n".join(" | ".join(items[i : i + 8]) for i in range(0, len(items), 8))


def link_list(rng: random.Random, sents: list[str]) -> str:
    lines = []
    for s in rng.sample(sents, rng.randint(15, 40)):
        head = TSHEG.join(syllables(s)[: rng.randint(5, 14)])
        tail = rng.choice([f" 2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                           f" (ཀློག་ཐེངས། {rng.randint(10, 9999)})", "", " >>"])  # fmt: skip
        lines.append(head + tail)
    return "\n".join(lines)


def boilerplate(rng: random.Random, sents: list[str]) -> str:
    top = " ".join(rng.sample(_CHROME_BO, 10)) + "\n" + " ".join(rng.sample(_CHROME_EN, 6))
    body = " ".join(rng.sample(sents, rng.randint(1, 2)))
    foot = "\n".join(rng.sample(_CHROME_BO, 8) + rng.sample(_CHROME_EN, 5))
    return f"{top}\n{body}\n{foot}"


def wrong_language(rng: random.Random, english: str, tib: str, k: int) -> tuple[str, str]:
    if k % 3 == 0:
        a = rng.randrange(len(english) - 5000)
        return english[a : a + rng.randint(1500, 5000)], "english"
    if k % 3 == 1:
        return tib.encode("utf-8").decode("cp1252", errors="replace"), "mojibake"
    return _wylie(tib), "wylie"


def _wylie(text: str) -> str:
    """Crude EWTS transliteration (enough to be Tibetan in Latin script, as sites and OCR give)."""
    table = dict(zip("ཀཁགངཅཆཇཉཏཐདནཔཕབམཙཚཛཝཞཟའཡརལཤསཧཨ",
                     ["k", "kh", "g", "ng", "c", "ch", "j", "ny", "t", "th", "d", "n", "p", "ph", "b", "m", "ts", "tsh", "dz", "w", "zh", "z", "'", "y", "r", "l", "sh", "s", "h", "a"]))  # fmt: skip
    table.update({chr(ord(c) + 0x50): v for c, v in table.items()})  # subjoined letters
    table.update({"\u0f72": "i", "\u0f74": "u", "\u0f7a": "e", "\u0f7c": "o", TSHEG: " ", SHAD: " /"})
    return "".join(table.get(c, c) for c in text)


_SAMBHOTA = {c: chr(0x21 + (i * 7) % 94) for i, c in enumerate(sorted(set(map(chr, range(0x0F40, 0x0FBD)))))}
_SAMBHOTA[TSHEG], _SAMBHOTA[SHAD] = "-", "/"


def legacy_font(rng: random.Random, tib: str, k: int) -> tuple[str, str]:
    if k % 2 == 0:
        # ASCII font map: each Tibetan glyph to a printable ASCII code, tsheg to '-' (Sambhota, TMW)
        return "".join(_SAMBHOTA.get(c, c) for c in tib), "ascii_font"
    # private-use glyph codes (Tibetan Machine Uni / Jomolhari PDFs without ToUnicode), in a document
    # whose first page or two did extract properly
    cut = len(tib) // rng.randint(3, 6)
    return tib[:cut] + "".join(chr(0xF000 + ord(c) - 0x0F00) if c >= "\u0f40" else c for c in tib[cut:]), "pua"


_LOOKALIKE = str.maketrans("ངདཏཔབམཙཚསཤཞཟ", "དངདབཔཙམཆཤསཟཞ")


def ocr_garbage(rng: random.Random, tib: str, rate: float) -> str:
    out = []
    for syl in re.split("(\u0f0b)", tib):
        r = rng.random()
        if syl == TSHEG:
            out.append(rng.choice(["", ".", "'", " "]) if rng.random() < rate else syl)
        elif r < rate * 0.4:
            out.append(syl[::-1])  # stack read bottom-up: vowel and subjoined marks first
        elif r < rate * 0.7:
            out.append(syl.translate(_LOOKALIKE) + rng.choice(["\u0f72\u0f72", "\u0f7c\u0f74", "\u0fb1\u0fb2"]))
        elif r < rate:
            out.append(rng.choice(["l", "|", "I", "1", "~", "^"]) + syl[1:])
        else:
            out.append(syl)
    return "".join(out)


def spam(rng: random.Random, sents: list[str], words: list[str], k: int) -> tuple[str, str]:
    if k % 3 == 0:
        para = " ".join(rng.sample(sents, rng.randint(2, 5)))
        return "\n".join([para] * rng.randint(2, 6)), "pasted_paragraph"
    if k % 3 == 1:
        kw = rng.choice(words) + TSHEG + rng.choice(words) + TSHEG
        body = " ".join(rng.sample(sents, 3))
        return body + " " + " ".join(kw * rng.randint(1, 3) for _ in range(rng.randint(40, 120))), "keyword_stuffing"
    slot = rng.sample(words, rng.randint(12, 30))
    tmpl = rng.choice(["{}་ཉོ་ཚོང་དང་གོང་ཚད་ལེགས་ཤོས། ཁེ་བ་ཆེ་ཤོས་ཀྱི་{}་ད་ལྟ་ཉོས།",
                       "{}་ལ་ཞིབ་འཇུག་བྱེད་ཐབས། {}་ཀྱི་སྐོར་ལ་ཤེས་དགོས་པ་ཚང་མ་འདིར་ཡོད།"])  # fmt: skip
    return "\n".join(tmpl.format(w, w) for w in slot), "template"


def bad_documents(rng: random.Random, good: list[Item], n_per_kind: int = 30) -> list[Item]:
    english = (SHARED / "general/english-wikitext2/valid.txt").read_text(encoding="utf-8")
    by_genre: dict[str, list[str]] = {}
    for g in good:
        by_genre.setdefault(g.genre, []).append(g.text)
    genres = sorted(by_genre)
    pools = {g: (_sentence_pool(t[:40]), _words(t[:40])) for g, t in by_genre.items()}
    web_sents = [s for g in genres for s in pools[g][0]]
    web_words = [w for g in genres for w in pools[g][1]]
    items: list[Item] = []

    def src(k: int) -> tuple[str, str]:
        g = genres[k % len(genres)]
        return g, rng.choice(by_genre[g])

    for k in range(n_per_kind):
        items.append(Item(f"menu#{k}", menu(rng, web_words), "web", "menu"))
        items.append(Item(f"links#{k}", link_list(rng, web_sents), "news", "link_list"))
        items.append(Item(f"chrome#{k}", boilerplate(rng, web_sents), "news", "boilerplate"))
        g, t = src(k)
        text, how = wrong_language(rng, english, t, k)
        items.append(Item(f"lang#{k}", text, "web" if how == "english" else g, "wrong_lang", how))
        g, t = src(k + 1)
        text, how = legacy_font(rng, t, k)
        items.append(Item(f"legacy#{k}", text, g, "legacy_font", how))
        g, t = src(k + 2)
        items.append(Item(f"ocr#{k}", ocr_garbage(rng, t, rng.uniform(0.25, 0.7)), g, "ocr_garbage"))
        g = genres[(k + 3) % len(genres)]
        text, how = spam(rng, *pools[g], k)
        items.append(Item(f"spam#{k}", text, g, "spam", how))
    return items


def build_filter_set(seed: int = 0, scale: float = 1.0) -> FilterSet:
    """The labelled set; `scale` < 1 gives a smaller one with the same mix (for tests)."""
    rng = random.Random(seed)
    s = lambda n: max(2, round(n * scale))  # noqa: E731
    # scale 1: every children's story and Nanhai text of the sample (their refrains are the tails)
    good = good_documents(rng, s(262), s(20), s(142), all_kangyur=scale >= 1)
    return FilterSet(good + bad_documents(rng, good, s(32)))
