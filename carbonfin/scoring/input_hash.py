"""The input hash of a score: BLAKE2b-256 of every scored input of a row, canonically encoded.

A score row's ``input_hash`` lets anyone holding the inputs and the methodology file check that
a stored score was computed from them. :func:`row_hash` computes it for a whole frame at once:
the rows' messages are assembled into one buffer with array operations (a small compiled copy
kernel, :func:`place`) and each is hashed by ``hashlib.blake2b`` from a slice of that buffer,
continuing the header's state. The encoding is unchanged from version 2, so every hash stored
since then still verifies.
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pandas as pd
from numba import njit

from carbonfin.errors import InvalidInputError
from carbonfin.pricing import _jit
from carbonfin.scoring.methodology import Methodology

_jit.configure_cache()

__all__ = ["HASH_ENCODING", "header", "row_hash"]

#: Version of the canonical encoding hashed by :func:`row_hash` (part of the hashed header).
HASH_ENCODING = "carbonfin-score-input/2"

_MISSING_TEXT = 0xFFFFFFFF
#: a text column as pieces: length prefixes, blob, piece starts, piece of each row, row lengths
_Pieces = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def header(columns: list[str], methodology: Methodology) -> bytes:
    """The header every row's message starts with (see :func:`row_hash`)."""
    return "\0".join(
        (HASH_ENCODING, methodology.version, methodology.content_hash, *columns)
    ).encode("utf-8")


def _as_float(values: pd.Series) -> np.ndarray:
    """A numeric or boolean column as float64, every kind of missing value as NaN."""
    try:
        out = values.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"the panel column `{values.name}` must be numeric; got dtype {values.dtype}"
        ) from None
    return np.asarray(out, dtype=float)


def _is_text(series: pd.Series) -> bool:
    return series.dtype == object or isinstance(series.dtype, pd.StringDtype)


def _utf8(texts: list[str]) -> tuple[bytes, np.ndarray]:
    """The UTF-8 bytes of ``texts`` concatenated, and each text's byte length."""
    joined = "".join(texts)
    if joined.isascii():  # one character, one byte: the lengths are the strings' own
        return joined.encode("ascii"), np.fromiter(map(len, texts), np.int64, len(texts))
    encoded = [t.encode("utf-8") for t in texts]
    return b"".join(encoded), np.fromiter(map(len, encoded), np.int64, len(encoded))


def _distinct(values: np.ndarray) -> tuple[np.ndarray, list[str]] | None:
    """``(codes, texts)`` of a column of few distinct values, all ``str`` or all ``bool``
    (missing: code -1), else None. Restricted to one type because factorising compares with
    ``==``, under which ``True == 1 == 1.0`` though their texts differ."""
    if len(values) > 1000 and len(pd.unique(values[:1000])) > 500:
        return None  # mostly distinct (a firm id): one piece per row is cheaper
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "boolean", "empty"):
        return None
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


def _text_pieces(series: pd.Series) -> _Pieces:
    """A text column's encoding as pieces for :func:`place`: each
    row's 4-byte little-endian length (0xFFFFFFFF if missing) as ``(n, 4)`` uint8, and its UTF-8
    bytes as piece ``index[i]`` of the concatenated ``blob`` with ``starts`` (a missing value's
    piece is empty), and each row's byte length."""
    missing = series.isna().to_numpy(dtype=bool)
    values = series.to_numpy(dtype=object)
    n = len(series)
    coded = _distinct(values)
    if coded is None:
        present = values[~missing] if missing.any() else values
        blob, sizes = _utf8(list(map(str, present.tolist())))
        lengths = np.zeros(n, dtype=np.int64)
        lengths[~missing] = sizes
        index = np.arange(n, dtype=np.int64)
    else:
        codes, texts = coded
        blob, sizes = _utf8(texts)
        sizes = np.append(sizes, 0)  # the last piece, empty, for the missing values
        index = np.where(codes < 0, len(texts), codes)
        lengths = sizes[index]
    if np.any(lengths >= _MISSING_TEXT):
        raise InvalidInputError(f"a text in `{series.name}` is 4 GiB or longer: not hashable")
    prefix = np.where(missing, _MISSING_TEXT, lengths).astype("<u4").view(np.uint8)
    piece_sizes = lengths if coded is None else sizes
    starts = np.zeros(len(piece_sizes) + 1, dtype=np.int64)
    np.cumsum(piece_sizes, out=starts[1:])
    return prefix.reshape(-1, 4), np.frombuffer(blob, dtype=np.uint8), starts, index, lengths


def _numeric_bytes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The numeric inputs as ``(n, 8 * len(columns))`` uint8: float64 little-endian, -0.0 as
    0.0, every NaN as the quiet NaN 0x7FF8000000000000."""
    x = np.empty((len(frame), len(columns)), dtype="<f8")
    for j, c in enumerate(columns):
        x[:, j] = _as_float(frame[c])
    x += 0.0  # -0.0 -> 0.0
    x[np.isnan(x)] = np.nan  # one NaN payload
    return x.view(np.uint8)


def _messages(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every row's bytes after the header, concatenated, and the ``n + 1`` row offsets."""
    text_cols = [c for c in columns if _is_text(frame[c])]
    num_cols = [c for c in columns if c not in text_cols]
    n = len(frame)
    texts = [_text_pieces(frame[c]) for c in text_cols]
    numeric = _numeric_bytes(frame, num_cols)
    sizes = np.full(n, 4 * len(texts) + numeric.shape[1], dtype=np.int64)
    for *_, lengths in texts:
        sizes += lengths
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    data = np.empty(int(offsets[-1]), dtype=np.uint8)
    pos = offsets[:-1].copy()
    rows = np.arange(n + 1, dtype=np.int64)
    for prefix, blob, starts, index, _ in texts:
        place(data, pos, prefix.ravel(), rows * 4, rows)
        place(data, pos, blob, starts, index)
    place(data, pos, numeric.ravel(), rows * numeric.shape[1], rows)
    return data, offsets


def row_hash(frame: pd.DataFrame, columns: list[str], methodology: Methodology) -> list[str]:
    """BLAKE2b-256 of each row's inputs in a canonical encoding, as 64 hex characters.

    Parameters
    ----------
    frame
        The rows to hash; ``columns`` must be among its columns.
    columns
        The hashed inputs, in this order (text columns are those of dtype ``object`` or
        ``string``; every other column is numeric or boolean).
    methodology
        The methodology the rows are scored with (its version and file hash enter the header).

    Returns
    -------
    list of str
        One lower-case hex digest per row, in the frame's order.

    Notes
    -----
    Encoding ``carbonfin-score-input/2``. The hashed message is a header —
    :data:`HASH_ENCODING`, the methodology version and the BLAKE2b-256 hash of its file, the
    column names, each UTF-8 and NUL-separated — followed by the row: each text input, in the
    order of ``columns``, as a 4-byte little-endian length and its UTF-8 bytes (a missing text
    as the length 0xFFFFFFFF and no bytes), then every numeric input, in the order of
    ``columns``, as an IEEE-754 float64, little-endian (booleans as 0/1; -0.0 written as 0.0;
    every missing value and every NaN as the one quiet NaN 0x7FF8000000000000). Nothing is
    truncated, and any Unicode text hashes. BLAKE2b is RFC 7693, unkeyed, with BLAKE2b's own
    32-byte digest length (not a cut-down longer digest).

    The digests are ``hashlib.blake2b(message, digest_size=32)``, each row continuing a copy of
    the header's state (a well-kept library: about 1 µs a row).
    """
    data, offsets = _messages(frame, columns)
    base = hashlib.blake2b(header(columns, methodology), digest_size=32)
    view = memoryview(data.tobytes())  # one copy of the buffer, then zero-copy slices
    bounds = offsets.tolist()
    out = []
    for start, stop in itertools.pairwise(bounds):
        h = base.copy()
        h.update(view[start:stop])
        out.append(h.hexdigest())
    return out


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
