"""Byte-level BPE extension by real vocab + merges (`bpe_mode: merges`), the alternative to added tokens.

Three parts, each keeping non-Tibetan text byte-identical to the base:

1. Pre-tokenizer. The GPT-2 split regex (`?\\p{L}+| ?[^\\s\\p{L}\\p{N}]+...`) cuts a Tibetan syllable
   between its letters (Lo) and vowel signs (Mn), so no merge could ever span a syllable. We prepend
   an alternative ` ?[\\u0F00-\\u0FFF]+` (a Tibetan run with one optional leading space) and remove the
   Tibetan block from every other branch (`\\p{L}` -> `[^\\P{L}\\u0F00-\\u0FFF]`, negated classes get the
   block added), then run ByteLevel with `use_regex=False`. On text without Tibetan the branches match
   exactly what the base regex matches (same onig engine), so the pieces are the same.
2. Learning merges. Base merges are ranked first and always win, so a merge learned from raw bytes
   would be stranded wherever the base already merged differently. We therefore learn on the base's own
   segmentation: each Tibetan run is tokenized by the base model, its tokens grouped into "atoms" (the
   fewest tokens covering whole characters), and a `tokenizers` BpeTrainer (Rust) runs over atom
   sequences (one private-use character per atom). Merges applied in rank order after the base's
   reproduce the trainer's segmentation (standard BPE), so none is stranded.
3. Safety. Every appended merge's result contains the bytes E0 [BC-BF] (a UTF-8 Tibetan character
   prefix), so it can only fire on text that contains Tibetan: e.g. the tsheg is E0 BC 8B and SmolLM2
   splits it into single bytes, but a merge of BC+8B would also fire on U+FF0B (EF BC 8B) — atoms
   rule that merge out. Atom build-up merges start at the E0 lead byte for the same reason.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from tibcpt.bytelevel import byte_decoder
from tibcpt.errors import InputError

log = logging.getLogger(__name__)

TIB = "\u0f00-\u0fff"
TIB_RUN = f" ?[{TIB}]+"
TIB_RUN_RE = re.compile(TIB_RUN)
# The regex ByteLevel applies when use_regex=True (tokenizers src/pre_tokenizers/byte_level.rs).
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
TIB_BYTES_RE = re.compile(rb"\xe0[\xbc-\xbf]")  # UTF-8 prefix of U+0F00..U+0FFF
PUA0 = 0xF0000  # Supplementary Private Use Area-A: one character per atom for the trainer


def token_bytes(token: str) -> bytes:
    """Raw bytes of a byte-level token string."""
    dec = byte_decoder()
    return bytes(dec[c] for c in token)


def is_tibetan_only_merge(result: str) -> bool:
    """True if a merge producing `result` can fire only on text containing a Tibetan character."""
    return TIB_BYTES_RE.search(token_bytes(result)) is not None


def guard_pattern(pattern: str) -> str:
    """`pattern` with the Tibetan block removed from its branches and a Tibetan-run branch in front.

    Handles `\\p{X}` outside classes and negated classes `[^...]` (GPT-2 and Llama-3 regexes); raises
    ValueError on a property inside a positive class or a bare `.`, which we cannot subtract from.
    """
    out: list[str] = []
    i, in_class, negated = 0, False, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            esc = pattern[i : i + 2]
            if pattern[i + 1] in "pP" and i + 2 < len(pattern) and pattern[i + 2] == "{":
                esc = pattern[i : pattern.index("}", i) + 1]
                if not in_class:
                    neg = "p" if esc[1] == "P" else "P"
                    out.append(f"[^\\{neg}{esc[2:]}{TIB}]")
                    i += len(esc)
                    continue
                if not negated:
                    raise InputError(f"pre-tokenizer regex: cannot exclude Tibetan from class with {esc}")
            # \S, \w etc. are left alone: the base regexes use them only in look-aheads; the build
            # checks that no piece mixes Tibetan with other text (`mixed_pieces`).
            out.append(esc)
            i += len(esc)
            continue
        if c == "[" and not in_class:
            in_class, negated = True, pattern[i + 1 : i + 2] == "^"
        elif c == "[":
            raise InputError("pre-tokenizer regex: nested character classes are not supported")
        elif c == "]" and in_class:
            if negated:
                out.append(TIB)
            in_class = False
        elif c == "." and not in_class:
            raise InputError("pre-tokenizer regex: '.' would match Tibetan")
        out.append(c)
        i += 1
    return f"{TIB_RUN}|{''.join(out)}"


def tibetan_pre_tokenizer(pre: dict) -> dict:
    """The base pre-tokenizer spec rewritten so Tibetan runs stay whole (see module docstring)."""
    if pre.get("type") == "ByteLevel":
        if pre.get("add_prefix_space"):
            # ByteLevel prepends its space to every piece of a Sequence, not just the first.
            raise InputError("pre-tokenizer: ByteLevel add_prefix_space=True is not supported")
        split = {"type": "Split", "pattern": {"Regex": GPT2_PATTERN}, "behavior": "Isolated", "invert": False}
        return tibetan_pre_tokenizer({"type": "Sequence", "pretokenizers": [split, {**pre, "use_regex": False}]})
    if pre.get("type") != "Sequence":
        raise InputError(f"pre-tokenizer {pre.get('type')} is not supported for bpe_mode=merges")
    subs = []
    for p in pre["pretokenizers"]:
        if p["type"] == "Split" and "Regex" in p["pattern"]:
            p = {**p, "pattern": {"Regex": guard_pattern(p["pattern"]["Regex"])}}
        elif p["type"] == "ByteLevel" and p.get("use_regex", True):
            raise InputError("pre-tokenizer: a ByteLevel with use_regex inside a Sequence is not supported")
        subs.append(p)
    return {**pre, "pretokenizers": subs}


def tibetan_runs(texts: Iterable[str]) -> Counter[str]:
    """Counts of Tibetan runs (the pieces the new pre-tokenizer keeps whole) in `texts`."""
    runs: Counter[str] = Counter()
    for t in texts:
        runs.update(TIB_RUN_RE.findall(t))
    return runs


def base_model_tokens(spec: dict, runs: list[str]) -> list[list[str]]:
    """The base model's tokens for each whole run (base vocab + merges, no regex split)."""
    t = Tokenizer.from_str(json.dumps({**spec, "normalizer": None, "post_processor": None, "pre_tokenizer": None}))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    return [e.tokens for e in t.encode_batch(runs, add_special_tokens=False)]


def atoms(run: str, tokens: list[str]) -> list[list[str]] | None:
    """Group base tokens of `run` into atoms: fewest consecutive tokens ending on a character boundary.

    Returns None if some atom cannot be built by Tibetan-only merges (see `build_up`).
    """
    bounds, pos = set(), 0
    for ch in run:
        pos += len(ch.encode("utf-8"))
        bounds.add(pos)
    out, cur, pos = [], [], 0
    for tk in tokens:
        cur.append(tk)
        pos += len(tk)  # one byte-level char per byte
        if pos in bounds:
            out.append(cur)
            cur = []
    if cur or any(len(a) > 1 and build_up(a) is None for a in out):
        return None
    return out


def build_up(atom: list[str]) -> list[tuple[str, str]] | None:
    """Merges that join an atom's base tokens into one: left to right from the token holding the E0
    lead byte, then the tokens before it (a leading space) right to left. None if a step would not
    contain a Tibetan character prefix (it could then fire on non-Tibetan text)."""
    s = next((i for i, t in enumerate(atom) if b"\xe0" in token_bytes(t)), 0)
    merges, cur = [], atom[s]
    for t in atom[s + 1 :]:
        merges.append((cur, t))
        cur += t
    for t in reversed(atom[:s]):
        merges.append((t, cur))
        cur = t + cur
    return merges if all(is_tibetan_only_merge(a + b) for a, b in merges) else None


def learn_merges(spec: dict, texts: Iterable[str], budget: int, max_atoms: int = 16) -> list[tuple[str, str]]:
    """Tibetan merges over the base's segmentation of `texts`: atom build-up merges, then BPE merges
    learned by `tokenizers.BpeTrainer` over atom sequences (at most `max_atoms` atoms a token)."""
    counts = tibetan_runs(texts)
    runs = list(counts)
    atom_id: dict[str, str] = {}
    build: dict[tuple[str, str], None] = {}  # ordered set
    words: list[tuple[str, int]] = []
    skipped = 0
    for run, toks in zip(runs, base_model_tokens(spec, runs), strict=True):
        groups = atoms(run, toks)
        if groups is None:
            skipped += 1
            continue
        for g in groups:
            s = "".join(g)
            if s not in atom_id:
                if len(atom_id) >= 65534:
                    raise ValueError("more than 65,534 distinct atoms; not Tibetan text?")
                atom_id[s] = chr(PUA0 + len(atom_id))
                build.update(dict.fromkeys(build_up(g) or []))
        words.append(("".join(atom_id["".join(g)] for g in groups), counts[run]))
    if skipped:
        log.warning("merges: %d of %d runs skipped (atoms not buildable by Tibetan-only merges)", skipped, len(runs))
    tok = Tokenizer(models.BPE())
    trainer = trainers.BpeTrainer(
        vocab_size=len(atom_id) + budget,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=list(atom_id.values()),
        limit_alphabet=len(atom_id),
        max_token_length=max_atoms,
    )
    # The trainer counts words itself; repeat each run by its count (runs are few, ~1 per 20 syllables).
    tok.train_from_iterator((w for w, n in words for _ in range(n)), trainer, length=sum(n for _, n in words))
    back = {v: k for k, v in atom_id.items()}
    learned = []
    for m in json.loads(tok.to_str())["model"]["merges"]:
        a, b = m.split(" ") if isinstance(m, str) else m
        learned.append(("".join(back[c] for c in a), "".join(back[c] for c in b)))
    log.info("merges: %d atoms, %d build-up merges, %d learned merges", len(atom_id), len(build), len(learned))
    return list(build) + learned


def extend_spec(spec: dict, merges: list[tuple[str, str]], max_added: int) -> tuple[dict, int]:
    """`spec` with `merges` appended after the base's (and their results in the vocab); return (spec, #added).

    Existing vocab ids and merges are untouched; a merge whose result is already a vocab entry reuses
    its id. Stops at `max_added` new entries (a prefix of a BPE merge list is merge-closed)."""
    model = dict(spec["model"])
    vocab, base_merges = dict(model["vocab"]), list(model["merges"])
    as_str = bool(base_merges) and isinstance(base_merges[0], str)
    seen = {tuple(m.split(" ", 1)) if as_str else tuple(m) for m in base_merges}
    next_id = max([*vocab.values(), *(t["id"] for t in spec.get("added_tokens", []))]) + 1
    added, new_merges = 0, []
    for a, b in merges:
        if (a, b) in seen or a not in vocab or b not in vocab or not is_tibetan_only_merge(a + b):
            continue
        if a + b not in vocab:
            if added >= max_added:
                break
            vocab[a + b] = next_id
            next_id += 1
            added += 1
        seen.add((a, b))
        new_merges.append(f"{a} {b}" if as_str else [a, b])
    model.update(vocab=vocab, merges=base_merges + new_merges)
    pre = tibetan_pre_tokenizer(spec["pre_tokenizer"])
    return {**spec, "model": model, "pre_tokenizer": pre}, added


def mixed_pieces(tokenizer_json: Path, texts: list[str]) -> list[str]:
    """Pre-tokenizer pieces that mix Tibetan with other characters (should be none but a leading space)."""
    t = Tokenizer.from_file(str(tokenizer_json))
    bad = []
    for text in texts:
        pos = [off for _, off in t.pre_tokenizer.pre_tokenize_str(text)]
        for a, b in pos:
            piece = text[a:b]
            tib = sum(1 for ch in piece if "\u0f00" <= ch <= "\u0fff")
            if tib and not TIB_RUN_RE.fullmatch(piece):
                bad.append(piece)
    return bad


def extend_with_merges(base_dir: Path, texts: list[str], out_dir: Path, max_added: int, max_atoms: int) -> int:
    """Write base_dir's files to `out_dir` with a merges-extended tokenizer.json; return #added vocab entries."""
    spec = json.loads((base_dir / "tokenizer.json").read_text(encoding="utf-8"))
    merges = learn_merges(spec, texts, budget=max_added + max_added // 10, max_atoms=max_atoms)
    new, added = extend_spec(spec, merges, max_added)
    for f in base_dir.iterdir():
        if f.is_file() and f.name != "tokenizer.json":
            (out_dir / f.name).write_bytes(f.read_bytes())
    (out_dir / "tokenizer.json").write_text(json.dumps(new, ensure_ascii=False), encoding="utf-8")
    return added
