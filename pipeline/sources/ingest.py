"""Stage 1, ingest: source kinds `local` (files on disk) and `etext` (BDRC/Esukhia e-text volumes).

`local` reads a folder (walked recursively), a file or a glob: .txt/.html/.htm/.pdf files become one
RawDoc each (bytes; extract decodes them), large .txt files may be split into several documents,
.md/.markdown files become one document of their text with title and credits in meta (markdown.py),
and .jsonl/.parquet files yield one RawDoc per record (already-decoded text). `etext` is `local`
plus the Esukhia Derge Kangyur/Tengyur markup conventions (README of Esukhia/derge-kangyur,
"Format"): folio/line markers are removed and lines re-joined, `(error,correction)` and
`{archaic,regular}` pairs resolve to their second member, `[X]` error candidates keep X, `#`
note points go, and each volume is split into one document per canonical text at `{D…}`/`{T…}`.

Document ids are `{source}/{path relative to the source path}` plus `#{n}` for splits and records
(`#{record id}` where jsonl/parquet records carry a unique id), so they are stable across runs.
Unreadable input never raises: it becomes a `Rejection(stage="ingest")`.
"""

from __future__ import annotations

import codecs
import errno
import fnmatch
import glob
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tibcpt.pipeline.document import RawDoc, Rejection
from tibcpt.pipeline.extract.extractor import ExtractConfig, ExtractError, decode_bytes
from tibcpt.pipeline.sources.markdown import SUFFIXES as MARKDOWN_SUFFIXES
from tibcpt.pipeline.sources.markdown import is_repository_doc, markdown_doc
from tibcpt.pipeline.sources.records import FilePart, jsonl_parts, jsonl_rows, parquet_rows, records, reject
from tibcpt.pipeline.sources.registry import SourceConfig, register_kind

from tibcpt.config import ConfigError

log = logging.getLogger(__name__)

EXTENSIONS = (".txt", ".html", ".htm", ".pdf", ".jsonl", ".parquet", *MARKDOWN_SUFFIXES)
_GLOB_CHARS = re.compile(r"[*?\[]")

SplitMode = Literal["file", "blank_lines", "lines", "sections"]


@dataclass
class LocalOptions:
    """Keys of a `kind: local` entry in sources.yaml."""

    path: str
    """A folder (walked recursively for .txt/.html/.htm/.pdf/.jsonl/.parquet/.md), a file, or a glob;
    ${VAR:-default} is expanded and relative paths resolve against sources.yaml's folder."""
    include: list[str] = field(default_factory=list)
    """Keep only files whose path relative to `path` (or whose name) matches one of these globs."""
    split: SplitMode = "file"
    """.txt files: one document per file, per blank-line-separated block (merged up to
    `min_split_chars`), per run of lines (for books with one paragraph per line and no blank
    lines, merged up to `min_split_chars`), or per e-text section (at `{D…}`/`{T…}` markers)."""
    min_split_chars: int = 2000
    """blank_lines: merge consecutive blocks until a document has at least this many characters."""
    text_field: str = "text"
    """jsonl/parquet: the field holding the text."""
    id_field: str = "id"
    """jsonl/parquet: the record id field (optional in records; used in document ids when unique)."""
    url_field: str = "url"
    """jsonl/parquet: the url field (optional in records; kept in meta['url'])."""
    segmented: bool = False
    """The text is word-segmented with spaces (sets meta['segmented'] for the segment stage)."""
    encoding: str | None = None
    """Force this encoding for .txt files instead of sniffing (BOM / UTF-8 / UTF-16)."""
    max_doc_chars: int = 500_000
    """A longer document (a whole .txt under `split: file`, or one part of any split) is cut at line
    ends into documents of half to all of this many characters. Measured on a 39 MB .txt
    (bench/results/large_inputs.json): read whole it peaked at 590 MB in a worker and the filters
    dropped it whole (0 syllables kept); cut at 2M characters 1083 MB; at 500k 543 MB with 946k
    syllables kept. 500k is above every document of the sample corpus (the longest: 395k)."""
    max_file_bytes: int = 512 * 1024 * 1024
    """Larger files are rejected as `too_large` before a byte is read (a 1 GB file read whole
    costs several GB in a worker); jsonl and parquet records are streamed and have no such limit."""
    jsonl_part_bytes: int = 4 * 1024 * 1024
    """A larger .jsonl is cut at line starts into parts of about this size, each its own work item,
    so one big file is shared by all workers (4 MiB = the runner's default `task_bytes`: a part is at
    most one task's worth of input). Records of a cut file are numbered by line in their ids, since
    no part sees the others' explicit ids."""
    follow_external_symlinks: bool = False
    """Read symlinks that resolve outside `path`. Off by default: a link to /etc must not put a
    system file's text into the corpus or into rejected.parquet."""

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("path must be a non-empty folder, file or glob")
        if self.jsonl_part_bytes < 1024:
            raise ValueError(f"jsonl_part_bytes must be >= 1024, got {self.jsonl_part_bytes}")
        if self.max_doc_chars < 1000:
            raise ValueError(f"max_doc_chars must be >= 1000, got {self.max_doc_chars}")
        if self.max_file_bytes < 1:
            raise ValueError(f"max_file_bytes must be >= 1, got {self.max_file_bytes}")
        if self.min_split_chars < 0:
            raise ValueError(f"min_split_chars must be >= 0, got {self.min_split_chars}")
        for name in ("text_field", "id_field", "url_field"):
            if not getattr(self, name):
                raise ValueError(f"{name} must be non-empty")
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError as e:
                raise ValueError(f"encoding {self.encoding!r} is not a known codec") from e


@dataclass
class EtextOptions(LocalOptions):
    """Keys of a `kind: etext` entry: as `local`, but volumes split per canonical text by default."""

    split: SplitMode = "sections"
    """As for `local`; e-text volumes default to one document per `{D…}` text marker."""


# --------------------------------------------------------------------------------- e-text cleaning

# [1b], [1b.1], [245b.7], [355xa] (x: a page number printed twice), per the Derge README "Format".
_FOLIO = re.compile(r"\r?\n?\[\d+x?[ab](?:\.\d+)?\]")
# {D1}, {D1-1}, {D7a}, {T841-2}: a text (Derge/Tohoku catalogue number) begins here.
TEXT_MARKER = re.compile(r"\{([DT]\d+[a-z]?(?:-\d+)?)\}")
_PAREN_PAIR = re.compile(r"\(([^(),\n]*),([^(),\n]*)\)")
_BRACE_PAIR = re.compile(r"\{([^{},\n]*),([^{},\n]*)\}")
_ERROR_CANDIDATE = re.compile(r"\[([^\[\]\n]*)\]")


def clean_etext(text: str) -> str:
    """Strip BDRC/Esukhia e-text markup, keeping the corrected reading.

    - `[1b]`, `[1b.1]` folio/line markers go together with the line break before them: the lines
      are physical woodblock lines, often broken mid-word, and the README says appending the lines
      gives the text;
    - `{D172}` text markers go;
    - `(error,correction)` -> correction; `{archaic,regular}` -> regular (the editors' standard
      spelling, e.g. {བཅྭ་,བཅོ་}); `[X]` error candidate -> X; `#` note reinsertion points go.
    """
    text = text.lstrip("\ufeff")
    text = _FOLIO.sub("", text)
    text = TEXT_MARKER.sub("", text)
    text = _PAREN_PAIR.sub(r"\2", text)
    text = _BRACE_PAIR.sub(r"\2", text)
    text = _ERROR_CANDIDATE.sub(r"\1", text)
    text = text.replace("#", "")
    return text.strip()


def split_sections(text: str) -> list[tuple[str | None, str]]:
    """Split at text markers: [(marker or None for text before the first one, body)], bodies
    without their marker; empty bodies (as between `{D1}{D1-1}`) are dropped."""
    parts = TEXT_MARKER.split(text)
    out: list[tuple[str | None, str]] = [(None, parts[0])]
    out += [(parts[i], parts[i + 1]) for i in range(1, len(parts) - 1, 2)]
    return [(m, body) for m, body in out if _FOLIO.sub("", body).strip()]


def split_blank_lines(text: str, min_chars: int) -> list[str]:
    """Blank-line-separated blocks, consecutive ones merged until each has >= min_chars characters
    (a short tail is merged into the previous document)."""
    return _merge_blocks(re.split(r"\n[ \t\r\f\v]*\n", text), min_chars, "\n\n")


def split_lines(text: str, min_chars: int) -> list[str]:
    """Runs of lines merged up to >= min_chars characters: a 1 MB book with one paragraph per line
    becomes documents of a size that filters and dedup can judge piece by piece."""
    return _merge_blocks(text.split("\n"), min_chars, "\n")


def cut_long(text: str, max_chars: int) -> list[str]:
    """Pieces of half to all of `max_chars` characters, cut at line ends; a line longer than that is
    cut at its last space or shad before the limit (a hard cut only when it has neither)."""
    out: list[str] = []
    for piece in split_lines(text, max_chars // 2):
        while len(piece) > max_chars:
            head = piece[:max_chars]
            cut = max(head.rfind(" "), head.rfind("\u0f0d"), head.rfind("\n")) + 1 or max_chars
            out.append(piece[:cut])
            piece = piece[cut:]
        out.append(piece)
    return out


def _merge_blocks(blocks: list[str], min_chars: int, joiner: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    size = 0
    for block in blocks:
        if not block.strip():
            continue
        cur.append(block.strip("\n"))
        size += len(block)
        if size >= min_chars:
            out.append(joiner.join(cur))
            cur, size = [], 0
    if cur:
        if out and size < min_chars:
            out[-1] += joiner + joiner.join(cur)
        else:
            out.append(joiner.join(cur))
    return out


# ------------------------------------------------------------------------------------ file listing


def _root_and_base(source: SourceConfig) -> tuple[str, Path]:
    """(resolved path or pattern, folder ids are relative to)."""
    raw = source.options.path
    resolved = str(source.resolve_path(raw))
    if _GLOB_CHARS.search(raw):
        prefix = _GLOB_CHARS.split(resolved, 1)[0]
        return resolved, Path(prefix) if prefix.endswith("/") else Path(prefix).parent
    p = Path(resolved)
    return resolved, p if p.is_dir() else p.parent


def _matches(rel: str, pattern: str) -> bool:
    """Glob match on the relative path or the file name; a leading `**/` also matches at top level
    (fnmatch's `*` already crosses `/`, so `**/*.txt` would otherwise need a sub-folder)."""
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(x, p) for x in (rel, name) for p in (pattern, pattern.removeprefix("**/")))


def list_files(source: SourceConfig) -> list[str]:
    """The input files of a local/etext source, sorted. Raises ConfigError if there are none."""
    opts: LocalOptions = source.options
    root, base = _root_and_base(source)
    if _GLOB_CHARS.search(opts.path):
        files = [Path(p) for p in glob.glob(root, recursive=True) if Path(p).is_file() or Path(p).is_symlink()]
    elif Path(root).is_dir():
        files = [p for p in Path(root).rglob("*") if p.is_file() or p.is_symlink()]
    elif Path(root).is_file():
        files = [Path(root)]
    else:
        raise ConfigError(f"source {source.name}: path {root} does not exist (from {opts.path!r})")
    files = [f for f in files if not any(part.startswith(".") for part in f.relative_to(base).parts)]
    if opts.include:
        files = [f for f in files if any(_matches(f.relative_to(base).as_posix(), g) for g in opts.include)]
    if not files:
        raise ConfigError(f"source {source.name}: no input files under {root} (include={opts.include})")
    return sorted(str(f) for f in files)


# ------------------------------------------------------------------------------------------ reading


def _refusal(path: Path, source: SourceConfig, base: Path) -> tuple[str, str] | None:
    """(reason, detail) when a listed file is not read: each listed file is read or rejected."""
    opts: LocalOptions = source.options
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except RuntimeError as e:  # Python 3.11-3.12 report a loop so, later versions as ELOOP
            return "symlink_loop", str(e)
        except OSError as e:
            return ("symlink_loop" if e.errno == errno.ELOOP else "broken_symlink"), f"-> {os.readlink(path)}"
        if not opts.follow_external_symlinks and not target.is_relative_to(base.resolve()):
            return "outside_source", f"symlink to {target}, outside {base} (set follow_external_symlinks: true)"
    if not path.exists():
        return None  # gone since it was listed: reading it reports `unreadable`
    if not path.is_file():
        return "not_a_file", "a symlink to a folder (folders are walked, links to them are not followed)"
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        return "unsupported_format", f"{suffix or 'no suffix'}: tibcpt reads {' '.join(EXTENSIONS)}"
    size = path.stat().st_size
    if size > opts.max_file_bytes and suffix not in (".jsonl", ".parquet"):
        return "too_large", f"{size} bytes > max_file_bytes {opts.max_file_bytes} (not read)"
    return None


def read_file(source: SourceConfig, item: str | FilePart, etext: bool) -> Iterator[RawDoc | Rejection]:
    """All RawDocs (or Rejections) of one input file, or of one part of a large jsonl file."""
    opts: LocalOptions = source.options
    part = item if isinstance(item, FilePart) else None
    path = Path(part.path if part else item)
    _, base = _root_and_base(source)
    try:
        rel = path.relative_to(base).as_posix()
    except ValueError:
        rel = path.name
    doc_id = f"{source.name}/{rel}"
    meta: dict[str, Any] = {"path": rel}
    if opts.segmented:
        meta["segmented"] = True
    suffix = path.suffix.lower()
    try:
        refused = _refusal(path, source, base)
        if refused:
            yield reject(doc_id, source, *refused, meta)
            return
        if suffix == ".parquet":
            yield from records(parquet_rows(path, opts), doc_id, source, meta)
            return
        if suffix == ".jsonl":  # streamed: memory holds one record, not the file
            yield from records(jsonl_rows(path, part), doc_id, source, meta, numbered=part is not None)
            return
        data = path.read_bytes()
    except Exception as e:  # noqa: BLE001 - OSError, ArrowInvalid...: the file is unreadable
        yield reject(doc_id, source, "unreadable", repr(e), meta)
        return
    if suffix in (".html", ".htm"):
        yield RawDoc(doc_id, source.name, data, "html", meta)
    elif suffix == ".pdf":
        yield RawDoc(doc_id, source.name, data, "pdf", meta)
    elif suffix in MARKDOWN_SUFFIXES and not opts.include and is_repository_doc(path.name):
        yield reject(doc_id, source, "unsupported_format", "repository documentation, not corpus text", meta)
    elif suffix in MARKDOWN_SUFFIXES:
        yield markdown_doc(data, doc_id, source.name, meta, opts.encoding)
    elif opts.split == "file" and not etext and len(data) <= opts.max_doc_chars:  # bytes >= characters
        if opts.encoding:
            meta["encoding"] = opts.encoding
        yield RawDoc(doc_id, source.name, data, "txt", meta)
    else:
        yield from _split_text(data, doc_id, source, meta, etext)


def _split_text(
    data: bytes, doc_id: str, source: SourceConfig, meta: dict[str, Any], etext: bool
) -> Iterator[RawDoc | Rejection]:
    """Decode a .txt here (splitting needs text), then split and, for e-texts, clean each part."""
    opts: LocalOptions = source.options
    try:
        dec = decode_bytes(data, ExtractConfig(), opts.encoding)
    except ExtractError as e:
        yield reject(doc_id, source, e.reason, e.detail, meta)
        return
    text = dec.text.replace("\r\n", "\n")
    if opts.split == "file" and not etext and len(text) <= opts.max_doc_chars:
        # Not too long after all (many bytes per character): the usual path, extract decodes it.
        yield RawDoc(
            doc_id, source.name, data, "txt", {**meta, **({"encoding": opts.encoding} if opts.encoding else {})}
        )
        return
    meta = {**meta, "encoding": dec.encoding}
    if opts.split == "sections":
        parts = split_sections(text)
    elif opts.split == "blank_lines":
        parts = [(None, p) for p in split_blank_lines(text, opts.min_split_chars)]
    elif opts.split == "lines":
        parts = [(None, p) for p in split_lines(text, opts.min_split_chars)]
    else:
        parts = [(None, text)]
    n_out = 0
    for n, (marker, body) in enumerate(parts):
        body = clean_etext(body) if etext else body.strip("\n")
        if not body.strip():
            continue
        pmeta = dict(meta)
        if marker:
            pmeta["text_marker"] = marker
        pid = doc_id if opts.split == "file" else f"{doc_id}#{n}"
        pieces = [body] if len(body) <= opts.max_doc_chars else cut_long(body, opts.max_doc_chars)
        for k, piece in enumerate(pieces):
            qmeta = dict(pmeta)
            if dec.undecodable and n_out == 0:
                qmeta["undecodable_bytes"] = dec.undecodable  # counted once per file, on its first part
            qid = pid if len(pieces) == 1 else f"{pid}#{k}" if opts.split == "file" else f"{pid}.{k}"
            n_out += 1
            yield RawDoc(qid, source.name, piece, "text", qmeta)


class LocalKind:
    """`kind: local`: files on disk."""

    options_cls: type = LocalOptions
    etext = False

    def list_items(self, source: SourceConfig) -> list[str | FilePart]:
        part_bytes = source.options.jsonl_part_bytes
        return [
            x for f in list_files(source)
            for x in (jsonl_parts(f, part_bytes) if f.lower().endswith(".jsonl") else [f])
        ]  # fmt: skip

    def read_item(self, source: SourceConfig, item: str | FilePart) -> Iterator[RawDoc | Rejection]:
        return read_file(source, item, self.etext)


class EtextKind(LocalKind):
    """`kind: etext`: BDRC/Esukhia e-text volumes, cleaned and split per canonical text."""

    options_cls = EtextOptions
    etext = True


register_kind("local", LocalKind())
register_kind("etext", EtextKind())
