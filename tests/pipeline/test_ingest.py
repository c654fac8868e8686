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
from tibcpt.pipeline.sources.records import FilePart
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
    assert all(d.meta["path"].startswith("vol") for d in docs), "paths relative to the source folder"
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
    txt = sorted(str(p) for p in (CORPUS / "modern" / "childrens-stories").glob("*.txt"))
    assert set(txt) <= set(items)
    out = read_all(src)
    docs = [d for d in out if isinstance(d, RawDoc) and d.format == "txt"]
    assert len(docs) == len(txt) and all(isinstance(d.content, bytes) for d in docs)
    assert docs[0].id == "src/" + Path(txt[0]).name and docs[0].meta["path"] == Path(txt[0]).name
    # The folder's other files (CITATION.upstream.cff, LICENSE.upstream) are rejected with a reason.
    assert {r.reason for r in out if isinstance(r, Rejection)} <= {"unsupported_format"}
    assert "src/LICENSE.upstream" in _reasons(out)


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
    (tmp_path / "notes.docx").write_text("not read")
    out = read_all(source(base=tmp_path, path="."))
    assert [(d.id, d.format) for d in out if isinstance(d, RawDoc)] == [
        ("src/b.pdf", "pdf"),
        ("src/sub/a.html", "html"),
    ]
    assert _reasons(out) == {"src/notes.docx": "unsupported_format"}


# ------------------------------------------------------------------------- skipped files, paths


def _reasons(out: list) -> dict[str, str]:
    return {r.id: r.reason for r in out if isinstance(r, Rejection)}


def test_every_listed_file_is_read_or_rejected_with_a_reason(tmp_path: Path) -> None:
    """A .docx, a symlink loop, a dangling link and a link to a folder leave a rejection row each."""
    d = tmp_path / "src"
    d.mkdir()
    (d / "a.txt").write_text(mila_lines(3)[2], encoding="utf-8")
    (d / "report.docx").write_bytes(b"PK\x03\x04 a Word file")
    (d / "loop1.txt").symlink_to(d / "loop2.txt")
    (d / "loop2.txt").symlink_to(d / "loop1.txt")
    (d / "gone.txt").symlink_to(d / "nowhere.txt")
    (d / "sub").mkdir()
    (d / "sub-link").symlink_to(d / "sub")
    out = read_all(source(base=tmp_path, path="src"))
    assert [x.id for x in out if isinstance(x, RawDoc)] == ["src/a.txt"]
    assert _reasons(out) == {
        "src/report.docx": "unsupported_format",
        "src/loop1.txt": "symlink_loop",
        "src/loop2.txt": "symlink_loop",
        "src/gone.txt": "broken_symlink",
        "src/sub-link": "not_a_file",
    }
    assert all(r.stage == "ingest" for r in out if isinstance(r, Rejection))


def test_symlinks_outside_the_source_are_refused_unless_allowed(tmp_path: Path) -> None:
    d = tmp_path / "src"
    d.mkdir()
    secret = tmp_path / "outside.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    (d / "passwd.txt").symlink_to(secret)
    (d / "inside.txt").write_text(mila_lines(1)[0], encoding="utf-8")
    (d / "alias.txt").symlink_to(d / "inside.txt")  # a link inside the folder is fine
    out = read_all(source(base=tmp_path, path="src"))
    assert _reasons(out) == {"src/passwd.txt": "outside_source"}
    rej = next(r for r in out if isinstance(r, Rejection))
    assert rej.text == "" and "root:x" not in rej.detail, "the outside file's text is never read"
    assert sorted(x.id for x in out if isinstance(x, RawDoc)) == ["src/alias.txt", "src/inside.txt"]
    allowed = read_all(source(base=tmp_path, path="src", follow_external_symlinks=True))
    assert not _reasons(allowed) and len(allowed) == 3


def test_a_file_over_max_file_bytes_is_rejected_without_reading_it(tmp_path: Path, monkeypatch) -> None:
    d = tmp_path / "src"
    d.mkdir()
    (d / "big.txt").write_text("\n".join(mila_lines(200)), encoding="utf-8")
    (d / "small.txt").write_text(mila_lines(1)[0], encoding="utf-8")
    src = source(base=tmp_path, path="src", max_file_bytes=4096)
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda p: pytest.fail(f"read {p}") if p.name == "big.txt" else real(p))
    out = read_all(src)
    assert _reasons(out) == {"src/big.txt": "too_large"}
    with pytest.raises(ConfigError, match="max_file_bytes"):
        source(base=tmp_path, path="src", max_file_bytes=0)


def test_meta_paths_are_relative_to_the_source(tmp_path: Path) -> None:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "a.txt").write_text(mila_lines(1)[0], encoding="utf-8")
    (tmp_path / "deep" / "r.jsonl").write_text(json.dumps({"text": mila_lines(2)[1]}) + "\n", encoding="utf-8")
    out = read_all(source(base=tmp_path, path="deep"))
    assert sorted(d.meta["path"] for d in out) == ["er/a.txt", "r.jsonl"]
    assert not any(str(tmp_path) in json.dumps(d.meta) for d in out)


def test_a_large_jsonl_is_cut_into_parts_that_read_back_the_whole_file(tmp_path: Path) -> None:
    lines = [ln for ln in mila_lines(400) if ln.strip()][:300]
    recs = [{"id": f"r{i % 50}", "text": t} if i % 3 else {"text": t} for i, t in enumerate(lines)]  # ids repeat
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs)
    (tmp_path / "big.jsonl").write_text(body, encoding="utf-8")
    size = (tmp_path / "big.jsonl").stat().st_size
    cut = source(base=tmp_path, path="big.jsonl", jsonl_part_bytes=8192)
    items = get_kind("local").list_items(cut)
    assert len(items) > 5 and all(isinstance(i, FilePart) for i in items)
    assert items[0].start == 0 and items[-1].end == size
    assert all(a.end == b.start for a, b in zip(items, items[1:])), "parts tile the file"
    parts = read_all(cut)
    whole = read_all(source(base=tmp_path, path="big.jsonl"))
    assert [d.content for d in parts] == [d.content for d in whole] == lines
    assert [d.id for d in parts] == [f"src/big.jsonl#{n}" for n in range(1, len(lines) + 1)]
    assert [d.meta["record"] for d in parts] == [d.meta["record"] for d in whole]


def test_a_book_longer_than_max_doc_chars_is_cut_at_line_ends(tmp_path: Path) -> None:
    book = "\n".join(mila_lines(120))
    (tmp_path / "book.txt").write_text(book, encoding="utf-8")
    (tmp_path / "short.txt").write_text(mila_lines(1)[0], encoding="utf-8")
    out = read_all(source(base=tmp_path, path=".", max_doc_chars=20_000))
    short = [d for d in out if d.id == "src/short.txt"]
    assert len(short) == 1 and short[0].format == "txt", "a short file takes the usual path"
    pieces = [d for d in out if d.id.startswith("src/book.txt")]
    assert len(pieces) >= len(book) // 20_000 and all(10_000 <= len(d.content) <= 20_000 for d in pieces[:-1])
    assert [d.id for d in pieces] == [f"src/book.txt#{k}" for k in range(len(pieces))]
    assert "".join(d.content for d in pieces).replace("\n", "") == book.replace("\n", "")
    whole = read_all(source(base=tmp_path, path="book.txt"))
    assert len(whole) == 1 and whole[0].id == "src/book.txt" and whole[0].format == "txt"
