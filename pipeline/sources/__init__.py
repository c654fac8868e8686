"""Sources: `sources.yaml` parsing, the kind registry, and ingest of local files and e-texts into `RawDoc`s.

Owns: `registry` (SourceConfig, kinds, ${VAR} expansion), `ingest` (kinds `local` and `etext`).
May import: `document`, `extract` (byte decoding shared with extraction). Kinds `web`/`warc` live in
`crawl` and register themselves when the registry imports them by name.
"""
