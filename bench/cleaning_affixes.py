"""Which bare affixes should re-joining word-segmented text attach to the syllable before them?

Word-segmented sources (nanhai-modern-writing, childrens-stories) write some affixes as words of
their own: "བ འི", "ང ས". Re-joining turns every space between syllables into a tsheg, so without
a rule these become free syllables ("བ་འི"). For each candidate affix this bench takes every case
"<syllable> <affix>" followed by a word boundary in the raw segmented text and asks how
unsegmented Tibetan writes the same pair: as one syllable ("བའི") or as two ("བ་འི"). The reference
is every unsegmented text of ../shared/corpus (classical-tibetan-corpus, old-tibetan-corpus,
derge-kangyur, udhr, global-asp-stories), normalized; a case is labelled by the majority form
there and left unlabelled when the reference never has it or has both equally often.

It scores three policies against those labels: never attach, always attach, and the rule that
`tibcpt.pipeline.text.segment.attach_affixes` implements (run on each case's own line, so context
rules such as "འོ only at a clause end" take part). Labels from a reference corpus are weak
evidence for the colloquial words (the pronoun འུ, "འོ" kiss / interjection), so the bench also
prints every bare འུ and འོ case for reading.

    .venv/bin/python bench/cleaning_affixes.py        # ~20 s; writes bench/results/cleaning_affixes.json
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

from tibcpt.pipeline.text.normalize import normalize
from tibcpt.pipeline.text.segment import SYLLABLE_CHARS, TSHEG, attach_affixes

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
AFFIXES = ("འི", "འོ", "འམ", "འང", "འུ", "ས", "ར")
SEGMENTED = ("modern/nanhai-modern-writing", "modern/childrens-stories")
REFERENCE = (
    "classical/classical-tibetan-corpus",
    "classical/old-tibetan-corpus",
    "classical/derge-kangyur",
    "modern/udhr",
    "modern/global-asp-stories",
)
_SYL = re.compile(f"[{SYLLABLE_CHARS}]+")

# Hand labels for the colloquial cases a reference corpus cannot decide, from reading each case in
# context (the bench prints them): (affix, syllable before, next token) -> True = affix, False = word.
# Left out as unclear: sounds (སྨེ འོ bleating, ཀོ་ཀོ འོ), loanwords (མེན་པ འོ bread, ཏོ འོ Taoism),
# a likely typo (སྟག་མོ འོ ཁ) and the child's syllable drill (འ འུ འ འུ).
_WORD = False
_AFFIX = True
HAND = {
    **{("འོ", p, n): _AFFIX for p, n in [("གདའ", "།"), ("ངུ", "།”"), ("ཆེ", "།"), ("ཆེ", "གྲོགས་པོ"),
        ("ཆེ", "དཀོན་མཆོག"), ("ཆེ", "རྒྱལ་པོ"), ("དཀའ", "།"), ("ན", "ཞེས"), ("པ", "།"), ("བཟའ", "སྙམ"),
        ("བལྟ", '"ཞེས'), ("བལྟ", '"ཟེར'), ("བལྟ", "སྙམ"), ("བལྟ", "སྙམ་པ"), ("བོ", "།"), ("བྱ", "།”"),
        ("བྱ", "སྙམ"), ("ཞུ", "།"), ("ཟ", "།"), ("འགྲོ", "།"), ("འགྲོ", "ཞེས"), ("འདྲ", "།"),
        ("འདྲི", '"ཞེས'), ("ཤི", "།")]},
    **{("འོ", p, n): _WORD for p, n in [("གིས", "ཛི"), ("ཏེ", "ཧོ་་་ཧོ་་"), ("ནིས", "རེད"), ("ཚོར", "བྱེད"),
        ("འདུག", "ཡག"), ("ཡིས", "ཧོ་་"), ("ར", "གཏན་ནས"), ("ར", "བྱེད་བཞིན"), ("ར", "ཞིག"), ("ར", "ཡ"),
        ("ར", "ཡག"), ("ལ", "གྲངས་མེད"), ("ལ", "བྱས"), ("ལ", "བྱས་པ"), ("ལ", "བྱེད"), ("ལ", "སྦྱར"),
        ("ས", "ད"), ("ས", "ཡ"), ("ས", "ཡག"), ("ས", "ལགས"), ("ས", "ལགས་སོ"), ("ས", "ལེགས་སོ")]},
    **{("འུ", p, n): _AFFIX for p, n in [("བྱི", "མཐོང"), ("མཚེ", "འི"), ("སྤྲེ", "ཡི")]},
    **{("འུ", p, n): _WORD for p, n in [("ད", "གཉིས"), ("ད", "གཉིས་ཀ"), ("ར", "གཉིས"), ("རིང", "གཉིས"),
        ("སྐབས", "ཚོས")]},
}  # fmt: skip


def read(folder: str) -> str:
    files = sorted(p for p in (CORPUS / folder).iterdir() if p.suffix in (".txt", ".md"))
    return "\n".join(p.read_text(encoding="utf-8-sig") for p in files)


def reference_counts(text: str) -> tuple[Counter, Counter]:
    """(syllable counts, counts of two syllables joined by a tsheg)."""
    sylls = Counter()
    pairs = Counter()
    prev, prev_end = None, -2
    for m in _SYL.finditer(text):
        s = m.group()
        sylls[s] += 1
        if prev is not None and m.start() == prev_end + 1 and text[prev_end] == TSHEG:
            pairs[(prev, s)] += 1
        prev, prev_end = s, m.end()
    return sylls, pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "bench/results/cleaning_affixes.json"))
    args = ap.parse_args()
    sylls, pairs = reference_counts(normalize("\n".join(read(f) for f in REFERENCE)))
    results: dict[str, dict] = {}
    readings: dict[str, list[str]] = {"འུ": [], "འོ": []}
    for affix in AFFIXES:
        case_re = re.compile(f"(?<![{SYLLABLE_CHARS}])([{SYLLABLE_CHARS}]+) +{affix}(?![{SYLLABLE_CHARS}{TSHEG}])")
        score = Counter()
        for folder in SEGMENTED:
            text = read(folder)
            for m in case_re.finditer(text):
                prev = m.group(1)
                line_end = text.find("\n", m.end())
                snippet = text[m.start() : line_end if line_end >= 0 else len(text)]
                # Attached iff the space after `prev` is gone (affixes are >= 1 char, the a-chung 1).
                rule = " " not in attach_affixes(snippet)[: len(prev) + 1]
                joined = sylls[prev.removesuffix("འ") + affix] + (sylls[prev + affix] if prev.endswith("འ") else 0)
                apart = pairs[(prev, affix)]
                score["cases"] += 1
                score["rule_attaches"] += rule
                if affix in readings:
                    readings[affix].append(
                        f"{'JOIN' if rule else 'WORD'} {text[max(0, m.start() - 15) : m.end() + 15]}"
                    )
                nxt = re.match(r"[ ]*(\S*)", text[m.end() :]).group(1)
                hand = HAND.get((affix, prev, nxt))
                if hand is not None:
                    score["hand_labelled"] += 1
                    score["hand_rule_correct"] += rule == hand
                    score["hand_always_correct"] += hand
                if joined == apart:
                    score["unlabelled"] += 1
                    continue
                label = joined > apart
                score["labelled"] += 1
                score["label_attached"] += label
                score["never_correct"] += not label
                score["always_correct"] += label
                score["rule_correct"] += rule == label
        lab = score["labelled"] or 1
        results[affix] = {
            **dict(score),
            "never_accuracy": round(score["never_correct"] / lab, 4),
            "always_accuracy": round(score["always_correct"] / lab, 4),
            "rule_accuracy": round(score["rule_correct"] / lab, 4),
        }
        if score["hand_labelled"]:
            h = score["hand_labelled"]
            results[affix]["hand_rule_accuracy"] = round(score["hand_rule_correct"] / h, 4)
            results[affix]["hand_always_accuracy"] = round(score["hand_always_correct"] / h, 4)
            results[affix]["hand_never_accuracy"] = round(1 - score["hand_always_correct"] / h, 4)
        print(
            f"{affix}: {score['cases']} cases ({score['labelled']} labelled), rule attaches {score['rule_attaches']}; "
            f"accuracy never {results[affix]['never_accuracy']:.3f} always {results[affix]['always_accuracy']:.3f} "
            f"rule {results[affix]['rule_accuracy']:.3f}"
            + (
                f"; hand-read {score['hand_labelled']}: never {results[affix]['hand_never_accuracy']:.3f} "
                f"always {results[affix]['hand_always_accuracy']:.3f} rule {results[affix]['hand_rule_accuracy']:.3f}"
                if score["hand_labelled"]
                else ""
            )
        )
    out = {
        "segmented": list(SEGMENTED),
        "reference": list(REFERENCE),
        "affixes": results,
        "readings": readings,
    }
    Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
