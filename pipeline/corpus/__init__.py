"""Corpus: `tibcpt corpus`, the runner that drives the stages and writes the corpus folder.

Owns: `config` (CorpusConfig), `runner` (plan, resume, executors, the text phase), `write` (dedup
phase, shards, rejected.parquet, manifest), `parts` (per-task Parquet parts and schemas), `report`
(report.html). May import: every subpackage above it (sources, crawl, extract, text, dedup).
"""
