"""BLAKE2b (RFC 7693) of many short messages sharing a prefix, compiled, over both cores.

The input hash of :func:`carbonfin.scoring.score._row_hash` is BLAKE2b-256 of a fixed header
followed by one row's bytes. hashlib does that at about 1 µs a row from Python (a ``copy()`` of
the header's state, four ``update`` calls, ``hexdigest``), holding the GIL: messages under 2 KiB
never release it. This module computes the *same* standard BLAKE2b, bit for bit, in a numba
kernel: the header's full blocks are compressed once (:func:`prefix_state`), then every row
continues from that state with the header's remaining bytes and its own, in parallel over numba's
threads. Nothing about the hash changes: same algorithm, parameters (digest length 32, no key,
salt or personalisation), message and digest; ``tests/scoring/test_blake2b.py`` checks it against
``hashlib.blake2b`` on messages of every length around the block boundaries.

The algorithm is RFC 7693 section 3 (compression function F with 12 rounds of G, the message
schedule SIGMA, the initialisation vector of SHA-512) with the parameter block of the BLAKE2
paper (digest length, key length 0, fanout 1, depth 1). Little-endian hosts only (x86-64,
aarch64): the message words are read as native uint64.
"""

from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from carbonfin.pricing import _jit

_jit.configure_cache()

__all__ = ["BLOCK", "hash_rows", "place", "prefix_state"]

if sys.byteorder != "little":  # pragma: no cover
    raise ImportError("carbonfin.scoring._blake2b reads message words as little-endian uint64")

BLOCK = 128
_IV = np.array(
    [
        0x6A09E667F3BCC908,
        0xBB67AE8584CAA73B,
        0x3C6EF372FE94F82B,
        0xA54FF53A5F1D36F1,
        0x510E527FADE682D1,
        0x9B05688C2B3E6C1F,
        0x1F83D9ABFB41BD6B,
        0x5BE0CD19137E2179,
    ],
    dtype=np.uint64,
)
_SIGMA = np.array(
    [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
        [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
        [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
        [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
        [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
        [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
        [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
        [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
        [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    ],
    dtype=np.int64,
)
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).astype(np.uint32)


@njit(cache=True)
def _rotr(x: np.uint64, n: int) -> np.uint64:
    return (x >> np.uint64(n)) | (x << np.uint64(64 - n))


@njit(cache=True)
def _g(
    a: np.uint64, b: np.uint64, c: np.uint64, d: np.uint64, x: np.uint64, y: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    a = a + b + x
    d = _rotr(d ^ a, 32)
    c = c + d
    b = _rotr(b ^ c, 24)
    a = a + b + y
    d = _rotr(d ^ a, 16)
    c = c + d
    b = _rotr(b ^ c, 63)
    return a, b, c, d


@njit(cache=True)
def _compress(h: np.ndarray, words: np.ndarray, first: int, t: int, last: bool) -> None:
    """RFC 7693 F: fold the 16 words ``words[first:first + 16]`` into the state ``h``; ``t``
    is the byte count so far including this block (below 2**63 here), ``last`` the final
    block flag. The working vector and the message words live in scalars (registers), and
    the 12 rounds are written out with SIGMA's indices as literals (RFC 7693 section 2.7;
    rounds 10 and 11 reuse rows 0 and 1)."""
    m0, m1, m2, m3 = words[first], words[first + 1], words[first + 2], words[first + 3]
    m4, m5, m6, m7 = words[first + 4], words[first + 5], words[first + 6], words[first + 7]
    m8, m9, m10, m11 = words[first + 8], words[first + 9], words[first + 10], words[first + 11]
    m12, m13, m14 = words[first + 12], words[first + 13], words[first + 14]
    m15 = words[first + 15]
    v0, v1, v2, v3, v4, v5, v6, v7 = h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
    v8, v9, v10, v11 = _IV[0], _IV[1], _IV[2], _IV[3]
    v12 = _IV[4] ^ np.uint64(t)
    v13 = _IV[5]
    v14 = _IV[6] ^ _MASK if last else _IV[6]
    v15 = _IV[7]
    # round 0 (SIGMA[0])
    v0, v4, v8, v12 = _g(v0, v4, v8, v12, m0, m1)
    v1, v5, v9, v13 = _g(v1, v5, v9, v13, m2, m3)
    v2, v6, v10, v14 = _g(v2, v6, v10, v14, m4, m5)
    v3, v7, v11, v15 = _g(v3, v7, v11, v15, m6, m7)
    v0, v5, v10, v15 = _g(v0, v5, v10, v15, m8, m9)
    v1, v6, v11, v12 = _g(v1, v6, v11, v12, m10, m11)
    v2, v7, v8, v13 = _g(v2, v7, v8, v13, m12, m13)
    v3, v4, v9, v14 = _g(v3, v4, v9, v14, m14, m15)
    # round 1 (SIGMA[1])
    v0, v4, v8, v12 = _g(v0, v4, v8, v12, m14, m10)
    v1, v5, v9, v13 = _g(v1, v5, v9, v13, m4, m8)
    v2, v6, v10, v14 = _g(v2, v6, v10, v14, m9, m15)
    v3, v7, v11, v15 = _g(v3, v7, v11, v15, m13, m6)
    v0, v5, v10, v15 = _g(v0, v5, v10, v15, m1, m12)
    v1, v6, v11, v12 = _g(v1, v6, v11, v12, m0, m2)
    v2, v7, v8, v13 = _g(v2, v7, v8, v13, m11, m7)
    v3, v4, v9, v14 = _g(v3, v4, v9, v14, m5, m3)
    # round 2 (SIGMA[2])
    v0, v4, v8, v12 = _g(v0, v4, v8, v12, m11, m8)
    v1, v5, v9, v13 = _g(v1, v5, v9, v13, m12, m0)
    v2, v6, v10, v14 = _g(v2, v6, v10, v14, m5, m2)
    v3, v7, v11, v15 = _g(v3, v7, v11, v15, m15, m13)
    v0, v5, v10, v15 = _g(v0, v5, v10, v15, m10, m14)
    v1, v6, v11, v12 = _g(v1, v6, v11, v12, m3, m6)
    v2, v7, v8, v13 = _g(v2, v7, v8, v13, m7, m1)
    v3, v4, v9, v14 = _g(v3, v4, v9, v14, m9, m4)
    # round 3 (SIGMA[3])
    v0, v4, v8, v12 = _g(v0, v4, v8, v12, m7, m9)
    v1, v5, v9, v13 = _g(v1, v5, v9, v13, m3, m1)
    v2, v6, v10, v14 = _g(v2, v6, v10, v14, m13, m12)
    v3, v7, v11, v15 = _g(v3, v7, v11, v15, m11, m14)
    v0, v5, v10, v15 = _g(v0, v5, v10, v15, m2, m6)
    v1, v6, v11, v12 = _g(v1, v6, v11, v12, m5, m10)
    v2, v7, v8, v13 = _g(v2, v7, v8, v13, m4, m0)
    v3, v4, v9, v14 = _g(v3, v4, v9, v14, m15, m8)
    # round 4 (SIGMA[4])
    v0, v4, v8, v12 = _g(v0, v4, v8, v12, m9, m0)
    v1, v5, v9, v13 = _g(v1, v5, v9, v13, m5, m7)
    v2, v6, v10, v14 = _g(v2, v6, v10, v14, m2, m4)
    v3, v7, v11, v15 = _g(v3, v7, v11, v15, m10, m15)
    v0, v5, v10, v15 = _g(v0, v5, v10, v15, m14, m1)
    v1, v6, v11, v12 = _g(v1, v6, v11, v12, m11, m12)
    v2, v7, v8, v13 = _g(v2, v7, v8, v13, m6, m8)
    v3, v4, v9, v14 = _g(v3, v4, v9, v14, m3, m13)
    # round 5 (SIGMA[5])
    v0, v4, v8, v12 = _g(v0, v4, v8, v12, m2, m12)
    v1, v5, v9, v13 = _g(v1, v5, v9, v13, m6, m10)
    v2, v6, v10, v14 = _g(v2, v6, v10, v14, m0, m11)
    v3, v7, v11, v15 = _g(v3, v7, v11, v15, m8, m3)
    v0, v5, v10, v15 = _g(v0, v5, v10, v15, m4, m13)
    v1, v6, v11, v12 = _g(v1, v6, v11, v12, m7, m5)
    v2, v7, v8, v13 = _g(v2, v7, v8, v13, m15, m14)
    v3, v4, v9, v14 = _g(v3, v4, v9, v14, m1, m9)
    # round 6 (SIGMA[6])
    v0, v4, v8, v12 = _g(v0, v4, v8, v12, m12, m5)
    v1, v5, v9, v13 = _g(v1, v5, v9, v13, m1, m15)
    v2, v6, v10, v14 = _g(v2, v6, v10, v14, m14, m13)
    v3, v7, v11, v15 = _g(v3, v7, v11, v15, m4, m10)
    v0, v5, v10, v15 = _g(v0, v5, v10, v15, m0, m7)
    v1, v6, v11, v12 = _g(v1, v6, v11, v12, m6, m3)
    v2, v7, v8, v13 = _g(v2, v7, v8, v13, m9, m2)
    v3, v4, v9, v14 = _g(v3, v4, v9, v14, m8, m11)
    # round 7 (SIGMA[7])
    v0, v4, v8, v12 = _g(v0, v4, v8, v12, m13, m11)
    v1, v5, v9, v13 = _g(v1, v5, v9, v13, m7, m14)
    v2, v6, v10, v14 = _g(v2, v6, v10, v14, m12, m1)
    v3, v7, v11, v15 = _g(v3, v7, v11, v15, m3, m9)
    v0, v5, v10, v15 = _g(v0, v5, v10, v15, m5, m0)
    v1, v6, v11, v12 = _g(v1, v6, v11, v12, m15, m4)
    v2, v7, v8, v13 = _g(v2, v7, v8, v13, m8, m6)
    v3, v4, v9, v14 = _g(v3, v4, v9, v14, m2, m10)
    # round 8 (SIGMA[8])
    v0, v4, v8, v12 = _g(v0, v4, v8, v12, m6, m15)
    v1, v5, v9, v13 = _g(v1, v5, v9, v13, m14, m9)
    v2, v6, v10, v14 = _g(v2, v6, v10, v14, m11, m3)
    v3, v7, v11, v15 = _g(v3, v7, v11, v15, m0, m8)
    v0, v5, v10, v15 = _g(v0, v5, v10, v15, m12, m2)
    v1, v6, v11, v12 = _g(v1, v6, v11, v12, m13, m7)
    v2, v7, v8, v13 = _g(v2, v7, v8, v13, m1, m4)
    v3, v4, v9, v14 = _g(v3, v4, v9, v14, m10, m5)
    # round 9 (SIGMA[9])
    v0, v4, v8, v12 = _g(v0, v4, v8, v12, m10, m2)
    v1, v5, v9, v13 = _g(v1, v5, v9, v13, m8, m4)
    v2, v6, v10, v14 = _g(v2, v6, v10, v14, m7, m6)
    v3, v7, v11, v15 = _g(v3, v7, v11, v15, m1, m5)
    v0, v5, v10, v15 = _g(v0, v5, v10, v15, m15, m11)
    v1, v6, v11, v12 = _g(v1, v6, v11, v12, m9, m14)
    v2, v7, v8, v13 = _g(v2, v7, v8, v13, m3, m12)
    v3, v4, v9, v14 = _g(v3, v4, v9, v14, m13, m0)
    # round 10 (SIGMA[0])
    v0, v4, v8, v12 = _g(v0, v4, v8, v12, m0, m1)
    v1, v5, v9, v13 = _g(v1, v5, v9, v13, m2, m3)
    v2, v6, v10, v14 = _g(v2, v6, v10, v14, m4, m5)
    v3, v7, v11, v15 = _g(v3, v7, v11, v15, m6, m7)
    v0, v5, v10, v15 = _g(v0, v5, v10, v15, m8, m9)
    v1, v6, v11, v12 = _g(v1, v6, v11, v12, m10, m11)
    v2, v7, v8, v13 = _g(v2, v7, v8, v13, m12, m13)
    v3, v4, v9, v14 = _g(v3, v4, v9, v14, m14, m15)
    # round 11 (SIGMA[1])
    v0, v4, v8, v12 = _g(v0, v4, v8, v12, m14, m10)
    v1, v5, v9, v13 = _g(v1, v5, v9, v13, m4, m8)
    v2, v6, v10, v14 = _g(v2, v6, v10, v14, m9, m15)
    v3, v7, v11, v15 = _g(v3, v7, v11, v15, m13, m6)
    v0, v5, v10, v15 = _g(v0, v5, v10, v15, m1, m12)
    v1, v6, v11, v12 = _g(v1, v6, v11, v12, m0, m2)
    v2, v7, v8, v13 = _g(v2, v7, v8, v13, m11, m7)
    v3, v4, v9, v14 = _g(v3, v4, v9, v14, m5, m3)
    h[0] ^= v0 ^ v8
    h[1] ^= v1 ^ v9
    h[2] ^= v2 ^ v10
    h[3] ^= v3 ^ v11
    h[4] ^= v4 ^ v12
    h[5] ^= v5 ^ v13
    h[6] ^= v6 ^ v14
    h[7] ^= v7 ^ v15


@njit(cache=True)
def _compress_blocks(h: np.ndarray, words: np.ndarray, blocks: int) -> None:
    for b in range(blocks):
        _compress(h, words, 16 * b, BLOCK * (b + 1), False)


def prefix_state(prefix: bytes, digest_size: int) -> tuple[np.ndarray, int, bytes]:
    """The state after the full blocks of ``prefix`` that are surely not the last block.

    Returns ``(h, t, tail)``: the 8 state words, the bytes compressed (``t``) and the prefix's
    remaining bytes, which every message continues from. A block is compressed here only when
    at least one byte follows it in the prefix, so a row of any length (even empty) is hashed
    correctly.
    """
    if not 1 <= digest_size <= 64:
        raise ValueError(f"digest_size must be in [1, 64]; got {digest_size}")
    h = _IV.copy()
    h[0] ^= np.uint64(0x01010000 | digest_size)  # fanout 1, depth 1, no key
    full = max(0, (len(prefix) - 1) // BLOCK)
    words = np.frombuffer(prefix[: full * BLOCK], dtype="<u8").astype(np.uint64)
    _compress_blocks(h, words, full)
    return h, full * BLOCK, prefix[full * BLOCK :]


@njit(cache=True, nogil=True)
def _hash_range(
    lo: int,
    hi: int,
    state: np.ndarray,
    t0: int,
    tail: np.ndarray,
    data: np.ndarray,
    offsets: np.ndarray,
    digest_size: int,
    out: np.ndarray,
) -> None:
    longest = 0
    for i in range(lo, hi):
        longest = max(longest, offsets[i + 1] - offsets[i])
    nblocks = (tail.size + longest + BLOCK - 1) // BLOCK + 1
    buf64 = np.zeros(nblocks * 16, dtype=np.uint64)
    buf = buf64.view(np.uint8)
    buf[: tail.size] = tail
    h = np.empty(8, dtype=np.uint64)
    digest = h.view(np.uint8)
    for i in range(lo, hi):
        start, stop = offsets[i], offsets[i + 1]
        length = tail.size + (stop - start)
        buf[tail.size : length] = data[start:stop]
        used = (length + BLOCK - 1) // BLOCK if length > 0 else 1
        buf[length : used * BLOCK] = 0
        h[:] = state
        for b in range(used - 1):
            _compress(h, buf64, 16 * b, t0 + BLOCK * (b + 1), False)
        _compress(h, buf64, 16 * (used - 1), t0 + length, True)
        for k in range(digest_size):
            byte = digest[k]
            out[i, 2 * k] = _HEX[byte >> 4]
            out[i, 2 * k + 1] = _HEX[byte & 15]


@njit(cache=True, parallel=True)
def _hash_parallel(
    chunks: np.ndarray,
    state: np.ndarray,
    t0: int,
    tail: np.ndarray,
    data: np.ndarray,
    offsets: np.ndarray,
    digest_size: int,
    out: np.ndarray,
) -> None:
    for c in prange(chunks.size - 1):
        _hash_range(chunks[c], chunks[c + 1], state, t0, tail, data, offsets, digest_size, out)


def hash_rows(
    prefix: bytes, data: np.ndarray, offsets: np.ndarray, digest_size: int = 32
) -> np.ndarray:
    """BLAKE2b (unkeyed, ``digest_size`` bytes) of ``prefix + data[offsets[i]:offsets[i+1]]``.

    Parameters
    ----------
    prefix
        Bytes every message starts with.
    data
        The messages' own bytes, concatenated (uint8).
    offsets
        ``n + 1`` non-decreasing int64 positions in ``data``; message ``i`` is
        ``data[offsets[i]:offsets[i + 1]]``.
    digest_size
        The digest length in bytes (BLAKE2b's parameter, 1 … 64).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` unicode (``<U{2 * digest_size}``): element ``i`` equals
        ``hashlib.blake2b(prefix + message_i, digest_size=digest_size).hexdigest()``.
    """
    data = np.ascontiguousarray(data, dtype=np.uint8)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    n = offsets.size - 1
    if n < 0 or offsets[0] < 0 or offsets[-1] > data.size or np.any(np.diff(offsets) < 0):
        raise ValueError("offsets must be n + 1 non-decreasing positions within data")
    state, t0, tail = prefix_state(prefix, digest_size)
    tail_arr = np.frombuffer(tail, dtype=np.uint8).copy()
    # lower-case hex written by the kernel as UCS-4 code points: viewed as a numpy str array
    out = np.empty((n, 2 * digest_size), dtype=np.uint32)
    if n == 0:
        return out.view(f"<U{2 * digest_size}").ravel()
    # a few chunks per thread: the row's order does not change its hash, so neither does the
    # split; below ~4k rows one chunk on the calling thread (no parallel region)
    pieces = 1 if n < 4096 else 8
    chunks = np.linspace(0, n, pieces + 1).astype(np.int64)
    if pieces == 1:
        _hash_range(0, n, state, t0, tail_arr, data, offsets, digest_size, out)
    else:
        _hash_parallel(chunks, state, t0, tail_arr, data, offsets, digest_size, out)
    return out.view(f"<U{2 * digest_size}").ravel()


@njit(cache=True, nogil=True)
def place(
    data: np.ndarray, pos: np.ndarray, blob: np.ndarray, starts: np.ndarray, index: np.ndarray
) -> None:
    """Append piece ``index[i]`` (``blob[starts[j]:starts[j + 1]]`` for ``j = index[i]``) to
    message ``i`` of ``data`` at ``pos[i]`` and advance ``pos[i]`` past it (assembling many
    messages field by field; a column of few distinct values is one piece per value)."""
    for i in range(pos.size):
        p = pos[i]
        j = index[i]
        for k in range(starts[j], starts[j + 1]):  # short pieces: a loop beats a slice copy
            data[p] = blob[k]
            p += 1
        pos[i] = p
