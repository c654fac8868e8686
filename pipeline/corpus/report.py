"""`out/corpus/report.html`: what a person would rather look at than read in manifest.json.

Plots (matplotlib, embedded as PNG data URIs so the report is one self-contained file): documents
and syllables per source, drops by reason, and the distribution of document lengths per source.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tibcpt.io import write_text_atomic


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def write_report(out: Path, manifest: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    imgs: list[tuple[str, str]] = []
    srcs = manifest["sources"]
    names = list(srcs)
    fig, axes = plt.subplots(1, 2, figsize=(11, max(2.5, 0.35 * len(names) + 1)))
    axes[0].barh(names, [srcs[n]["docs_out"] for n in names], color="#4c72b0")
    axes[0].set_title("documents kept per source")
    axes[1].barh(names, [srcs[n]["syllables"] for n in names], color="#55a868")
    axes[1].set_title("syllables kept per source")
    for ax in axes:
        ax.invert_yaxis()
    imgs.append(("Kept per source", _png(fig)))
    plt.close(fig)

    drops = manifest["totals"]["dropped_by_reason"]
    if drops:
        reasons = sorted(drops, key=drops.get, reverse=True)
        fig, ax = plt.subplots(figsize=(8, max(2.5, 0.3 * len(reasons) + 1)))
        ax.barh(reasons, [drops[r] for r in reasons], color="#c44e52")
        ax.invert_yaxis()
        ax.set_title("documents dropped, by reason")
        imgs.append(("Drops by reason", _png(fig)))
        plt.close(fig)

    lengths: dict[str, list[int]] = {}
    for shard in manifest["shards"]:
        t = pq.read_table(out / shard["path"], columns=["source", "n_syllables"]).to_pydict()
        for s, n in zip(t["source"], t["n_syllables"]):
            lengths.setdefault(s, []).append(n)
    if lengths:
        import numpy as np

        fig, ax = plt.subplots(figsize=(8, 4))
        hi = max(max(ls) for ls in lengths.values())
        bins = np.logspace(0, np.log10(max(hi, 10)) + 0.05, 40)  # log-spaced: lengths span 4 decades
        for s, ls in sorted(lengths.items()):
            ax.hist([max(1, x) for x in ls], bins=bins, histtype="step", label=s)
        ax.set_xscale("log")
        ax.set_xlabel("syllables per document (log scale)")
        ax.set_ylabel("documents")
        ax.legend(fontsize=7)
        ax.set_title("document length distribution")
        imgs.append(("Document lengths", _png(fig)))
        plt.close(fig)

    rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{html.escape(s['license'])}</td><td>{html.escape(s['genre'])}</td>"
        f"<td>{s['docs_out']}</td><td>{s['syllables']}</td><td>{s['bytes']}</td></tr>"
        for n, s in srcs.items()
    )
    t = manifest["totals"]
    body = (
        "<h1>tibcpt corpus report</h1>"
        f"<p>{t['docs_out']} documents kept, {t['syllables']} syllables, {t['bytes'] / 1e6:.2f} MB; "
        f"{t['rejected']} rejected (rejected.parquet). Created {manifest['created']}, "
        f"tibcpt {manifest['tool']['version']}, config {manifest['config_hash']}.</p>"
        "<table border=1 cellpadding=4><tr><th>source</th><th>license</th><th>genre</th><th>docs</th>"
        f"<th>syllables</th><th>bytes</th></tr>{rows}</table>"
        + "".join(f"<h2>{html.escape(title)}</h2><img src='{src}'>" for title, src in imgs)
    )
    path = out / "report.html"
    write_text_atomic(path, f"<!doctype html><meta charset='utf-8'><title>tibcpt corpus</title>{body}")
    return path
