"""BLAKE2b (RFC 7693) of many short messages sharing a header, compiled: the input hash's kernel.

The input hash (:func:`carbonfin.scoring.input_hash.row_hash`) is BLAKE2b-256 of a fixed header
followed by one row's bytes. From Python, ``hashlib`` costs about 1.4 µs a row, nearly all of it
call overhead (a ``copy()`` of the header's state, an ``update`` and a ``hexdigest`` per row,
holding the GIL). :func:`hash_pieces` computes the *same* standard BLAKE2b, bit for bit, for all
rows in one compiled loop: the header's full blocks are compressed once, then each row's message
is assembled in a block buffer from pieces of one byte blob (text fields) and a fixed-width tail
(the numeric fields), compressed, and written out as lower-case hex. Nothing about the hash
changes: same algorithm, parameters (unkeyed, no salt or personalisation, fanout 1, depth 1),
message and digest; ``tests/scoring/test_blake2b.py`` checks it against ``hashlib.blake2b`` (the
independent reference) at every length around the block boundaries, with multi-block headers,
and against the RFC 7693 Appendix A test vector.

Notes
-----
RFC 7693 section 3: the compression function F (12 rounds of the mixing function G over the
16-word working vector, message schedule SIGMA, rounds 10 and 11 repeating rows 0 and 1), the
initialisation vector of SHA-512 (section 2.6) and the parameter block word ``0x0101kknn``
(key length ``kk`` = 0, digest length ``nn``). Rotations by 32, 24, 16 and 63 (section 2.1).
The message words are read as native uint64: little-endian hosts only (x86-64, aarch64).
A block is compressed before the final one only once a byte follows it, so a message whose
length is a multiple of 128 ends with a full final block, as BLAKE2b requires.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit, types

from carbonfin.pricing import _jit

_jit.configure_cache()  # a writable cache directory for the compiled kernel (see pricing._jit)

__all__ = ["BLOCK", "CHUNK", "hash_pieces", "hex_digests", "start_hex_digests"]

if sys.byteorder != "little":  # pragma: no cover
    raise ImportError("carbonfin.scoring._blake2b reads message words as little-endian uint64")

BLOCK = 128  # bytes per compressed block
#: rows per work chunk when hashing on several threads: small enough that a thread on a free
#: core takes over most chunks when the other core is busy, large enough to cost nothing
CHUNK = 8192
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
_ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_PARAMETERS = 0x01010000  # fanout 1, depth 1, key length 0 (the digest length is or-ed in)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).astype(np.uint32)
# shift counts as uint64, so numba keeps every operation in uint64 (a signed count would not)
_R32, _R24, _R16, _R63 = np.uint64(32), np.uint64(24), np.uint64(16), np.uint64(63)
_L32, _L40, _L48, _L1 = np.uint64(32), np.uint64(40), np.uint64(48), np.uint64(1)

_BYTES = types.Array(types.uint8, 1, "C", readonly=True)
_SIG = types.void(
    _BYTES,  # header
    _BYTES,  # blob
    types.Array(types.int64, 1, "C", readonly=True),  # starts
    types.Array(types.int64, 2, "C", readonly=True),  # pieces
    types.Array(types.uint8, 2, "C", readonly=True),  # tail
    types.int64,  # lo
    types.int64,  # hi
    types.Array(types.uint32, 2, "C"),  # out
)


@njit(cache=True)
def _g(a, b, c, d, x, y):  # type: ignore[no-untyped-def]
    """RFC 7693 section 3.1, the mixing function G (rotations to the right)."""
    a = a + b + x
    d = d ^ a
    d = (d >> _R32) | (d << _L32)
    c = c + d
    b = b ^ c
    b = (b >> _R24) | (b << _L40)
    a = a + b + y
    d = d ^ a
    d = (d >> _R16) | (d << _L48)
    c = c + d
    b = b ^ c
    b = (b >> _R63) | (b << _L1)
    return a, b, c, d


@njit(cache=True)
def _round(v, s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15):  # type: ignore[no-untyped-def]
    """One round of F: G on the four columns, then on the four diagonals; ``s0 … s15`` are the
    message words in the order of this round's row of SIGMA."""
    v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15 = v
    v0, v4, v8, v12 = _g(v0, v4, v8, v12, s0, s1)
    v1, v5, v9, v13 = _g(v1, v5, v9, v13, s2, s3)
    v2, v6, v10, v14 = _g(v2, v6, v10, v14, s4, s5)
    v3, v7, v11, v15 = _g(v3, v7, v11, v15, s6, s7)
    v0, v5, v10, v15 = _g(v0, v5, v10, v15, s8, s9)
    v1, v6, v11, v12 = _g(v1, v6, v11, v12, s10, s11)
    v2, v7, v8, v13 = _g(v2, v7, v8, v13, s12, s13)
    v3, v4, v9, v14 = _g(v3, v4, v9, v14, s14, s15)
    return (v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15)


@njit(cache=True)
def _compress(h, w, o, t, last):  # type: ignore[no-untyped-def]
    """RFC 7693 section 3.2, F: fold the block ``w[o:o + 16]`` into the state ``h``; ``t`` is
    the message's byte count up to and including this block, ``last`` the final-block flag. The
    twelve calls to :func:`_round` spell out SIGMA's rows 0-9, 0, 1 (section 2.7)."""
    m0, m1, m2, m3 = w[o], w[o + 1], w[o + 2], w[o + 3]
    m4, m5, m6, m7 = w[o + 4], w[o + 5], w[o + 6], w[o + 7]
    m8, m9, m10, m11 = w[o + 8], w[o + 9], w[o + 10], w[o + 11]
    m12, m13, m14, m15 = w[o + 12], w[o + 13], w[o + 14], w[o + 15]
    v12 = _IV[4] ^ np.uint64(t)  # the counter's high word stays 0: messages under 2**64 bytes
    v14 = (_IV[6] ^ _ALL_ONES) if last else _IV[6]
    v = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
         _IV[0], _IV[1], _IV[2], _IV[3], v12, _IV[5], v14, _IV[7])  # fmt: skip
    v = _round(v, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15)
    v = _round(v, m14, m10, m4, m8, m9, m15, m13, m6, m1, m12, m0, m2, m11, m7, m5, m3)
    v = _round(v, m11, m8, m12, m0, m5, m2, m15, m13, m10, m14, m3, m6, m7, m1, m9, m4)
    v = _round(v, m7, m9, m3, m1, m13, m12, m11, m14, m2, m6, m5, m10, m4, m0, m15, m8)
    v = _round(v, m9, m0, m5, m7, m2, m4, m10, m15, m14, m1, m11, m12, m6, m8, m3, m13)
    v = _round(v, m2, m12, m6, m10, m0, m11, m8, m3, m4, m13, m7, m5, m15, m14, m1, m9)
    v = _round(v, m12, m5, m1, m15, m14, m13, m4, m10, m0, m7, m6, m3, m9, m2, m8, m11)
    v = _round(v, m13, m11, m7, m14, m12, m1, m3, m9, m5, m0, m15, m4, m8, m6, m2, m10)
    v = _round(v, m6, m15, m14, m9, m11, m3, m0, m8, m12, m2, m13, m7, m1, m4, m10, m5)
    v = _round(v, m10, m2, m8, m4, m7, m6, m1, m5, m15, m11, m9, m14, m3, m12, m13, m0)
    v = _round(v, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15)
    v = _round(v, m14, m10, m4, m8, m9, m15, m13, m6, m1, m12, m0, m2, m11, m7, m5, m3)
    v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15 = v
    h[0] ^= v0 ^ v8
    h[1] ^= v1 ^ v9
    h[2] ^= v2 ^ v10
    h[3] ^= v3 ^ v11
    h[4] ^= v4 ^ v12
    h[5] ^= v5 ^ v13
    h[6] ^= v6 ^ v14
    h[7] ^= v7 ^ v15


@njit(cache=True)
def _row_length(starts, pieces, i, width):  # type: ignore[no-untyped-def]
    n = width
    for f in range(pieces.shape[1]):
        j = pieces[i, f]
        if j >= 0:
            n += starts[j + 1] - starts[j]
    return n


@njit(cache=True)
def _header_state(header, digest_size, buf64):  # type: ignore[no-untyped-def]
    """The state after the header's blocks that are surely not the message's last, the bytes
    they hold, and the header's remaining bytes copied to the start of ``buf64``."""
    state = _IV.copy()
    state[0] ^= np.uint64(_PARAMETERS | digest_size)
    full = max(0, (header.size - 1) // BLOCK)
    buf = buf64.view(np.uint8)
    for b in range(full):
        buf[:BLOCK] = header[b * BLOCK : (b + 1) * BLOCK]
        _compress(state, buf64, 0, BLOCK * (b + 1), False)
    rest = header.size - full * BLOCK
    buf[:rest] = header[full * BLOCK :]
    return state, full * BLOCK, rest


@njit(_SIG, cache=True, nogil=True)
def hash_pieces(header, blob, starts, pieces, tail, lo, hi, out):  # type: ignore[no-untyped-def]
    """BLAKE2b of messages ``lo … hi - 1``, as lower-case hex (UCS-4 code points) in ``out``.

    Message ``i`` is ``header`` followed by the pieces ``pieces[i, 0], pieces[i, 1], …`` (piece
    ``j`` is ``blob[starts[j]:starts[j + 1]]``; a negative id adds nothing) and then the row
    ``tail[i]``. The digest length is ``out.shape[1] // 2`` bytes (1 … 64). Runs without the GIL:
    disjoint row ranges may run on several threads at once.
    """
    digest_size = out.shape[1] // 2
    longest = 0
    for i in range(lo, hi):
        longest = max(longest, _row_length(starts, pieces, i, tail.shape[1]))
    buf64 = np.zeros((BLOCK + longest) // 8 + 2 * BLOCK // 8, dtype=np.uint64)
    buf = buf64.view(np.uint8)
    state, t0, rest = _header_state(header, digest_size, buf64)
    h = np.empty(8, dtype=np.uint64)
    digest = h.view(np.uint8)
    for i in range(lo, hi):
        p = rest
        for f in range(pieces.shape[1]):
            j = pieces[i, f]
            if j >= 0:
                a, b = starts[j], starts[j + 1]
                buf[p : p + b - a] = blob[a:b]
                p += b - a
        buf[p : p + tail.shape[1]] = tail[i]
        p += tail.shape[1]
        blocks = max(1, (p + BLOCK - 1) // BLOCK)
        buf[p : blocks * BLOCK] = 0
        h[:] = state
        for b in range(blocks):  # one call site: the compression is compiled (inlined) once
            last = b == blocks - 1
            _compress(h, buf64, 16 * b, t0 + p if last else t0 + BLOCK * (b + 1), last)
        for k in range(digest_size):
            out[i, 2 * k] = _HEX[digest[k] >> 4]
            out[i, 2 * k + 1] = _HEX[digest[k] & 15]


_Inputs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def hex_digests(
    header: bytes,
    blob: np.ndarray,
    starts: np.ndarray,
    pieces: np.ndarray,
    tail: np.ndarray,
    digest_size: int = 32,
) -> np.ndarray:
    """BLAKE2b (unkeyed, ``digest_size`` bytes) of ``n`` messages that share ``header``.

    Parameters
    ----------
    header
        The bytes every message starts with.
    blob
        uint8 bytes holding every piece; piece ``j`` is ``blob[starts[j]:starts[j + 1]]``.
    starts
        ``k + 1`` non-decreasing int64 positions in ``blob`` (``k`` pieces).
    pieces
        ``(n, f)`` int64 piece ids: message ``i`` continues with pieces ``pieces[i, 0]``,
        ``pieces[i, 1]`` … in this order (a negative id adds nothing).
    tail
        ``(n, w)`` uint8: the last ``w`` bytes of each message.
    digest_size
        The digest length in bytes (BLAKE2b's parameter, 1 … 64).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` unicode ``<U{2 * digest_size}``: element ``i`` equals
        ``hashlib.blake2b(message_i, digest_size=digest_size).hexdigest()``.

    Raises
    ------
    ValueError
        If the shapes disagree or a piece lies outside ``blob`` (the kernel reads unchecked).

    Notes
    -----
    Chunks of :data:`CHUNK` rows run on up to as many threads as the process has cores; each
    row's digest depends on that row alone, so any split gives the same digests.
    """
    args = _checked(header, blob, starts, pieces, tail, digest_size)
    n = len(args[-1])
    bounds = [*range(0, n, CHUNK), n]
    threads = min(_cores(), len(bounds) - 1)
    if threads <= 1:
        hash_pieces(*args[:-1], 0, n, args[-1])
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda lo, hi: hash_pieces(*args[:-1], lo, hi, args[-1]),
                          bounds[:-1], bounds[1:]))  # fmt: skip
    return args[-1].view(f"<U{2 * digest_size}").ravel()


def start_hex_digests(
    header: bytes,
    blob: np.ndarray,
    starts: np.ndarray,
    pieces: np.ndarray,
    tail: np.ndarray,
    digest_size: int = 32,
) -> Callable[[], np.ndarray]:
    """:func:`hex_digests` on one worker thread, started now; the calling thread goes on (the
    kernel holds no GIL). Returns a function that waits for the digests and returns them (or
    raises what the worker raised)."""
    args = _checked(header, blob, starts, pieces, tail, digest_size)
    n = len(args[-1])
    pool = ThreadPoolExecutor(1)
    future = pool.submit(hash_pieces, *args[:-1], 0, n, args[-1])
    pool.shutdown(wait=False)  # the thread ends when its one job is done

    def result() -> np.ndarray:
        future.result()
        return args[-1].view(f"<U{2 * digest_size}").ravel()

    return result


def _checked(
    header: bytes,
    blob: np.ndarray,
    starts: np.ndarray,
    pieces: np.ndarray,
    tail: np.ndarray,
    digest_size: int,
) -> _Inputs:
    """The kernel's arguments, checked (it reads without bounds checks), and its output."""
    if not 1 <= digest_size <= 64:
        raise ValueError(f"`digest_size` must be in [1, 64]; got {digest_size}")
    blob = np.ascontiguousarray(blob, dtype=np.uint8)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    pieces = np.ascontiguousarray(pieces, dtype=np.int64)
    tail = np.ascontiguousarray(tail, dtype=np.uint8)
    n = len(tail)
    if pieces.ndim != 2 or tail.ndim != 2 or len(pieces) != n:
        raise ValueError(f"`pieces` and `tail` must be 2-d with one row per message; got "
                         f"shapes {pieces.shape} and {tail.shape}")  # fmt: skip
    if starts.ndim != 1 or starts.size < 1 or starts[0] < 0 or starts[-1] > blob.size:
        raise ValueError("`starts` must be 1-d positions within `blob`")
    if np.any(np.diff(starts) < 0) or (pieces.size and pieces.max() >= starts.size - 1):
        raise ValueError("`starts` must be non-decreasing and every piece id below its length")
    out = np.empty((n, 2 * digest_size), dtype=np.uint32)
    return np.frombuffer(header, dtype=np.uint8), blob, starts, pieces, tail, out


def _cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1
