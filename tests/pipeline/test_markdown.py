"""Markdown sources (pipeline/sources/markdown.py, the .md branch of ingest) on the real global-asp stories."""

from __future__ import annotations

import re
from pathlib import Path

from tibcpt.pipeline.document import RawDoc, Rejection
from tibcpt.pipeline.sources.ingest import list_files
from tibcpt.pipeline.sources.markdown import parse_markdown
from tibcpt.pipeline.sources.registry import get_kind, load_sources

ROOT = Path(__file__).resolve().parents[2]
ASP = ROOT.parent / "shared" / "corpus" / "modern" / "global-asp-stories"


def test_every_story_text_without_markup_and_credits_in_meta() -> None:
    files = sorted(ASP.glob("*.md"))
    assert len(files) == 29
    for f in files:
        raw = f.read_text(encoding="utf-8")
        text, meta = parse_markdown(raw)
        title = raw.split("\n", 1)[0].removeprefix("# ").strip()
        assert meta["title"] == title and text.startswith(title + "\n\n"), f.name
        credits = meta["credits"]
        assert credits["license"] == "CC-BY" and credits["language"] == "bo", f.name
        assert credits["text"] and credits["illustration"] and "Dabtruk" in credits["translation"], f.name
        # No markup, no footer: every line is Tibetan story text.
        for line in text.split("\n"):
            assert not line.startswith(("#", "*", "-")) and "License" not in line, (f.name, line)
            assert not re.search("[A-Za-z]", line), (f.name, line)  # the credits' names are Latin
        # Each `##` page with text is one paragraph; nothing of the pages is lost.
        pages = [p.strip() for p in raw.split("\n##")[1:] if p.strip() and not p.strip().startswith("*")]
        assert text.split("\n\n")[1:] == pages, f.name


def test_markup_inside_text_keeps_what_a_reader_sees() -> None:
    raw = (ASP / "0302_མེ།.md").read_text(encoding="utf-8")
    para = next(p for p in raw.split("\n\n") if p.startswith("##\n")).removeprefix("##\n")
    first, rest = para.split("།", 1)
    md = f"# ཁ\n\n##\n**{first}**།{rest} ![image](p1.jpg) <br>\n\n---\n\n* [{first}](https://example.org)\n"
    text, meta = parse_markdown(md)
    assert text == f"ཁ\n\n{para}\n\n{first}"
    assert meta == {"title": "ཁ"}  # a last list that is not "Key: value" stays text, no credits


def test_ingest_reads_md_through_sources_yaml() -> None:
    sources = load_sources(ROOT / "sources.yaml", only=["global-asp-stories"])
    (src,) = sources
    assert src.eval_only and src.license == "CC-BY-4.0" and src.genre == "children"
    items = get_kind(src.kind).list_items(src)
    assert items == list_files(src) and len(items) == 29
    docs = [d for item in items for d in get_kind(src.kind).read_item(src, item)]
    assert all(isinstance(d, RawDoc) for d in docs)
    doc = docs[0]
    assert doc.id == f"global-asp-stories/{Path(items[0]).name}" and doc.format == "text"
    assert doc.meta["credits"]["text"] == "Cornelius Gulere" and doc.meta["format"] == "markdown"


def test_undecodable_markdown_is_a_rejection(tmp_path: Path) -> None:
    (tmp_path / "bad.md").write_bytes(b"\x00\x01\x02\x03" * 64)
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - {name: md, kind: local, license: CC-BY-4.0, genre: children, path: .}\n", encoding="utf-8"
    )
    (src,) = load_sources(tmp_path / "sources.yaml")
    (rej,) = list(get_kind("local").read_item(src, str(tmp_path / "bad.md")))
    assert isinstance(rej, Rejection) and rej.stage == "ingest" and rej.reason == "binary"


def test_folder_walk_skips_the_upstream_readme(tmp_path: Path) -> None:
    kids = ROOT.parent / "shared" / "corpus" / "modern" / "childrens-stories"
    assert (kids / "README.upstream.md").is_file()
    entry = "sources:\n  - {{name: k, kind: local, license: CC-BY-4.0, genre: children, path: {p}{inc}}}\n"
    (tmp_path / "a.yaml").write_text(entry.format(p=kids, inc=""), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(entry.format(p=kids, inc=", include: ['*.md']"), encoding="utf-8")
    walked = read_all(load_sources(tmp_path / "a.yaml")[0])
    (readme,) = [d for d in walked if d.id.endswith(".md")]
    assert isinstance(readme, Rejection) and readme.reason == "unsupported_format"
    assert not any(isinstance(d, RawDoc) and d.id.endswith(".md") for d in walked)
    # Named by an include glob, it is read: the user asked for it.
    (doc,) = read_all(load_sources(tmp_path / "b.yaml")[0])
    assert isinstance(doc, RawDoc) and doc.id == "k/README.upstream.md" and "Esukhia" in doc.content


def read_all(src) -> list:
    kind = get_kind(src.kind)
    return [d for item in kind.list_items(src) for d in kind.read_item(src, item)]
