"""HTTP side of the crawler: one polite GET, per-host pacing, address and robots.txt checks.

`requests` (already in the environment through huggingface_hub/datasets) with `stream=True` and
`allow_redirects=False`: we read at most `max_bytes` of a body and we decide about every redirect
hop ourselves (scope, robots, WARC record per hop), which automatic redirects would hide.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import requests


@dataclass
class Response:
    """One HTTP exchange as recorded in WARC (body is the raw, still content-encoded payload)."""

    url: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    request_line: str
    request_headers: list[tuple[str, str]]
    truncated: str | None = None
    """WARC-Truncated value: 'length' (max_bytes reached) or 'time' (total timeout reached)."""
    ip: str | None = None
    elapsed: float = 0.0

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def decoded_body(self) -> bytes:
        return decode_body(self.body, self.header("Content-Encoding"))


class FetchError(Exception):
    """A transport failure (no HTTP response); `kind` is the error class counted in the progress bar."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


MAX_DECODED_BYTES = 64 * 1024 * 1024
"""Most bytes a gzip/deflate body may unpack to: `max_bytes` caps only what the server sends, and a
small compressed body can unpack to gigabytes (a decompression bomb). Cut bodies stay as far as read."""


def decode_body(body: bytes, content_encoding: str | None, max_out: int = MAX_DECODED_BYTES) -> bytes:
    """Undo gzip/deflate Content-Encoding (we only advertise those two), unpacking at most `max_out`
    bytes; a broken stream stays as is."""
    enc = (content_encoding or "").strip().lower()
    try:
        if enc in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, max_out)
        if enc == "deflate":
            try:
                return zlib.decompressobj().decompress(body, max_out)
            except zlib.error:
                return zlib.decompressobj(-zlib.MAX_WBITS).decompress(
                    body, max_out
                )  # raw deflate, as some servers send
    except zlib.error:
        return body
    return body


def is_public_address(ip: str) -> bool:
    """False for loopback, private (RFC 1918/4193), link-local, multicast, reserved and unspecified."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    return not (
        addr.is_loopback
        or addr.is_private
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
    )


def resolve(host: str, port: int) -> list[str]:
    try:
        return sorted({ai[4][0] for ai in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)})
    except socket.gaierror as e:
        raise FetchError("dns", f"{host}: {e}") from e


def check_address(url: str, allow_private: bool) -> str:
    """Resolve the URL's host; raise FetchError('private_address') unless every address is public
    (or `allow_private`). Returns the first address (recorded as WARC-IP-Address)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    ips = resolve(parts.hostname or "", port)
    if not allow_private:
        bad = [ip for ip in ips if not is_public_address(ip)]
        if bad:
            raise FetchError("private_address", f"{parts.hostname} -> {', '.join(bad)}")
    return ips[0]


@dataclass
class HostGate:
    """Per-host pacing: successive requests to one host start at least `delay` seconds apart."""

    delay: float
    next_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_turn(self) -> None:
        """Block until this host may be contacted again, then claim the slot."""
        while True:
            with self.lock:
                now = time.monotonic()
                if now >= self.next_at:
                    self.next_at = now + self.delay
                    return
                wait = self.next_at - now
            time.sleep(wait)

    def push_back(self, seconds: float) -> None:
        """Keep the whole host quiet for `seconds` (a 429 Retry-After applies to the host, not a URL)."""
        with self.lock:
            self.next_at = max(self.next_at, time.monotonic() + seconds)


_CRAWL_DELAY_RE = re.compile(r"^\s*crawl-delay\s*:\s*([0-9]*\.?[0-9]+)", re.I | re.M)


def parse_robots(text: str, user_agent: str) -> tuple[RobotFileParser, float | None]:
    """robots.txt -> (parser, crawl delay). urllib.robotparser only accepts integer Crawl-delay
    values (it tests `.isdigit()`), so fractional ones (common, e.g. 0.5) are read with a regex."""
    rp = RobotFileParser()
    rp.parse(text.splitlines())
    delay = rp.crawl_delay(user_agent)
    if delay is None:
        m = _CRAWL_DELAY_RE.search(text)
        delay = float(m.group(1)) if m else None
    return rp, (float(delay) if delay is not None else None)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (RFC 9110 §10.2.3: delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def fetch_once(
    session: requests.Session,
    url: str,
    *,
    user_agent: str,
    connect_timeout: float,
    read_timeout: float,
    total_timeout: float,
    max_bytes: int,
    ip: str | None = None,
) -> Response:
    """One GET without following redirects; body capped at `max_bytes` and `total_timeout` seconds."""
    headers = {
        "User-Agent": user_agent,
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.5",
        "Accept-Encoding": "gzip, deflate",
    }
    t0 = time.monotonic()
    try:
        r = session.get(
            url, headers=headers, stream=True, allow_redirects=False, timeout=(connect_timeout, read_timeout)
        )
    except requests.exceptions.Timeout as e:
        raise FetchError("timeout", str(e)) from e
    except requests.exceptions.RequestException as e:
        raise FetchError("connection", str(e)) from e
    truncated = None
    chunks: list[bytes] = []
    size = 0
    try:
        declared = r.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            truncated = "length"  # don't download what we would throw away
        else:
            for chunk in r.raw.stream(64 * 1024, decode_content=False):
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    truncated = "length"
                    break
                if time.monotonic() - t0 > total_timeout:
                    truncated = "time"
                    break
    except Exception as e:  # OSError, requests errors and urllib3.exceptions.HTTPError (not an OSError)
        kind = "timeout" if "timed out" in str(e).lower() else "connection"
        raise FetchError(kind, str(e)) from e
    finally:
        r.close()
    body = b"".join(chunks)[:max_bytes] if truncated == "length" else b"".join(chunks)
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    req_headers = [("Host", parts.netloc), *r.request.headers.items()]
    # The body is stored de-chunked; keep the original header under another name so warcio does not
    # try to de-chunk it again when reading (the convention pywb/webrecorder use for hop-by-hop headers).
    resp_headers = [
        (("X-Archive-Orig-" + k) if k.lower() == "transfer-encoding" else k, v) for k, v in r.raw.headers.items()
    ]
    return Response(
        url=url,
        status=r.status_code,
        reason=r.reason or "",
        headers=resp_headers,
        body=body,
        request_line=f"GET {path} HTTP/1.1",
        request_headers=[(k, v) for k, v in req_headers if isinstance(v, str)],
        truncated=truncated,
        ip=ip,
        elapsed=time.monotonic() - t0,
    )
