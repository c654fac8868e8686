"""URL canonicalisation: one page, one URL, so it is fetched once and archived once.

`normalize_url` turns an IRI or URL (absolute, or relative to a base) into the ASCII URI the
crawler keys its frontier on, requests and writes into WARC:

- scheme and host lower-case, IDNA host, default port dropped, fragment dropped (RFC 3986 §6.2.2.1);
- IRI to URI (RFC 3987 §3.1): non-ASCII characters (Tibetan paths and tag names) are UTF-8
  percent-encoded; existing `%xx` escapes are upper-cased and escapes of unreserved characters
  decoded (RFC 3986 §6.2.2.1-2), so `/tag/བོད`, `/tag/%e0%bd%96...` and `/tag/%E0%BD%96...` are
  one URL; a stray `%` becomes `%25`;
- session ids (`;jsessionid=` path parameters, PHPSESSID, sid=<token>, ...) and tracking
  parameters (utm_*, fbclid, gclid, ...) dropped, the remaining query sorted (Heritrix's
  canonicalisation rules StripSessionIDs / StripSessionCFIDs and the query sort of courlan).

Why not courlan.normalize_url alone (it is used for its tracker list): it leaves `%e0` lower-case,
percent-encodes `;` and `+` (a different request on most servers), and its tracker pattern also
drops `cid`, `uid`, `ref` and `source`, which are category and article ids on Chinese and Tibetan
CMSs (`list.php?cid=12`), so whole sections would collapse into one URL.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from courlan.clean import TRACKERS_RE

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SKIP_SCHEMES = ("mailto:", "javascript:", "tel:", "data:", "#")

# Query parameters that only name a session: always dropped (Heritrix StripSessionIDs, plus the
# ColdFusion and ASP.NET names). `sid`/`s`/`session` are dropped only when the value looks like a
# token (>= 16 hex/alphanumeric characters), since `sid=3` is a section id on some portals.
SESSION_PARAMS = frozenset({"jsessionid", "phpsessid", "aspsessionid", "cfid", "cftoken", "sessionid", "sessid"})
SESSION_TOKEN_PARAMS = frozenset({"sid", "s", "session", "token"})
_TOKEN = re.compile(r"^[0-9A-Za-z_-]{16,}$")
# Tracking parameters we drop beyond courlan's list when it stays silent on them.
TRACKING_PARAMS = frozenset({"spm", "from_share", "share_token", "_hsenc", "_hsmi", "mc_eid", "yclid", "wxshare"})
# courlan's tracker regex also matches these, but on Chinese/Tibetan CMSs they carry content ids.
_KEEP_DESPITE_COURLAN = frozenset({"cid", "clid", "eid", "uid", "ref", "source", "id", "aid", "tid", "fid"})

_PATH_SESSION = re.compile(r";(?:jsessionid|phpsessid|sid|sessionid)=[^/?#]*", re.I)
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# RFC 3986 reserved + '%': what quote() must leave alone in an already-formed path or query.
_PATH_SAFE = "!$&'()*+,;=:@/%"
_QUERY_SAFE = _PATH_SAFE + "?"
_STRAY_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _fix_escapes(part: str, safe: str) -> str:
    """IRI -> URI for one component, with escapes in canonical form (upper-case, unreserved decoded)."""
    part = _STRAY_PCT.sub("%25", part)
    part = quote(part, safe=safe)  # UTF-8 percent-encoding of non-ASCII and spaces (RFC 3987 §3.1)

    def fix(m: re.Match) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()

    return _PCT.sub(fix, part)


def is_dropped_param(key: str, value: str) -> bool:
    """True for a session or tracking query parameter (see module docstring)."""
    k = key.lower()
    if k in SESSION_PARAMS or k.startswith("aspsessionid") or k in TRACKING_PARAMS:
        return True
    if k in SESSION_TOKEN_PARAMS:
        return bool(_TOKEN.match(value))
    return k not in _KEEP_DESPITE_COURLAN and bool(TRACKERS_RE.search(k))


def clean_query(query: str, strip_params: bool = True) -> str:
    """Drop session/tracking parameters (if `strip_params`) and sort the rest by key, then value.
    Pairs are kept as written (blank values too): re-encoding them could change the request."""
    if not query:
        return ""
    pairs = [p for p in query.split("&") if p]
    kept = []
    for p in pairs:
        key, _, value = p.partition("=")
        if strip_params and is_dropped_param(key, value):
            continue
        kept.append(p)
    return "&".join(sorted(kept))


def normalize_url(url: str, base: str | None = None, strip_params: bool = True) -> str | None:
    """Canonical absolute http(s) URI (see module docstring), or None if `url` is not one."""
    url = url.strip()
    if not url or url.lower().startswith(_SKIP_SCHEMES):
        return None
    if base:
        url = urljoin(base, url)
    try:
        p = urlsplit(url)
        port = p.port
    except ValueError:
        return None
    scheme = p.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not p.hostname:
        return None
    host = p.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    elif not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = p.path or "/"
    if strip_params:
        path = _PATH_SESSION.sub("", path)
    path = _fix_escapes(path, _PATH_SAFE)
    query = clean_query(_fix_escapes(p.query, _QUERY_SAFE), strip_params)
    return urlunsplit((scheme, netloc, path, query, ""))


_DIGITS = re.compile(r"\d+")


def url_pattern(url: str) -> str:
    """The URL's shape for the per-pattern request cap: host, path with digit runs as `N`, sorted
    query keys without values (`/calendar/2031/07?day=3` -> `h/calendar/N/N?day`). Calendar and
    faceted-search traps generate unbounded URLs of one shape."""
    p = urlsplit(url)
    keys = sorted({kv.partition("=")[0] for kv in p.query.split("&") if kv})
    return p.netloc + _DIGITS.sub("N", p.path) + ("?" + "&".join(keys) if keys else "")
