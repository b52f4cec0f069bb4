"""The process memory policy set at import (:mod:`carbonfin._memory`), each case in a fresh
interpreter (the policy is set once per process).

The reference for "freed memory is kept" is glibc itself: ``mallinfo2().hblkhd`` counts the
bytes of blocks served by ``mmap``. With glibc's defaults a fresh process serves a 1 MiB
``malloc`` by ``mmap`` (its threshold starts at 128 KiB); under the policy the heap serves it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="needs glibc"
)

_PROBE = """
import ctypes, json
import carbonfin._memory as memory
import carbonfin  # sets the policy

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
before = libc.mallinfo2().hblkhd
block = libc.malloc(1 << 20)
mapped = libc.mallinfo2().hblkhd - before
libc.free(block)
print(json.dumps({"policy": memory.memory_policy(), "mapped": mapped}))
"""


def _probe(**env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "CARBONFIN_MA"))}
    clean.pop("GLIBC_TUNABLES", None)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=clean | env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@glibc
def test_freed_memory_is_kept_by_default() -> None:
    got = _probe()
    assert got["policy"] == (
        "freed memory kept (glibc mmap threshold 32 MiB, trim threshold 256 MiB)"
    )
    assert got["mapped"] == 0  # the heap served the 1 MiB block


@glibc
def test_system_keeps_glibcs_defaults() -> None:
    got = _probe(CARBONFIN_MALLOC="system")
    assert got["policy"] == "glibc defaults (CARBONFIN_MALLOC=system)"
    assert int(str(got["mapped"])) >= 1 << 20  # glibc's own threshold: an mmap


@glibc
@pytest.mark.parametrize(
    ("name", "value"),
    [("MALLOC_TRIM_THRESHOLD_", "65536"), ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=65536")],
)
def test_the_processs_own_malloc_settings_are_left_alone(name: str, value: str) -> None:
    got = _probe(**{name: value})
    assert got["policy"] == f"left to the process's {name}"
    assert int(str(got["mapped"])) >= 1 << 20


@glibc
def test_an_unknown_choice_is_named_in_a_warning_and_keeps_glibcs_defaults() -> None:
    got = _probe(CARBONFIN_MALLOC="fast")
    assert got["policy"] == "glibc defaults (CARBONFIN_MALLOC='fast' is not one of keep, system)"
    assert int(str(got["mapped"])) >= 1 << 20


def test_an_unknown_choice_does_not_stop_the_cli() -> None:
    env = os.environ | {"CARBONFIN_MALLOC": "fast"}
    done = subprocess.run(
        [sys.executable, "-m", "carbonfin.cli", "--version"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert (
        "RuntimeWarning: CARBONFIN_MALLOC must be one of keep, system; got 'fast': glibc's "
        "malloc defaults are kept" in done.stderr
    )
