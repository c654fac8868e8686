"""Text: Tibetan-aware stages over extracted documents: normalize -> segment -> filter.

Owns: `normalize` (lossless Unicode rules and the lossy match key), `segment` (syllables, sentences,
re-joining word-segmented text), `filters` (quality rules with reasons), `ngrams` (repetition
statistics). May import: `document` only.
"""
