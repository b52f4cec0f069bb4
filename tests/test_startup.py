"""A light start (issue 11, item 6): ``import carbonfin`` and the CLI load no heavy library,
``carbonfin.pricing`` imports lazily, and the numba kernels cache to a writable folder.

Speed itself is measured in ``benchmarks/bench_startup.py``, not asserted here.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numba", "llvmlite", "arch", "statsmodels", "scipy", "sqlalchemy", "alembic",
         "QuantLib", "pandas")  # fmt: skip


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    modules = set(json.loads(out.stdout.strip().splitlines()[-1]))
    return [m for m in HEAVY if m in modules]


def test_import_carbonfin_is_light() -> None:
    assert _loaded_after("import carbonfin") == []


def test_the_cli_loads_no_heavy_library_before_a_command_needs_it() -> None:
    assert _loaded_after("import carbonfin.cli") == []


def test_price_history_does_not_load_the_kernels_or_arch() -> None:
    loaded = _loaded_after("from carbonfin.pricing import PriceHistory")
    assert "numba" not in loaded
    assert "arch" not in loaded
    assert "statsmodels" not in loaded


def test_lazy_exports_agree_with_the_type_checking_imports_and_all() -> None:
    import carbonfin.pricing as pricing

    tree = ast.parse((ROOT / "carbonfin" / "pricing" / "__init__.py").read_text(encoding="utf-8"))
    typed: dict[str, str] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("carbonfin.pricing.")
        ):
            for alias in node.names:
                typed[alias.name] = node.module.rsplit(".", 1)[1]
    exports = pricing._EXPORTS
    assert typed == exports
    assert sorted(pricing.__all__) == sorted(exports)
    for name in pricing.__all__:  # each resolves to its module's object
        module = __import__(f"carbonfin.pricing.{exports[name]}", fromlist=[name])
        assert getattr(pricing, name) is getattr(module, name)
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        _ = pricing.nonsense


def test_kernel_cache_falls_back_to_a_writable_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only install (site-packages, a container image): the cache goes to the user's."""
    from numba.core import config

    from carbonfin.pricing import _jit

    monkeypatch.setenv("NUMBA_CACHE_DIR", "")  # unset for the test; restored afterwards
    monkeypatch.setattr(config, "CACHE_DIR", config.CACHE_DIR)  # restored afterwards
    monkeypatch.setenv("CARBONFIN_CACHE_DIR", str(tmp_path / "cache"))
    package_cache = _jit._SOURCE.parent / "__pycache__"
    real = _jit._writable
    monkeypatch.setattr(_jit, "_writable", lambda folder: folder != package_cache and real(folder))
    _jit.configure_cache()
    assert Path(config.CACHE_DIR) == tmp_path / "cache" / "numba"
    assert _jit.cache_dir().parent == tmp_path / "cache" / "numba"
    assert not _jit.kernels_cached()  # nothing compiled there yet


def test_kernels_cached_after_loading() -> None:
    from carbonfin.pricing import _jit

    _jit.load_kernels()
    assert _jit.kernels_cached()


@pytest.mark.parametrize(("preset", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_kernels_set_a_passive_openmp_wait_policy_unless_the_user_chose(
    preset: str | None, expected: str
) -> None:
    # numba's OpenMP layer reads OMP_WAIT_POLICY when it starts (at the first parallel call):
    # importing the pricing kernels sets the passive default first, and keeps the user's choice
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset is not None:
        env["OMP_WAIT_POLICY"] = preset
    code = (
        "import os, numba; from carbonfin.pricing import black76; numba.get_num_threads(); "
        "print(os.environ['OMP_WAIT_POLICY'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == expected
