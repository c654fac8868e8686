"""Markdown input files (.md, .markdown): the written text, with the markup and the credits moved out.

Parsed with markdown-it-py (CommonMark), not regexes, so emphasis, links, code spans and lists
come out as the text a reader sees. What becomes of each part:

- the first `#` heading is the title: `meta["title"]` (the `title` column) and the first line of the
  text, because it is written text of the document;
- an empty heading (`##` alone: the global-asp stories' page break) or a thematic break separates
  paragraphs; a heading with text is a paragraph of its own;
- paragraphs, list items, quotes, table cells and code blocks keep their text; links keep their
  text, images and raw HTML are dropped (neither is text);
- a credits footer, the document's final list when every item is "Key: value" with a Latin key
  (global-asp: `* License: [CC-BY]`, `* Text: <author>`, `* Illustration: ...`,
  `* Translation: ...`, `* Language: bo`), goes to `meta["credits"]` ({"license": "CC-BY",
  "text": ...}) and not into the text: it is attribution that publishing must keep, not Tibetan
  writing the model should learn.
"""

from __future__ import annotations

import re
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from tibcpt.pipeline.document import RawDoc, Rejection
from tibcpt.pipeline.extract.extractor import ExtractConfig, ExtractError, decode_bytes

SUFFIXES = (".md", ".markdown")
# A data folder cloned from a repository carries its own documentation in Markdown (the sample's
# README.upstream.md): without an `include` it is rejected (unsupported_format), not read as text;
# an `include` glob that names such a file reads it.
REPOSITORY_DOCS = re.compile(r"(?i)(readme|license|licence|changelog|contributing|code_of_conduct|security)\b")


def is_repository_doc(name: str) -> bool:
    """A Markdown file that documents the repository the data came from, not a text of the corpus."""
    return name.lower().endswith(SUFFIXES) and REPOSITORY_DOCS.match(name) is not None


_CREDIT_RE = re.compile(r"([A-Za-z][A-Za-z \-]{0,40}):\s*(.*)", re.S)
_PARSER = MarkdownIt("commonmark", {"html": True}).enable("table")


def _inline_text(tok: Token) -> str:
    """The text a reader sees in an inline token: links keep their text; images and HTML go."""
    out: list[str] = []
    for child in tok.children or []:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append("\n")
    return "".join(out).strip()


def _credits(tokens: list[Token]) -> tuple[dict[str, str], int]:
    """({key: value}, index where the footer list starts) if the document ends with a credits list."""
    end = len(tokens)
    if not end or tokens[-1].type not in ("bullet_list_close", "ordered_list_close"):
        return {}, end
    start = max(i for i, t in enumerate(tokens) if t.type == tokens[-1].type.replace("close", "open") and t.level == 0)
    found: dict[str, str] = {}
    for tok in tokens[start:]:
        if tok.type != "inline":
            continue
        m = _CREDIT_RE.fullmatch(_inline_text(tok))
        if not m:
            return {}, end
        value = m.group(2).strip()
        if value.startswith("[") and value.endswith("]"):  # an undefined reference link: [CC-BY]
            value = value[1:-1]
        found[m.group(1).strip().lower().replace(" ", "_").replace("-", "_")] = value
    return (found, start) if found else ({}, end)


def parse_markdown(text: str) -> tuple[str, dict[str, Any]]:
    """(plain text with paragraphs separated by blank lines, meta with title and credits)."""
    tokens = _PARSER.parse(text)
    credits, body_end = _credits(tokens)
    meta: dict[str, Any] = {"credits": credits} if credits else {}
    blocks: list[str] = []
    heading = ""
    for tok in tokens[:body_end]:
        if tok.type == "heading_open":
            heading = tok.tag
        elif tok.type == "heading_close":
            heading = ""
        elif tok.type in ("fence", "code_block") and tok.content.strip():
            blocks.append(tok.content.strip("\n"))
        elif tok.type == "inline":
            line = _inline_text(tok)
            if heading == "h1" and "title" not in meta and line:
                meta["title"] = line
            if line:
                blocks.append(line)
    return "\n\n".join(blocks), meta


def markdown_doc(
    data: bytes, doc_id: str, source: str, meta: dict[str, Any], encoding: str | None
) -> RawDoc | Rejection:
    """One RawDoc (already-decoded text) of a Markdown file, or a Rejection if it cannot be decoded."""
    try:
        dec = decode_bytes(data, ExtractConfig(), encoding)
    except ExtractError as e:
        return Rejection(doc_id, source, "ingest", e.reason, e.detail[:1000], "", dict(meta))
    text, md_meta = parse_markdown(dec.text)
    out = {**meta, "encoding": dec.encoding, "format": "markdown", **md_meta}
    if dec.undecodable:
        out["undecodable_bytes"] = dec.undecodable
    return RawDoc(doc_id, source, text, "text", out)
