"""Gopher repetition measures over Tibetan syllables, vectorised (part of stage 5, `filters`).

datatrove's `GopherRepetitionFilter` joins n-gram strings in Python for every n; on Tibetan that
is 9 passes over ~130k syllables per MB. Here a document's syllables become 64-bit codes once, every
n-window gets a rolling hash with numpy, and one stable argsort per n finds repeats. Definitions and
character counts follow datatrove (`find_top_duplicate`, `find_all_duplicate`); the tests compare
against a string implementation of the latter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Random 64-bit codes per syllable id make the rolling n-gram hash behave like a random hash
# (collision odds ~ n^2 / 2^64); numpy does the window arithmetic, the only Python loop left is
# datatrove's greedy duplicate scan, and that runs only when a cheap upper bound says it could fail.
_RNG_BITS = 20
_RNG_CODES = np.random.default_rng(0x7B0).integers(1, 2**63 - 1, size=1 << _RNG_BITS, dtype=np.uint64)
_P = np.uint64(0x100000001B3)


@dataclass
class NgramIndex:
    """Per-document arrays for the repetition rules: syllable codes and char lengths (+tsheg)."""

    codes: np.ndarray
    lens: np.ndarray
    cum: np.ndarray = field(init=False)
    _n: int = field(init=False, default=1)
    _h: np.ndarray | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.cum = np.concatenate(([0], np.cumsum(self.lens)))

    @classmethod
    def build(cls, syls: list[str]) -> NgramIndex:
        # id of a syllable = index of its first occurrence; map/setdefault run in C, no Python loop
        vocab: dict[str, int] = {}
        ids = np.fromiter(map(vocab.setdefault, syls, range(len(syls))), dtype=np.int64, count=len(syls))
        codes = _RNG_CODES[ids & ((1 << _RNG_BITS) - 1)]
        if len(syls) >> _RNG_BITS:  # > 1M syllables: mix the high bits in too
            codes ^= (ids >> _RNG_BITS).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        lens = np.fromiter(map(len, syls), dtype=np.int64, count=len(syls)) + 1
        return cls(codes, lens)

    def hashes(self, n: int) -> np.ndarray:
        """64-bit hash of every n-syllable window; extends the last computed size when n grows
        (the rules ask for 3, 4, 5, 6, 8, ... in order)."""
        if self._h is None or n < self._n:
            self._n, self._h = 1, self.codes
        h, m = self._h, len(self.codes) - n + 1
        with np.errstate(over="ignore"):
            for k in range(self._n, n):
                h = h[:-1] * _P + self.codes[k:]
        self._n, self._h = n, h
        return h[:m]

    def window_chars(self, n: int) -> np.ndarray:
        return self.cum[n:] - self.cum[:-n]


def _groups(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stable sort order of `h` and a mask (in sorted order) of each value's first occurrence."""
    order = np.argsort(h, kind="stable")
    hs = h[order]
    first = np.empty(len(h), dtype=bool)
    first[:1] = True
    np.not_equal(hs[1:], hs[:-1], out=first[1:])
    return order, first


def top_ngram_chars(idx: NgramIndex, n: int) -> int:
    """Gopher: characters covered by all occurrences of the most frequent n-gram."""
    if len(idx.codes) < n:
        return 0
    order, first = _groups(idx.hashes(n))
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, len(order)))
    top = int(np.argmax(counts))
    return int(counts[top]) * int(idx.window_chars(n)[order[starts[top]]])


def dup_ngram_bound(idx: NgramIndex, n: int) -> int:
    """Characters covered by every n-window whose n-gram occurred earlier: an upper bound of
    `dup_ngram_chars` (the greedy scan counts a subset of these windows, non-overlapping), and
    non-increasing in n (a repeated (n+1)-window is covered by two repeated n-windows)."""
    if len(idx.codes) - n + 1 <= 1:
        return 0
    order, first = _groups(idx.hashes(n))
    dup_pos = order[~first]
    if len(dup_pos) == 0:
        return 0
    cover = np.zeros(len(idx.codes) + 1, dtype=np.int64)
    cover[dup_pos] += 1  # positions are distinct, so plain fancy-index += is exact
    cover[dup_pos + n] -= 1
    return int(idx.lens[np.cumsum(cover[:-1]) > 0].sum())


def dup_ngram_chars(idx: NgramIndex, n: int, limit: float | None = None) -> int:
    """Gopher/datatrove `find_all_duplicate`: characters of non-overlapping n-grams that repeat an
    n-gram seen earlier in a left-to-right greedy scan. If `limit` is given and the upper bound
    (`dup_ngram_bound`) is <= limit, return the bound without the exact scan: the caller only needs
    to know the value does not exceed `limit`."""
    m = len(idx.codes) - n + 1
    if m <= 1:
        return 0
    if limit is not None:
        bound = dup_ngram_bound(idx, n)
        if bound <= limit:
            return bound
    # The greedy scan is sequential (a hit skips n positions without recording them): a Python loop
    # over precomputed ints, run only for documents the bound could not clear.
    wchars = idx.window_chars(n).tolist()
    hl = idx.hashes(n).tolist()
    seen: set[int] = set()
    repeated, i = 0, 0
    while i < m:
        if hl[i] in seen:
            repeated += wchars[i]
            i += n
        else:
            seen.add(hl[i])
            i += 1
    return repeated
