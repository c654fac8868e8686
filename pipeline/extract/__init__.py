"""Extract: bytes (HTML, PDF, text) -> `Document` text.

Owns: `extractor` (decoding, trafilatura for HTML, the Extract stage), `pdf` (pypdfium2 with Tibetan
repairs). May import: `document` only.
"""
