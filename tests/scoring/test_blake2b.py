"""The compiled BLAKE2b of the input hash against ``hashlib.blake2b`` and RFC 7693.

``hashlib`` (CPython's own BLAKE2 implementation) is the independent reference: every digest of
:mod:`carbonfin.scoring._blake2b` must equal it bit for bit, at every message length around the
128-byte block boundaries, after headers of one, several and a whole number of blocks, for
messages cut into pieces in any way, one at a time or eight side by side (vector lanes), on one
thread or several.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from carbonfin.scoring._blake2b import CHUNK, hex_digests, start_hex_digests


def _pieces(messages: list[bytes], rng: np.random.Generator, tail: int = 0) -> tuple:
    """Each message cut at random points into pieces of one blob (the last ``tail`` bytes as the
    fixed-width tail), the pieces listed in a shuffled blob order, with empty (-1) slots."""
    cuts = [sorted(rng.integers(0, len(m) - tail + 1, 3).tolist()) for m in messages]
    chunks = []
    for m, (a, b, c) in zip(messages, cuts, strict=True):
        body = m[: len(m) - tail]
        chunks.append([body[:a], body[a:b], body[b:c], body[c:]])
    order = rng.permutation(4 * len(messages))  # blob order unrelated to message order
    flat = [chunks[k // 4][k % 4] for k in order]
    starts = np.zeros(len(flat) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in flat], out=starts[1:])
    where = np.empty(4 * len(messages), dtype=np.int64)
    where[order] = np.arange(4 * len(messages))
    ids = where.reshape(-1, 4)
    ids = np.insert(ids, 2, -1, axis=1)  # a slot that adds nothing
    blob = np.frombuffer(b"".join(flat), dtype=np.uint8)
    tails = np.array([list(m[len(m) - tail :]) for m in messages], dtype=np.uint8)
    return blob, starts, ids, tails.reshape(len(messages), tail)


LENGTHS = [*range(0, 300), 383, 384, 385, 1000, 5000]


@pytest.mark.parametrize(
    "header_length", [0, 1, 72, 127, 128, 129, 255, 256, 257, 456, 1000], ids=lambda n: f"h{n}"
)
def test_every_length_around_the_blocks_matches_hashlib(header_length: int) -> None:
    rng = np.random.default_rng(header_length)
    header = rng.integers(0, 256, header_length, dtype=np.uint8).tobytes()
    messages = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in LENGTHS]
    got = hex_digests(header, *_pieces(messages, rng))
    expected = [hashlib.blake2b(header + m, digest_size=32).hexdigest() for m in messages]
    assert got == expected


@pytest.mark.parametrize("digest_size", [1, 16, 20, 32, 48, 64])
def test_every_digest_length_matches_hashlib(digest_size: int) -> None:
    rng = np.random.default_rng(digest_size)
    header = b"carbonfin-score-input/2\0" * 7  # 168 bytes: a full block and a part
    sizes = [0, 1, 87, 88, 89] * 4  # 8 or more of one block count: side by side, the rest alone
    messages = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes]
    got = hex_digests(header, *_pieces(messages, rng, tail=0), digest_size=digest_size)
    expected = [hashlib.blake2b(header + m, digest_size=digest_size).hexdigest() for m in messages]
    assert got == expected


def test_rfc_7693_appendix_a_abc() -> None:
    # RFC 7693, Appendix A: BLAKE2b-512("abc"), the digest as printed there
    rfc = (
        "BA 80 A5 3F 98 1C 4D 0D 6A 27 97 B6 9F 12 F6 E9 4C 21 2F 14 68 5A C4 B7 4B 12 BB 6F DB FF "
        "A2 D1 7D 87 C5 39 2A AB 79 2D C2 52 D5 DE 45 33 CC 95 18 D3 8A A8 DB F1 92 5A B9 23 86 ED "
        "D4 00 99 23"
    )
    empty = np.empty(0, dtype=np.uint8)
    for n in (1, 9):  # alone, and eight side by side (vector lanes) plus one alone
        abc = np.tile(np.frombuffer(b"abc", np.uint8), (n, 1))
        got = hex_digests(b"", empty, np.zeros(1, np.int64), np.empty((n, 0), np.int64), abc,
                          digest_size=64)  # fmt: skip
        assert got == [rfc.replace(" ", "").lower()] * n


def test_fixed_width_tails_match_hashlib() -> None:
    rng = np.random.default_rng(7)
    header = rng.integers(0, 256, 456, dtype=np.uint8).tobytes()
    messages = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in range(168, 400)]
    got = hex_digests(header, *_pieces(messages, rng, tail=168))
    assert got == [hashlib.blake2b(header + m, digest_size=32).hexdigest() for m in messages]


def test_several_chunks_and_the_worker_thread_give_the_same_digests() -> None:
    rng = np.random.default_rng(11)
    n = 2 * CHUNK + 123  # three chunks, on as many threads as there are cores
    header = rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
    sizes = rng.integers(0, 400, n)
    messages = [rng.integers(0, 256, s, dtype=np.uint8).tobytes() for s in sizes]
    args = _pieces(messages, rng)
    expected = [hashlib.blake2b(header + m, digest_size=32).hexdigest() for m in messages]
    assert hex_digests(header, *args) == expected
    assert start_hex_digests(header, *args)() == expected


@pytest.mark.parametrize(
    ("pieces", "starts", "message"),
    [
        (np.array([[2]]), np.array([0, 1, 2]), "every piece id below"),
        (np.array([[0]]), np.array([0, 5]), "positions within `blob`"),
        (np.array([[0]]), np.array([2, 1, 3]), "non-decreasing"),
        (np.array([0]), np.array([0, 1]), "2-d with one row per message"),
    ],
    ids=["id past the end", "start past the blob", "decreasing", "1-d pieces"],
)
def test_pieces_outside_the_blob_are_refused(
    pieces: np.ndarray, starts: np.ndarray, message: str
) -> None:
    blob = np.zeros(3, dtype=np.uint8)
    with pytest.raises(ValueError, match=message):
        hex_digests(b"", blob, starts, pieces, np.empty((1, 0), np.uint8))


def test_no_messages_give_no_digests() -> None:
    empty = np.empty(0, dtype=np.uint8)
    args = (empty, np.zeros(1, np.int64), np.empty((0, 0), np.int64), np.empty((0, 4), np.uint8))
    assert hex_digests(b"header", *args) == []
    assert start_hex_digests(b"header", *args)() == []
