"""ingest: local and etext kinds on the real sample corpus; bad input becomes Rejections."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tibcpt.pipeline.document import RawDoc, Rejection
from tibcpt.pipeline.sources.ingest import clean_etext, split_blank_lines, split_lines, split_sections
from tibcpt.pipeline.sources.registry import get_kind, parse_source

from tibcpt.config import ConfigError

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = SHARED / "corpus"
DERGE = CORPUS / "classical" / "derge-kangyur"
MILA = CORPUS / "classical" / "classical-tibetan-corpus" / "mila.txt"


def source(base: Path = CORPUS, **entry):
    entry = {"name": "src", "kind": "local", "license": "CC-BY-4.0", "genre": "other", **entry}
    return parse_source(entry, base)


def read_all(src) -> list[RawDoc | Rejection]:
    kind = get_kind(src.kind)
    return [r for item in kind.list_items(src) for r in kind.read_item(src, item)]


def mila_lines(n: int) -> list[str]:
    return MILA.read_text(encoding="utf-8").splitlines()[:n]


# ---------------------------------------------------------------------------------------- etext


def test_clean_etext_on_real_volume() -> None:
    raw = (DERGE / "vol001_vinaya_ka.txt").read_text(encoding="utf-8")
    head = raw[:200_000]
    text = clean_etext(head)
    assert not re.search(r"[\[\]{}()#]", text)
    assert "\n" not in text  # physical woodblock lines are re-joined
    # lines broken mid-word are re-joined: "...གང་གིས་འཆིང་\n[1b.2]རྣམས..."
    assert "གང་གིས་འཆིང་རྣམས་ཡང་དག" in text
    # (error,correction) -> correction; {archaic,regular} -> regular
    assert "(འཆིའོ,མཆིའོ)" in head and "སྐྱབས་སུ་མཆིའོ" in text and "སྐྱབས་སུ་འཆིའོ" not in text
    assert text.startswith("༄༅༅། །རྒྱ་གར་སྐད་དུ།")


def test_clean_etext_marker_variants() -> None:
    line = mila_lines(1)[0][:120]
    raw = f"[245b.7]{{T841-2}}{line[:40]}\n[355xa]\n[355xa.1]{line[40:80]}#[ལ་]{{D7a}}(ཀྱི་,གྱི་){line[80:]}"
    assert clean_etext(raw) == line[:80] + "ལ་གྱི་" + line[80:]


def test_split_sections_one_document_per_text() -> None:
    raw = (DERGE / "vol060_sutra_ma.txt").read_text(encoding="utf-8")
    parts = split_sections(raw)
    markers = [m for m, _ in parts]
    assert markers == [None] + [f"D{n}" for n in range(172, 181)]  # None: text continued from vol 59
    assert all("{D" not in body for _, body in parts)


def test_etext_source_on_derge_folder() -> None:
    src = source(
        kind="etext", license="public-domain", genre="religious", path="classical/derge-kangyur", include=["vol*.txt"]
    )
    docs = read_all(src)
    assert all(isinstance(d, RawDoc) and d.format == "text" for d in docs)
    ids = [d.id for d in docs]
    assert len(ids) == len(set(ids)) and ids[0] == "src/vol001_vinaya_ka.txt#0"
    by_marker = {d.meta.get("text_marker") for d in docs}
    assert {"D1-1", "D1-6", "D172", "D180", "D557", "D604"} <= by_marker
    assert all(d.meta["path"].startswith(str(DERGE)) for d in docs)
    # nothing lost in splitting: the documents hold every Tibetan letter of the cleaned volumes
    vols = [clean_etext(p.read_text(encoding="utf-8")) for p in sorted(DERGE.glob("vol*.txt"))]
    n_tib = sum(len(re.findall("[\u0f40-\u0fbc]", v)) for v in vols)
    assert sum(len(re.findall("[\u0f40-\u0fbc]", d.content)) for d in docs) == n_tib
    assert src.options.split == "sections"


# ---------------------------------------------------------------------------------------- local


def test_local_folder_children_stories() -> None:
    src = source(path="modern/childrens-stories", genre="children")
    kind = get_kind("local")
    items = kind.list_items(src)
    assert len(items) == len(list((CORPUS / "modern" / "childrens-stories").glob("*.txt")))
    docs = read_all(src)
    assert all(isinstance(d, RawDoc) and d.format == "txt" and isinstance(d.content, bytes) for d in docs)
    assert docs[0].id == "src/" + Path(items[0]).name and docs[0].meta["path"] == items[0]


def test_local_glob_include_segmented_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIBCPT_TEST_CORPUS", str(CORPUS))
    src = source(path="${TIBCPT_TEST_CORPUS}/modern/nanhai-modern-writing/*.txt", include=["*-A-*"], segmented=True)
    docs = read_all(src)
    assert docs and all("-A-" in d.id for d in docs)
    assert all(d.id.startswith("src/C-") and d.meta["segmented"] is True for d in docs)
    default = source(path="${TIBCPT_TEST_UNSET:-classical/old-tibetan-corpus}", include=["**/*.txt"])
    assert {d.id for d in read_all(default)} == {"src/otannals.txt", "src/otchronicle.txt"}


def test_missing_path_and_bad_options() -> None:
    with pytest.raises(ConfigError, match="nosuch-src"):
        get_kind("local").list_items(source(name="nosuch-src", path="does/not/exist"))
    with pytest.raises(ConfigError, match="split"):
        source(path="modern", split="pages")
    with pytest.raises(ConfigError, match="colour"):
        source(path="modern", colour="red")
    with pytest.raises(ConfigError, match="encoding"):
        source(path="modern", encoding="no-such-codec")


def test_split_blank_lines(tmp_path: Path) -> None:
    paras = mila_lines(12)
    (tmp_path / "big.txt").write_text("\n\n".join(p[:900] for p in paras), encoding="utf-8")
    src = source(base=tmp_path, path=".", split="blank_lines", min_split_chars=2500)
    docs = read_all(src)
    assert [d.id for d in docs] == [f"src/big.txt#{i}" for i in range(len(docs))]
    assert len(docs) == 4 and all(len(d.content) >= 2500 for d in docs)
    assert "\n\n".join(d.content for d in docs) == "\n\n".join(p[:900] for p in paras)
    assert split_blank_lines("a\n\n\n \nb", 1) == ["a", "b"]


def test_split_lines_for_one_paragraph_per_line_books(shared: Path) -> None:
    """mila.txt has ~190 long lines and no blank lines: `lines` cuts it into ~20k-char documents."""
    text = (shared / "corpus/classical/classical-tibetan-corpus/mila.txt").read_text(encoding="utf-8")
    docs = split_lines(text, 20_000)
    assert len(docs) > 10
    assert all(len(d) >= 20_000 for d in docs)
    assert "\n".join(docs) == "\n".join(line for line in text.split("\n") if line.strip())


def test_jsonl_records_and_bad_lines(tmp_path: Path) -> None:
    lines = mila_lines(3)
    rows = [
        json.dumps({"id": "r1", "text": lines[0], "url": "https://example.org/1"}, ensure_ascii=False),
        "{not json",
        json.dumps({"title": "no text field"}),
        "",
        json.dumps({"text": lines[1]}, ensure_ascii=False),
        json.dumps({"id": "r1", "text": lines[2]}, ensure_ascii=False),  # duplicate id
    ]
    (tmp_path / "recs.jsonl").write_text("\n".join(rows), encoding="utf-8")
    (tmp_path / "bad.jsonl").write_bytes(b'{"text": "\xff\xfe"}\n')
    out = read_all(source(base=tmp_path, path="."))
    got = [(r.id, type(r).__name__, getattr(r, "reason", None)) for r in out]
    assert got == [
        ("src/bad.jsonl#1", "Rejection", "bad_json"),
        ("src/recs.jsonl#r1", "RawDoc", None),
        ("src/recs.jsonl#2", "Rejection", "bad_json"),
        ("src/recs.jsonl#3", "Rejection", "no_text_field"),
        ("src/recs.jsonl#5", "RawDoc", None),
        ("src/recs.jsonl#6", "RawDoc", None),
    ]
    docs = [r for r in out if isinstance(r, RawDoc)]
    assert [d.content for d in docs] == lines and docs[0].meta["url"] == "https://example.org/1"
    assert all(r.stage == "ingest" for r in out if isinstance(r, Rejection))


def test_parquet_records(tmp_path: Path) -> None:
    lines = mila_lines(3)
    table = pa.table({"doc": ["a", "b", "c", "d"], "body": [lines[0], None, lines[1], lines[2]], "other": [1, 2, 3, 4]})
    pq.write_table(table, tmp_path / "x.parquet")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    out = read_all(source(base=tmp_path, path=".", text_field="body", id_field="doc"))
    assert [(r.id, getattr(r, "reason", None)) for r in out] == [
        ("src/broken.parquet", "unreadable"),
        ("src/x.parquet#a", None),
        ("src/x.parquet#b", "no_text_field"),
        ("src/x.parquet#c", None),
        ("src/x.parquet#d", None),
    ]
    assert [r.content for r in out if isinstance(r, RawDoc)] == lines


def test_unreadable_and_undecodable_inputs(tmp_path: Path) -> None:
    src = source(base=tmp_path, path=".", split="blank_lines")
    (tmp_path / "bin.txt").write_bytes(bytes(range(256)) * 50)
    out = read_all(src)
    assert [(r.id, r.reason, r.stage) for r in out] == [("src/bin.txt", "binary", "ingest")]
    gone = list(get_kind("local").read_item(src, str(tmp_path / "vanished.txt")))
    assert len(gone) == 1 and gone[0].reason == "unreadable"


def test_html_and_pdf_files_pass_as_bytes(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.html").write_text(f"<html><body><p>{mila_lines(1)[0]}</p></body></html>", encoding="utf-8")
    (tmp_path / "b.pdf").write_bytes(b"%PDF-1.4 truncated")
    (tmp_path / "notes.md").write_text("ignored")
    out = read_all(source(base=tmp_path, path="."))
    assert [(d.id, d.format) for d in out] == [("src/b.pdf", "pdf"), ("src/sub/a.html", "html")]
