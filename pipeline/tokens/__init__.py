"""Tokens: tokenizer extension on the clean corpus, then packing into token shards for training.

Owns: `tokenizer` (`tibcpt tokenizer`), `spm` (SentencePiece bases), `bpe`/`bpe_merges` (byte-level BPE
bases), `pack` (`tibcpt pack`). May import: `text` (syllables), `sources` (weights), never `corpus`
internals: it reads the corpus folder on disk.
"""
