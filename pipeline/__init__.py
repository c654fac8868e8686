"""Corpus pipeline: one module per stage (ingest, extract, normalize, segment, filters, dedup, write)."""
