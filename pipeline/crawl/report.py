"""The crawler's bookkeeping around its main loop: recovering a killed run's `.open` WARC files,
and the end-of-run summary (speed, and requests wasted on duplicates and traps)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tibcpt.pipeline.crawl.fetch import Response
from tibcpt.pipeline.crawl.warc import OPEN_SUFFIX, ROLE_HEADER, recover_open_file

log = logging.getLogger(__name__)

WASTED_ROLES = ("duplicate", "canonical_twin")
"""Requests whose answer the corpus will not use: counted as wasted (pattern-cap skips cost none)."""


def recover(crawler: Any) -> int:
    """Finish `.open` WARC files of a killed run; mark pages whose final record made it as done."""
    n = 0
    for path in sorted(crawler.folder.glob(f"*.warc.gz{OPEN_SUFFIX}")):

        def on_record(rec: Any, offset: int, path: Path = path) -> None:
            nonlocal n
            url = rec.rec_headers.get_header("WARC-Target-URI")
            item = crawler.frontier.get(url)
            status = int(rec.http_headers.get_statuscode() or 0) if rec.http_headers else 0
            if item is None or crawler.frontier.status_of(url) != "queued":
                return
            if status == 429 or status >= 500 or rec.rec_headers.get_header(ROLE_HEADER) == "robots":
                return  # not a final answer: refetch
            headers = [(k, v) for k, v in rec.http_headers.headers if k.lower() != "content-encoding"]
            resp = Response(
                url, status, "", headers, rec.buffered, "", [], rec.rec_headers.get_header("WARC-Truncated")
            )
            children, note, _ = crawler.analyze(item, resp)
            name = path.name[: -len(OPEN_SUFFIX)]
            crawler.frontier.complete(
                url,
                "done",
                reason=note,
                http_status=status,
                warc_file=name,
                warc_offset=offset,
                n_bytes=len(resp.body),
                children=children,
            )
            n += 1

        recover_open_file(path, on_record)
    if n:
        log.info("%s: recovered %d page(s) written before the last run stopped", crawler.src.name, n)
    return n


def summarize(crawler: Any, elapsed: float, pages: int) -> dict[str, Any]:
    """crawl_summary.json of one run of `crawler`: frontier state, errors, speed, waste."""
    wasted_requests = sum(crawler.wasted[r] for r in WASTED_ROLES)
    return {
        "source": crawler.src.name,
        "frontier": crawler.frontier.counts(),
        "reasons": crawler.frontier.reasons(),
        "errors": dict(crawler.errors),
        "bytes_this_run": crawler.bytes,
        "completed_this_run": crawler.completed,
        "requests_this_run": crawler.requests,
        "pages_this_run": pages,
        "seconds_this_run": round(elapsed, 3),
        "pages_per_s": round(pages / elapsed, 3) if elapsed > 0 else 0.0,
        "wasted": dict(crawler.wasted),
        "wasted_requests": wasted_requests,
        "wasted_share": round(wasted_requests / crawler.requests, 4) if crawler.requests else 0.0,
    }


def summary_line(s: dict[str, Any]) -> str:
    """One line for the end of `tibcpt crawl`: speed and the requests traps and duplicates cost."""
    wasted = ", ".join(f"{k} {v}" for k, v in sorted(s["wasted"].items())) or "none"
    return (
        f"{s['pages_this_run']} page URLs handled in {s['seconds_this_run']:.1f} s ({s['pages_per_s']:.2f} pages/s), "
        f"{s['requests_this_run']} requests, {s['wasted_requests']} wasted on duplicates/canonical twins "
        f"({100 * s['wasted_share']:.1f} %); by kind: {wasted}; frontier {s['frontier']}"
    )
