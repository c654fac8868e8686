from __future__ import annotations

from tibcpt.pipeline.dedup.exact import ExactDedupConfig, exact_duplicates, text_key


def test_exact_duplicates_keep_first_and_map_to_it(shared):
    text = (shared / "corpus/modern/udhr/udhr_bod.txt").read_text(encoding="utf-8")
    a, b = text[:2000], text[2000:4000]
    docs = [("x1", a), ("x2", b), ("x3", a), ("x4", a.replace("\n", "\n  ")), ("x5", b + "།")]
    dup = exact_duplicates(docs, ExactDedupConfig())
    assert dup == {"x3": "x1", "x4": "x1"}
    # Whitespace-sensitive mode keeps the re-wrapped copy.
    assert exact_duplicates(docs, ExactDedupConfig(strip_whitespace=False)) == {"x3": "x1"}
    assert exact_duplicates(docs, ExactDedupConfig(enabled=False)) == {}


def test_text_key_distinguishes_vowel_signs():
    # བོད vs བད: differ only in a vowel sign (category Mn) — must not collide.
    assert text_key("བོད་སྐད་ཀྱི") != text_key("བད་སད་ཀ")
