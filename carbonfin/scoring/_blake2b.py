"""BLAKE2b (RFC 7693) of many short messages sharing a header, compiled: the input hash's kernel.

The input hash (:func:`carbonfin.scoring.input_hash.row_hash`) is BLAKE2b-256 of a fixed header
followed by one row's bytes. From Python, ``hashlib`` costs about 1.4 µs a row, nearly all of it
call overhead (a ``copy()`` of the header's state, an ``update`` and a ``hexdigest`` per row,
holding the GIL). :func:`hash_pieces` computes the *same* standard BLAKE2b, bit for bit, for all
rows in one compiled loop: the header's full blocks are compressed once, then each row's message
is assembled in a block buffer from pieces of one byte blob (text fields) and a fixed-width tail
(the numeric fields), compressed, and written out as lower-case hex. Messages with the same
number of blocks are compressed eight at a time, one per 64-bit lane of a vector register
(:func:`_compress_lanes`, F written as LLVM vector instructions: numba does not vectorise a
scalar loop of it); a last group of fewer fills its spare lanes with repeats. Nothing about the hash
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

import itertools
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from carbonfin.pricing import _jit

_jit.configure_cache()  # a writable cache directory for the compiled kernel (see pricing._jit)

__all__ = ["BLOCK", "CHUNK", "LANES", "hash_pieces", "hex_digests", "start_hex_digests"]

if sys.byteorder != "little":  # pragma: no cover
    raise ImportError("carbonfin.scoring._blake2b reads message words as little-endian uint64")

BLOCK = 128  # bytes per compressed block
#: rows per work chunk when hashing on several threads: small enough that a thread on a free
#: core takes over most chunks when the other core is busy (and that a thread joining late waits
#: for at most one chunk, about a millisecond), large enough to cost nothing
CHUNK = 4096
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
_ALL_ONES, _ZERO = np.uint64(0xFFFFFFFFFFFFFFFF), np.uint64(0)
_PARAMETERS = 0x01010000  # fanout 1, depth 1, key length 0 (the digest length is or-ed in)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).copy()
_NEWLINE = 10  # ends every digest's row of hex digits in the kernel's output
#: messages compressed side by side, one per lane of a vector register (8 x 64 bits: AVX-512;
#: LLVM splits the vectors on narrower machines, the same arithmetic)
LANES = 8
#: RFC 7693 section 2.7, the message schedule (rounds 10 and 11 use rows 0 and 1)
_SIGMA = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    (14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3),
    (11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4),
    (7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8),
    (9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13),
    (2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9),
    (12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11),
    (13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10),
    (6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5),
    (10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0),
)
#: G's four applications per half round: the columns, then the diagonals of the 4 x 4 state
_STEPS = ((0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15),
          (0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14))  # fmt: skip

_BYTES = types.Array(types.uint8, 1, "C", readonly=True)
_SIG = types.void(
    _BYTES,  # header
    _BYTES,  # blob
    types.Array(types.int64, 1, "C", readonly=True),  # starts
    types.Array(types.int64, 2, "C", readonly=True),  # pieces
    types.Array(types.uint8, 2, "C", readonly=True),  # tail
    types.int64,  # lo
    types.int64,  # hi
    types.Array(types.uint8, 2, "C"),  # out
)


@intrinsic
def _compress_lanes(typingctx: Any, h: Any, w: Any, t: Any, flag: Any) -> Any:
    """F (RFC 7693 section 3.2) on :data:`LANES` messages at once, one per vector lane: ``h``
    (8, LANES) states, ``w`` (16, LANES) block words, ``t`` (LANES,) byte counts, ``flag``
    (LANES,) the final-block word (all ones or 0). The same operations as :func:`_compress`,
    written as LLVM vector instructions (numba does not vectorise the scalar form)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        vec = ir.VectorType(ir.IntType(64), LANES)
        rows = [
            builder.bitcast(context.make_array(ty)(context, builder, arg).data, vec.as_pointer())
            for ty, arg in zip(signature.args, args, strict=True)
        ]

        def row(k: int, at: int) -> Any:
            return builder.gep(rows[k], [ir.Constant(ir.IntType(64), at)])

        def splat(x: int) -> Any:
            return ir.Constant(vec, [x] * LANES)

        def rotr(x: Any, n: int) -> Any:
            return builder.or_(builder.lshr(x, splat(n)), builder.shl(x, splat(64 - n)))

        h = [builder.load(row(0, k), align=8) for k in range(8)]
        m = [builder.load(row(1, k), align=8) for k in range(16)]
        v = h + [splat(int(x.view(np.int64))) for x in _IV]  # LLVM's i64 constants are signed
        v[12] = builder.xor(v[12], builder.load(row(2, 0), align=8))
        v[14] = builder.xor(v[14], builder.load(row(3, 0), align=8))
        for r in range(12):
            s = _SIGMA[r % 10]
            for step, (a, b, c, d) in enumerate(_STEPS):
                x, y = m[s[2 * step]], m[s[2 * step + 1]]
                v[a] = builder.add(builder.add(v[a], v[b]), x)
                v[d] = rotr(builder.xor(v[d], v[a]), 32)
                v[c] = builder.add(v[c], v[d])
                v[b] = rotr(builder.xor(v[b], v[c]), 24)
                v[a] = builder.add(builder.add(v[a], v[b]), y)
                v[d] = rotr(builder.xor(v[d], v[a]), 16)
                v[c] = builder.add(v[c], v[d])
                v[b] = rotr(builder.xor(v[b], v[c]), 63)
        for k in range(8):
            builder.store(builder.xor(h[k], builder.xor(v[k], v[k + 8])), row(0, k), align=8)
        return context.get_dummy_value()

    return types.void(h, w, t, flag), codegen


@intrinsic
def _copy(typingctx: Any, dst: Any, at: Any, src: Any, start: Any, stop: Any) -> Any:
    """``dst[at:at + stop - start] = src[start:stop]`` (1-d contiguous uint8 arrays, bounds
    the caller's) as one ``memcpy``: numba's slice assignment copies byte by byte."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        target = context.make_array(signature.args[0])(context, builder, args[0])
        source = context.make_array(signature.args[2])(context, builder, args[2])
        to = builder.gep(target.data, [args[1]])
        first = builder.gep(source.data, [args[3]])
        size = builder.sub(args[4], args[3])
        cgutils.raw_memcpy(builder, to, first, size, 1)  # type: ignore[no-untyped-call]
        return context.get_dummy_value()

    return types.void(dst, types.int64, src, types.int64, types.int64), codegen


@njit(cache=True)
def _row_length(starts, pieces, i, width):  # type: ignore[no-untyped-def]
    n = width
    for f in range(pieces.shape[1]):
        j = pieces[i, f]
        if j >= 0:
            n += starts[j + 1] - starts[j]
    return n


@njit(cache=True)
def _header_state(header, digest_size, buf64, scratch):  # type: ignore[no-untyped-def]
    """The state after the header's blocks that are surely not the message's last, the bytes
    they hold, and the header's remaining bytes copied to the start of ``buf64``."""
    _, h, w, t, flag = scratch
    for k in range(8):
        h[k, :] = _IV[k]
    for lane in range(LANES):
        h[0, lane] ^= np.uint64(_PARAMETERS | digest_size)
    flag[:] = _ZERO
    full = max(0, (header.size - 1) // BLOCK)
    buf = buf64.view(np.uint8)
    for b in range(full):  # the same block in every lane
        _copy(buf, 0, header, b * BLOCK, (b + 1) * BLOCK)  # type: ignore[call-arg]
        for k in range(16):
            w[k, :] = buf64[k]
        t[:] = np.uint64(BLOCK * (b + 1))
        _compress_lanes(h, w, t, flag)
    _copy(buf, 0, header, full * BLOCK, header.size)  # type: ignore[call-arg]
    return h[:, 0].copy(), full * BLOCK, header.size - full * BLOCK


@njit(cache=True)
def _assemble(buf, rest, blob, starts, pieces, tail, i):  # type: ignore[no-untyped-def]
    """Message ``i`` after the header's remaining ``rest`` bytes (already at the start of
    ``buf``), zero-padded to whole blocks; returns its length from ``rest`` on."""
    p = rest
    for f in range(pieces.shape[1]):
        j = pieces[i, f]
        if j >= 0:
            a, b = starts[j], starts[j + 1]
            _copy(buf, p, blob, a, b)  # type: ignore[call-arg]
            p += b - a
    width = tail.shape[1]
    _copy(buf, p, tail.reshape(tail.size), i * width, (i + 1) * width)  # type: ignore[call-arg]
    p += width
    for k in range(p, max(1, (p + BLOCK - 1) // BLOCK) * BLOCK):
        buf[k] = 0
    return p


@njit(cache=True)
def _hex(word, k, out, i):  # type: ignore[no-untyped-def]
    """Byte ``k`` of the digest (little-endian in the state word ``word``) as two hex digits."""
    byte = (word >> np.uint64(8 * (k % 8))) & np.uint64(255)
    out[i, 2 * k] = _HEX[byte >> np.uint64(4)]
    out[i, 2 * k + 1] = _HEX[byte & np.uint64(15)]


@njit(cache=True)
def _hash_lanes(rows, count, blocks, ctx, blob, starts, pieces, tail, out):  # type: ignore[no-untyped-def]
    """Messages ``rows[:count]`` (up to :data:`LANES`, each ``blocks`` blocks long) side by side;
    a lane without a message of its own repeats the first (its digest is not written)."""
    state, t0, rest, bufs, (length, h, w, t, flag) = ctx
    for lane in range(LANES):
        row = rows[min(lane, count - 1)]
        length[lane] = _assemble(bufs[lane].view(np.uint8), rest, blob, starts, pieces, tail, row)
        for k in range(8):
            h[k, lane] = state[k]
    for b in range(blocks):
        last = b == blocks - 1
        for lane in range(LANES):
            for k in range(16):
                w[k, lane] = bufs[lane, 16 * b + k]
            t[lane] = t0 + length[lane] if last else t0 + BLOCK * (b + 1)
            flag[lane] = _ALL_ONES if last else _ZERO
        _compress_lanes(h, w, t, flag)  # type: ignore[call-arg]
    for lane in range(count):
        for k in range(out.shape[1] // 2):
            _hex(h[k // 8, lane], k, out, rows[lane])


@njit(cache=True)
def _by_blocks(blocks):  # type: ignore[no-untyped-def]
    """The rows ordered by their block count (a counting sort), and the counts' first rows."""
    first = np.zeros(blocks.max() + 2, dtype=np.int64)
    for c in blocks:
        first[c + 1] += 1
    first = np.cumsum(first)
    order = np.empty(blocks.size, dtype=np.int64)
    at = first.copy()
    for i in range(blocks.size):
        order[at[blocks[i]]] = i
        at[blocks[i]] += 1
    return order, first


@njit(_SIG, cache=True, nogil=True)
def hash_pieces(header, blob, starts, pieces, tail, lo, hi, out):  # type: ignore[no-untyped-def]
    """BLAKE2b of messages ``lo … hi - 1``, as lower-case ASCII hex digits in ``out``.

    Message ``i`` is ``header`` followed by the pieces ``pieces[i, 0], pieces[i, 1], …`` (piece
    ``j`` is ``blob[starts[j]:starts[j + 1]]``; a negative id adds nothing) and then the row
    ``tail[i]``. The digest length is ``out.shape[1] // 2`` bytes (1 … 64): row ``i`` of ``out``
    gets its ``2 * length`` hex digits (a last column, if any, is left as it is). Messages of the
    same block count are hashed :data:`LANES` at a time (the last few of a count with repeats in
    the spare lanes). Runs without the GIL: disjoint row ranges may run on several threads at once.
    """
    if hi <= lo:
        return
    lengths = np.empty(hi - lo, dtype=np.int64)
    for i in range(lo, hi):
        lengths[i - lo] = _row_length(starts, pieces, i, tail.shape[1])
    bufs = np.zeros((LANES, (BLOCK + lengths.max()) // 8 + 2 * BLOCK // 8), dtype=np.uint64)
    scratch = (
        np.empty(LANES, dtype=np.int64),  # message lengths
        np.empty((8, LANES), dtype=np.uint64),  # states
        np.empty((16, LANES), dtype=np.uint64),  # block words
        np.empty(LANES, dtype=np.uint64),  # byte counts
        np.empty(LANES, dtype=np.uint64),  # final-block words
    )
    state, t0, rest = _header_state(header, out.shape[1] // 2, bufs[0], scratch)
    for lane in range(1, LANES):
        bufs[lane, :] = bufs[0, :]  # the header's remaining bytes start every lane's buffer
    ctx = (state, t0, rest, bufs, scratch)
    order, first = _by_blocks(np.maximum(1, (rest + lengths + BLOCK - 1) // BLOCK))
    for c in range(first.size - 1):
        for k in range(first[c], first[c + 1], LANES):
            count = min(LANES, first[c + 1] - k)
            rows = order[k : k + count] + lo
            _hash_lanes(rows, count, c, ctx, blob, starts, pieces, tail, out)


_Inputs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def hex_digests(
    header: bytes,
    blob: np.ndarray,
    starts: np.ndarray,
    pieces: np.ndarray,
    tail: np.ndarray,
    digest_size: int = 32,
) -> list[str]:
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
    list of str
        ``n`` strings: element ``i`` equals
        ``hashlib.blake2b(message_i, digest_size=digest_size).hexdigest()``.

    Raises
    ------
    ValueError
        If the shapes disagree or a piece lies outside ``blob`` (the kernel reads unchecked).

    Notes
    -----
    Chunks of :data:`CHUNK` rows are taken in turn by the calling thread and one worker thread
    per further core; each row's digest depends on that row alone, so any split gives the same
    digests.
    """
    return start_hex_digests(header, blob, starts, pieces, tail, digest_size, _cores() - 1)()


def start_hex_digests(
    header: bytes,
    blob: np.ndarray,
    starts: np.ndarray,
    pieces: np.ndarray,
    tail: np.ndarray,
    digest_size: int = 32,
    workers: int = 1,
) -> Callable[[], list[str]]:
    """:func:`hex_digests` started now on ``workers`` worker threads while the calling thread
    goes on (the kernel holds no GIL). Returns a function that waits for the digests and returns
    them (or raises what a worker raised); the thread that calls it hashes the chunks no worker
    has taken yet, so a worker slowed by a busy core never leaves it idle. Fewer than
    :data:`CHUNK` messages (a score card, a small batch) are hashed at once on the calling
    thread: a thread would cost more than it saves."""
    args = _checked(header, blob, starts, pieces, tail, digest_size)
    n = len(args[-1])
    if n < CHUNK or workers < 1:
        hash_pieces(*args[:-1], 0, n, args[-1])
        done = _as_strings(args[-1])
        return lambda: done
    bounds = [*range(0, n, CHUNK), n]
    turns = itertools.count()  # the next chunk: ``next`` is atomic under the GIL

    def take_chunks() -> None:
        while (k := next(turns)) < len(bounds) - 1:
            hash_pieces(*args[:-1], bounds[k], bounds[k + 1], args[-1])

    threads = min(workers, len(bounds) - 1)
    pool = ThreadPoolExecutor(threads)
    futures = [pool.submit(take_chunks) for _ in range(threads)]
    pool.shutdown(wait=False)  # the threads end when the chunks are done

    def result() -> list[str]:
        take_chunks()
        for future in futures:
            future.result()
        return _as_strings(args[-1])

    return result


def _as_strings(out: np.ndarray) -> list[str]:
    """The kernel's ``(n, 2 * digest_size + 1)`` output, each row's hex digits and a newline, as
    ``n`` strings: one ASCII decode and one ``split`` in C (no Python loop, no UCS-4 copy)."""
    if not len(out):
        return []
    return out.tobytes().decode("ascii").split("\n")[:-1]


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
    out = np.empty((n, 2 * digest_size + 1), dtype=np.uint8)
    out[:, -1] = _NEWLINE
    return np.frombuffer(header, dtype=np.uint8), blob, starts, pieces, tail, out


def _cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1
