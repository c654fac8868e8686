"""sources.yaml: the list of sources, and the registry of source kinds.

Each entry has common keys (`name`, `kind`, `license`, `genre`, `enabled`, `weight`, `description`)
plus keys specific to its kind, checked strictly against that kind's options dataclass. A kind is
a `SourceKind`: it lists picklable work items (so the process pool can share them out) and reads
one item into `RawDoc`s (or `Rejection`s for unreadable input). New kinds (web, warc) plug in by
calling `register_kind` in their module and adding the module to `KIND_MODULES`.
"""

from __future__ import annotations

import importlib
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
from tibcpt.pipeline.document import RawDoc, Rejection, Stage, StageStats

from tibcpt.config import ConfigError, from_dict, load_yaml

# Kind name -> module that registers it (imported lazily, so `kind: web` costs nothing unless used).
KIND_MODULES: dict[str, str] = {
    "local": "tibcpt.pipeline.sources.ingest",
    "etext": "tibcpt.pipeline.sources.ingest",
    "web": "tibcpt.pipeline.crawl.crawler",
    "warc": "tibcpt.pipeline.crawl.warc",
}

# The two words people actually write, beside SPDX expressions.
_LICENSE_WORDS = ("unknown", "public-domain")


def check_license(license_: str) -> str | None:
    """Why `license_` is not an SPDX expression over the real SPDX license list (as shipped in
    `packaging.licenses`, PEP 639), `LicenseRef-...`, `unknown` or `public-domain`; None if it is."""
    if license_ in _LICENSE_WORDS:
        return None
    try:
        canonicalize_license_expression(license_)
    except InvalidLicenseExpression as e:
        return str(e)
    return None


GENRES = ("textbook", "journal", "news", "religious", "literature", "legal", "web", "children", "history", "other")


class SourceKind(Protocol):
    options_cls: type

    def list_items(self, source: SourceConfig) -> list[Any]:
        """Picklable work items (paths, (path, record-range) tuples, URLs...)."""
        ...

    def read_item(self, source: SourceConfig, item: Any) -> Iterator[RawDoc | Rejection]:
        """Yield raw documents for one item; unreadable input yields a Rejection (stage 'ingest')."""
        ...


_KINDS: dict[str, SourceKind] = {}


def register_kind(name: str, kind: SourceKind) -> None:
    _KINDS[name] = kind


def get_kind(name: str) -> SourceKind:
    if name not in _KINDS:
        module = KIND_MODULES.get(name)
        if module is None:
            raise ConfigError(f"unknown source kind {name!r}; known kinds: {sorted(KIND_MODULES)}")
        importlib.import_module(module)
        if name not in _KINDS:
            raise ConfigError(f"source kind {name!r} is not available (module {module} did not register it)")
    return _KINDS[name]


@dataclass
class SourceConfig:
    name: str
    """Unique, filesystem-safe name; becomes the `source` column."""
    kind: str
    license: str
    """SPDX id, `public-domain`, or `unknown`."""
    genre: str
    enabled: bool = True
    weight: float = 1.0
    """Sampling weight at pack time: 2.0 upsamples (every document twice), 0.5 keeps half."""
    description: str = ""
    eval_only: bool = False
    """Held-out evaluation text: cleaned like any other source, but `tibcpt pack` puts its documents only
    into held-out shards and `tibcpt tokenizer` never trains on them (never training data)."""
    options: Any = None
    """Kind-specific options dataclass (filled by `parse_source`)."""
    base_dir: Path = field(default_factory=Path.cwd)
    """Folder relative paths are resolved against (that of sources.yaml)."""

    def __post_init__(self) -> None:
        # The name becomes a folder under _work/text: `..` or `.x` would escape it or hide it.
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*", self.name or ""):
            raise ConfigError(
                f"source name {self.name!r} must be non-empty, use only letters, digits, _ . - and not start with . or -"
            )
        why = check_license(self.license or "")
        if why:
            raise ConfigError(
                f"source {self.name}: license {self.license!r} is not an SPDX license id or expression ({why}); "
                "use an id from https://spdx.org/licenses/, LicenseRef-<name>, or 'unknown'"
            )
        if self.genre not in GENRES:
            raise ConfigError(f"source {self.name}: genre {self.genre!r} not in {list(GENRES)}")
        if not math.isfinite(self.weight) or self.weight < 0:
            raise ConfigError(f"source {self.name}: weight must be a finite number >= 0, got {self.weight}")

    def resolve_path(self, raw: str) -> Path:
        """Expand ${VAR} / ${VAR:-default} / ~ and resolve relative to sources.yaml's folder."""
        p = Path(os.path.expanduser(expand_vars(raw)))
        return p if p.is_absolute() else (self.base_dir / p)


_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def expand_vars(s: str) -> str:
    """Shell-style expansion with `${VAR:-default}` (os.path.expandvars lacks defaults)."""

    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(3)
        default = m.group(2)
        val = os.environ.get(name)
        if val:
            return val
        if default is not None:
            return default
        raise ConfigError(f"environment variable ${name} is not set (used in {s!r})")

    return _VAR_RE.sub(sub, s)


COMMON_KEYS = {"name", "kind", "license", "genre", "enabled", "weight", "description", "eval_only"}


def parse_source(entry: dict[str, Any], base_dir: Path) -> SourceConfig:
    if not isinstance(entry, dict):
        raise ConfigError(f"each source must be a mapping, got {entry!r}")
    name = entry.get("name", "?")
    for k in ("name", "kind", "license", "genre"):
        if k not in entry:
            raise ConfigError(f"source {name}: missing required key {k!r}")
    common = {k: v for k, v in entry.items() if k in COMMON_KEYS}
    specific = {k: v for k, v in entry.items() if k not in COMMON_KEYS}
    src = from_dict(SourceConfig, common, prefix=f"sources[{name}].")
    kind = get_kind(src.kind)
    src.options = from_dict(kind.options_cls, specific, prefix=f"sources[{name}].")
    src.base_dir = base_dir
    return src


def load_sources(path: str | Path, only: list[str] | None = None) -> list[SourceConfig]:
    """Parse sources.yaml; return the enabled sources (or those named in `only`)."""
    path = Path(path)
    data = load_yaml(path)
    unknown = set(data) - {"sources"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {sorted(unknown)}; expected 'sources'")
    entries = data.get("sources") or []
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: 'sources' must be a list")
    out: list[SourceConfig] = []
    seen: set[str] = set()
    for e in entries:
        # Disabled sources are validated too (a typo is caught before the day it gets enabled);
        # their paths are only resolved when they run.
        src = parse_source(e, path.resolve().parent)
        if src.name in seen:
            raise ConfigError(f"{path}: duplicate source name {src.name!r}")
        seen.add(src.name)
        if (only is None and not src.enabled) or (only is not None and src.name not in only):
            continue
        out.append(src)
    if only:
        missing = set(only) - {s.name for s in out}
        if missing:
            raise ConfigError(f"{path}: no source named {sorted(missing)}")
    return out


class Ingest(Stage[Any, RawDoc]):
    """The ingest `Stage`: a source's work items (files, WARC files, ...) -> RawDocs.

    Unreadable input is a Rejection from the kind, or (if the kind raises) `read_error`: one bad item
    must not stop a days-long run. Documents in = documents read (kept + rejected), not items.
    """

    name = "ingest"

    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self.kind = get_kind(source.kind)

    def process(self, items: list[Any], stats: StageStats, rejects: list[Rejection]) -> list[RawDoc]:
        out: list[RawDoc] = []
        seen: set[str] = set()
        for item in items:
            try:
                raws = list(self.kind.read_item(self.source, item))
            except Exception as e:  # noqa: BLE001 - recorded as a rejection with the error
                raws = [Rejection(str(item), self.source.name, self.name, "read_error", f"{type(e).__name__}: {e}")]
            for raw in raws:
                if isinstance(raw, Rejection):
                    self.drop(raw, stats, rejects)
                elif raw.id in seen:
                    # Ids key every later step (dedup removals, rejected.parquet): a second document
                    # under one id would take the first down with it. Keep the first, record the other.
                    detail = f"id already used by an earlier document of this input (meta {raw.meta})"
                    text = raw.content if isinstance(raw.content, str) else ""
                    rej = Rejection(raw.id, raw.source, self.name, "duplicate_id", detail[:500], text, dict(raw.meta))
                    self.drop(rej, stats, rejects)
                else:
                    seen.add(raw.id)
                    out.append(raw)
        return out

    def count_in(self, items: list[Any], out: list[RawDoc], n_rejected: int) -> int:
        return len(out) + n_rejected
