"""Stage 2, extract: raw bytes (txt / html / pdf) or decoded text -> `Document` text, or a `Rejection`.

- txt: BOM sniffing (UTF-8, UTF-16 LE/BE, UTF-32), then strict UTF-8; bytes that are not UTF-8 are
  counted and replaced with U+FFFD; too many of them means a wrong encoding or a binary file.
- html: we decode the bytes ourselves (UTF-8 first, trusted over a declared charset that often lies
  on Tibetan sites), then trafilatura extracts the main text and title/date metadata; listing and
  teaser pages (news lists, tag/category pages, paginated indexes) are rejected as `index_page` by
  `tibcpt.pipeline.extract.listing`, which also drops related-news teasers from articles.
- pdf: pypdfium2 with Tibetan repairs (see `tibcpt.pipeline.extract.pdf`).
- text: already decoded by ingest (jsonl/parquet records, e-text sections); passes through.

`extract()` records only the stage's extra counters in `stats.extra` (undecodable_bytes,
pdf_pages, pdf_spaces_repaired); `Extractor`, the stage the runner drives, counts docs in/out,
bytes and drops by reason through `Stage.__call__`.
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass

import charset_normalizer
import pypdfium2 as pdfium
import trafilatura
from tibcpt.pipeline.document import Document, RawDoc, Rejection, Stage, StageStats
from tibcpt.pipeline.extract.listing import ListingConfig, judge
from tibcpt.pipeline.extract.pdf import join_pages, pdf_pages, pua_share, repair_pdf_spaces

log = logging.getLogger(__name__)

STAGE = "extract"


@dataclass
class ExtractConfig:
    max_undecodable_share: float = 0.01
    """Reject a text as `undecodable` when more than this share of its bytes are not valid in its
    encoding (1%: a stray byte or two is damage worth keeping the rest for; more is a wrong encoding)."""
    max_control_share: float = 0.01
    """Reject as `binary` when NUL/C0 control bytes (other than tab, newlines, form feed) exceed this
    share; text files have essentially none, executables/images/archives have many."""
    max_bytes: int = 512 * 1024 * 1024
    """Inputs larger than this are rejected as `too_large` rather than held in memory several times."""
    html_favor_precision: bool = True
    """trafilatura's precision mode: drops borderline blocks (teasers, related links) from the text."""
    index_min_own_chars: int = 100
    """An HTML page whose extracted text outside teaser items and links is shorter than this is a
    listing (`index_page`); see tibcpt.pipeline.extract.listing. Chosen on bench/html_extract.py."""
    index_max_own_chars: int = 600
    """... as is one with less own text than this and `index_teaser_ratio` times as much teaser text."""
    index_teaser_ratio: float = 4.0
    pdf_max_pua_share: float = 0.02
    """Reject a PDF as `pdf_damaged_pua` when private-use characters exceed this share of Tibetan +
    private-use characters (a correct Unicode text layer has none; legacy-font PDFs have one per stack)."""
    pdf_letter_spaced_share: float = 0.5
    """A PDF line whose Tibetan letter pairs are spaced more often than this is letter-spaced (repaired)."""
    pdf_join_wrapped_lines: bool = True
    """Join PDF lines that end in a tsheg with the next line (Tibetan wraps there with no hyphen)."""

    def __post_init__(self) -> None:
        for name in ("max_undecodable_share", "max_control_share", "pdf_max_pua_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if not 0.0 < self.pdf_letter_spaced_share <= 1.0:
            raise ValueError(f"pdf_letter_spaced_share must be within (0, 1], got {self.pdf_letter_spaced_share}")
        if self.max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {self.max_bytes}")
        ListingConfig(self.index_min_own_chars, self.index_max_own_chars, self.index_teaser_ratio)  # validates


class ExtractError(Exception):
    """Raised by the per-format helpers; carries the rejection reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# ---------------------------------------------------------------------------------------------- text

_BOMS = (  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13))


@dataclass(slots=True)
class Decoded:
    text: str
    encoding: str
    undecodable: int
    """Count of byte sequences replaced by U+FFFD (Python replaces each maximal invalid subpart,
    which for stray bytes is one per byte: Unicode ch. 3.9, "U+FFFD substitution of maximal subparts")."""


def _sniff_utf16(data: bytes) -> str | None:
    """BOM-less UTF-16: most code units are Tibetan (0x0Fxx) or ASCII (0x00xx) in one byte order."""
    sample = data[:8192]
    if len(sample) < 4 or len(data) % 2:
        return None
    units = len(sample) // 2
    for enc, high in (("utf-16-le", sample[1::2]), ("utf-16-be", sample[0::2])):
        if (high.count(0x0F) + high.count(0x00)) / units > 0.9 and high.count(0x0F) > 0.1 * units:
            return enc
    return None


def _decode_with(data: bytes, encoding: str) -> Decoded:
    text = data.decode(encoding, errors="replace")
    # U+FFFD already present in the input is text, not damage: subtract it.
    pre = data.count("\ufffd".encode(encoding)) if encoding.startswith("utf") else 0
    return Decoded(text, encoding, max(text.count("\ufffd") - pre, 0))


def decode_bytes(data: bytes, cfg: ExtractConfig, encoding: str | None = None) -> Decoded:
    """Decode text bytes: explicit encoding, else BOM, else strict UTF-8, else BOM-less UTF-16,
    else UTF-8 with replacement. Raises ExtractError(empty/binary/undecodable)."""
    if not data.strip():
        raise ExtractError("empty", f"{len(data)} bytes of whitespace")
    for bom, enc in _BOMS:
        if data.startswith(bom):
            dec = _decode_with(data[len(bom) :], enc)
            break
    else:
        if encoding:
            dec = _decode_with(data, encoding)
        else:
            # bytes.translate(None, delete) runs in C: counting control bytes of 50 MB takes ms.
            control = len(data) - len(data.translate(None, _CONTROL_BYTES))
            utf16 = _sniff_utf16(data) if control else None
            if utf16:
                dec = _decode_with(data, utf16)
            elif control / len(data) > cfg.max_control_share:
                raise ExtractError("binary", f"{control} of {len(data)} bytes are NUL/control bytes")
            else:
                try:
                    dec = Decoded(data.decode("utf-8"), "utf-8", 0)
                except UnicodeDecodeError:
                    dec = _decode_with(data, "utf-8")
    if dec.undecodable / len(data) > cfg.max_undecodable_share:
        raise ExtractError("undecodable", f"{dec.undecodable} of {len(data)} bytes are not {dec.encoding}")
    if not dec.text.strip():
        raise ExtractError("empty", "no text after decoding")
    return dec


def clean_text(text: str) -> str:
    """Line endings to \\n and a leading BOM dropped; everything else is the normalizer's job."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------------------------- html

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)


def decode_html(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode HTML bytes to (text, encoding). UTF-8 that decodes strictly wins over any declaration:
    Tibetan sites often declare iso-8859-1 / windows-1252 (CMS defaults) while serving UTF-8, and
    a stray byte sequence that is valid UTF-8 by chance is vanishingly rare (RFC 3629 sec. 10)."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(enc, errors="replace"), enc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    m = _META_CHARSET.search(data[:8192])
    for cand in (declared, m.group(1).decode("ascii", "ignore") if m else None):
        if cand:
            try:
                return data.decode(codecs.lookup(cand).name, errors="replace"), codecs.lookup(cand).name
            except LookupError:
                continue
    best = charset_normalizer.from_bytes(data).best()
    if best is not None:
        return str(best), best.encoding
    return data.decode("utf-8", errors="replace"), "utf-8"


def trafilatura_text(html: str, cfg: ExtractConfig, url: str | None = None) -> tuple[str, dict]:
    """trafilatura's main text (line endings cleaned, stripped) and metadata of decoded HTML: what
    the listing judge sees (bench/html_extract.py measures the judge on this same call)."""
    res = trafilatura.bare_extraction(
        html,
        url=url,
        include_comments=False,
        include_tables=True,
        favor_precision=cfg.html_favor_precision,
        with_metadata=True,
    )
    doc = res.as_dict() if res is not None else {}
    return clean_text(doc.get("text") or "").strip(), doc


def extract_html(data: bytes | str, cfg: ExtractConfig, url: str | None = None, declared: str | None = None) -> dict:
    """Main text + metadata of an HTML page: {text, title, date, url, encoding}. Raises ExtractError."""
    html, encoding = (data, "str") if isinstance(data, str) else decode_html(data, declared)
    if not html.strip():
        raise ExtractError("empty", "empty HTML")
    text, doc = trafilatura_text(html, cfg, url)
    verdict = judge(html, text, ListingConfig(cfg.index_min_own_chars, cfg.index_max_own_chars, cfg.index_teaser_ratio))
    if verdict.listing and (text or verdict.n_teasers):
        raise ExtractError("index_page", verdict.detail)
    text = verdict.text.strip()
    if not text:
        raise ExtractError("empty", "trafilatura found no main text")
    return {
        "text": text,
        "title": doc.get("title"),
        "date": doc.get("date"),
        "url": url or doc.get("url"),
        "encoding": encoding,
    }


# ----------------------------------------------------------------------------------------------- pdf


def extract_pdf(data: bytes, cfg: ExtractConfig) -> tuple[str, dict[str, int]]:
    """Text of a PDF (pages joined by blank lines, or directly mid-sentence) and counters. Raises ExtractError."""
    try:
        layout: dict[str, int] = {}
        pages = pdf_pages(data, join_wrapped=cfg.pdf_join_wrapped_lines, stats=layout)
    except pdfium.PdfiumError as e:
        raise ExtractError("pdf_unreadable", str(e)) from e
    text = clean_text(join_pages(pages))
    if not text.strip():
        raise ExtractError("pdf_no_text", f"{len(pages)} pages without a text layer (scanned? needs OCR)")
    share = pua_share(text)
    if share > cfg.pdf_max_pua_share:
        raise ExtractError("pdf_damaged_pua", f"private-use share {share:.3f} > {cfg.pdf_max_pua_share}")
    text, repairs = repair_pdf_spaces(text, cfg.pdf_letter_spaced_share)
    repairs += layout.get("spaces_dropped", 0)
    return text, {"pdf_pages": len(pages), "pdf_spaces_repaired": repairs,
                  "pdf_running_lines_dropped": layout.get("running_lines_dropped", 0)}  # fmt: skip


# ------------------------------------------------------------------------------------------- dispatch


def _reject(raw: RawDoc, reason: str, detail: str, text: str = "") -> Rejection:
    return Rejection(raw.id, raw.source, STAGE, reason, detail, text, dict(raw.meta))


def extract(raw: RawDoc, cfg: ExtractConfig, stats: StageStats) -> Document | Rejection:
    """One RawDoc -> Document (meta keeps path/url/title/date where known) or Rejection."""
    meta = dict(raw.meta)
    try:
        size = len(raw.content)
        if isinstance(raw.content, bytes) and size > cfg.max_bytes:
            raise ExtractError("too_large", f"{size} bytes > max_bytes {cfg.max_bytes}")
        if isinstance(raw.content, str) and raw.format in ("text", "txt"):
            text = clean_text(raw.content)
            # ingest decoded and split this file; it recorded the damage on the file's first part
            stats.extra["undecodable_bytes"] += int(meta.get("undecodable_bytes", 0))
        elif raw.format in ("txt", "text"):
            dec = decode_bytes(raw.content, cfg, meta.get("encoding"))
            text = clean_text(dec.text)
            meta["encoding"] = dec.encoding
            if dec.undecodable:
                meta["undecodable_bytes"] = dec.undecodable
                stats.extra["undecodable_bytes"] += dec.undecodable
        elif raw.format == "html":
            out = extract_html(raw.content, cfg, url=meta.get("url"), declared=meta.get("charset"))
            text = out.pop("text")
            meta.update({k: v for k, v in out.items() if v})
        elif raw.format == "pdf":
            if isinstance(raw.content, str):
                raise ExtractError("pdf_unreadable", "PDF content must be bytes")
            text, counters = extract_pdf(raw.content, cfg)
            stats.extra.update(counters)
            if counters["pdf_spaces_repaired"]:
                meta["pdf_spaces_repaired"] = counters["pdf_spaces_repaired"]
        else:
            raise ExtractError("unknown_format", f"format {raw.format!r}")
    except ExtractError as e:
        return _reject(raw, e.reason, e.detail)
    except Exception as e:  # noqa: BLE001 - one bad input must never stop a corpus build
        log.warning("extract failed on %s: %r", raw.id, e)
        return _reject(raw, "extract_error", repr(e)[:500])
    if not text.strip():
        return _reject(raw, "empty", "no text")
    return Document(raw.id, text, raw.source, meta)


class Extractor(Stage[RawDoc, Document]):
    """The extract `Stage`: RawDocs -> Documents; the runner's `Stage.__call__` counts docs in/out and bytes."""

    name = STAGE

    def __init__(self, cfg: ExtractConfig | None = None) -> None:
        self.cfg = cfg or ExtractConfig()

    def process(self, raws: list[RawDoc], stats: StageStats, rejects: list[Rejection]) -> list[Document]:
        out: list[Document] = []
        for raw in raws:
            res = extract(raw, self.cfg, stats)
            if isinstance(res, Rejection):
                self.drop(res, stats, rejects)
            else:
                out.append(res)
        return out
