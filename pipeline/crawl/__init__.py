"""Crawl: polite fetching of `kind: web` sources into WARC files, and `kind: warc` ingest.

Owns: `crawler` (the crawl loop and `tibcpt crawl`), `fetch` (HTTP, robots, host gates), `frontier`
(SQLite queue), `parse` (links, sitemaps, feeds, URL scope), `options` (per-source settings), `warc`
(writing and reading WARC records).
May import: `document`, `sources`.
"""
