"""Dedup: corpus-wide removal of exact and near duplicates and of evaluation-set contamination.

Owns: `exact` (xxh3 of normalized text), `near` (MinHash signatures, verification, clusters), `lsh`
(candidate pairs in memory or on disk), `decontaminate` (shared n-grams with an eval set).
May import: `text` (match keys, syllables).
"""
