"""Crawl speed and requests wasted on traps: the /p/ portal of the loopback test site, defences on/off.

Set: tests/pipeline/site_portal.py (Tibetan IRIs, gzipped sitemap index, session-id trap, tracking
variants, canonical twins, content duplicate, pagination, endless calendar) served on 127.0.0.1.
`on` is the default options (the test's pattern cap of 10); `off` turns off URL canonicalisation of
session/tracking parameters, rel=canonical, content-hash duplicates and the pattern cap. Both runs
get the same page budget (max_pages) and no politeness delay (delay 0: we time the crawler, not
robots.txt's Crawl-delay). Reports requests, articles reached, requests per article, pages/s and
the crawler's own waste count, to bench/results/crawl_traps.json.

    .venv/bin/python bench/crawl_traps.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "pipeline"))
import site_portal  # noqa: E402
from site_fixture import start_site, stop_site  # noqa: E402
from tibcpt.pipeline.crawl.crawler import crawl_source  # noqa: E402
from tibcpt.pipeline.sources.registry import parse_source  # noqa: E402

MAX_PAGES = 120


def run(defences: bool) -> dict:
    site, servers = start_site(REPO.parent / "shared" / "corpus")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            entry = {
                "name": "portal",
                "kind": "web",
                "license": "CC-BY-4.0",
                "genre": "news",
                "contact": "https://example.org/tibcpt-bench",
                "seeds": [site.base + "/p/"],
                "sitemaps": [site.base + "/p/sitemap_index.xml.gz"],
                "include_patterns": ["/p/"],
                "warc_dir": str(Path(tmp) / "c"),
                "allow_private_addresses": True,
                "delay": 0.0,
                "max_depth": 1000,
                "max_pages": MAX_PAGES,
                "concurrency_per_host": 2,
            }
            if defences:
                entry["max_requests_per_pattern"] = site_portal.PATTERN_CAP
            else:
                entry.update(strip_session_params=False, respect_canonical=False, skip_duplicate_content=False)
                entry["max_requests_per_pattern"] = 10**9
            s = crawl_source(parse_source(entry, Path(tmp)))
    finally:
        stop_site(servers)
    fetched = {p.partition("&PHPSESSID")[0] for p in site.paths()}
    reached = sorted(set(site_portal.article_paths()) & fetched)
    trap = sum(v for p, v in site.paths().items() if p.startswith(("/p/list", "/p/cal/", "/p/item")))
    return {
        "requests": len(site.log),
        "articles_reached": len(reached),
        "articles_total": len(site_portal.article_paths()),
        "requests_per_article": round(len(site.log) / max(len(reached), 1), 2),
        "requests_into_traps": trap,
        "trap_share": round(trap / len(site.log), 3),
        "pages_per_s": s["pages_per_s"],
        "seconds": s["seconds_this_run"],
        "crawler_wasted": s["wasted"],
        "crawler_wasted_share": s["wasted_share"],
    }


def main() -> None:
    res = {"set": "tests/pipeline/site_portal.py /p/ on loopback", "max_pages": MAX_PAGES}
    for name, on in (("defences_on", True), ("defences_off", False)):
        res[name] = run(on)
        print(name, res[name])
    out = REPO / "bench" / "results" / "crawl_traps.json"
    out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
