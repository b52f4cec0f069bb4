"""The option kernels' output cache: memory is reused only once no result holds it.

The values are checked against an independent reference (a copy of an earlier result of the same
inputs, and QuantLib's blackFormula for one option); the cache's promise is that a result the
caller keeps is never written over, whatever else is priced meanwhile, from any thread.
"""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest
import QuantLib as ql

from carbonfin.errors import ConfigurationError, InvalidInputError
from carbonfin.pricing import _output_cache, black76, black76_greeks, solve_implied_vol

N = 600_000  # 6 x 4.8 MB: above MIN_BYTES for the greeks block and for one price column


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch) -> _output_cache._Cache:
    """A private cache of 256 MB for the test (the module's own is shared by the session)."""
    fresh = _output_cache._Cache(256 * 1024 * 1024)
    monkeypatch.setattr(_output_cache, "_CACHE", fresh)
    return fresh


def _book(seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    f = rng.uniform(40.0, 120.0, N)
    k = f * np.exp(rng.uniform(-0.5, 0.5, N))
    return f, k, rng.uniform(0.02, 3.0, N), rng.uniform(0.1, 1.0, N), rng.uniform(0, 0.05, N)


def _address(a: np.ndarray) -> int:
    return int(a.__array_interface__["data"][0])


def test_a_kept_result_is_never_written_over(cache: _output_cache._Cache) -> None:
    first = black76_greeks(*_book(1))
    kept = [np.array(getattr(first, name)) for name in ("price", "delta", "gamma", "vega")]
    for seed in range(2, 6):  # other books priced while the first result is alive
        other = black76_greeks(*_book(seed))
        assert not np.shares_memory(other.price, first.price)
        del other
        gc.collect()
    for name, copy in zip(("price", "delta", "gamma", "vega"), kept, strict=True):
        np.testing.assert_array_equal(getattr(first, name), copy)
    f, k, t, v, r = (a[0] for a in _book(1))
    reference = ql.blackFormula(ql.Option.Call, k, f, v * np.sqrt(t), np.exp(-r * t))
    assert first.price[0] == pytest.approx(reference, rel=1e-12)


def test_a_dropped_result_gives_its_block_to_the_next_call(cache: _output_cache._Cache) -> None:
    first = black76_greeks(*_book(1))
    address = _address(first.price)
    del first
    gc.collect()
    second = black76_greeks(*_book(2))
    assert _address(second.price) == address
    assert (cache.stats().hits, cache.stats().misses) == (1, 1)
    again = black76_greeks(*_book(2))  # computed in full into another block: same numbers
    np.testing.assert_array_equal(second.theta, again.theta)


def test_any_view_of_a_result_keeps_the_whole_block(cache: _output_cache._Cache) -> None:
    result = black76_greeks(*_book(1))
    views = [
        result.rho,
        result.price[::2],
        result.vega.reshape(-1, 2)[1:],
        np.asarray(result.gamma),
    ]
    copies = [view.copy() for view in views]
    del result
    while views:
        gc.collect()
        assert cache.stats().in_use_bytes == 6 * N * 8  # any one view holds the block
        for seed in (2, 3):
            black76_greeks(*_book(seed))
        for view, copy in zip(views, copies, strict=True):
            np.testing.assert_array_equal(view, copy)
        views.pop()
        copies.pop()
        del view, copy  # the loop's names hold the last pair too
    gc.collect()
    assert cache.stats().in_use_bytes == 0


def test_threads_never_share_live_results(cache: _output_cache._Cache) -> None:
    books = {seed: _book(seed) for seed in range(4)}
    expected = {seed: np.array(black76(*books[seed])) for seed in books}
    kept: list[tuple[int, np.ndarray]] = []
    lock = threading.Lock()

    def work(seed: int) -> None:
        for i in range(6):
            price = black76(*books[seed])
            if i % 2 == 0:  # keep half, drop half: the cache serves and refuses in turn
                with lock:
                    kept.append((seed, price))

    threads = [threading.Thread(target=work, args=(seed,)) for seed in books]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for seed, price in kept:
        np.testing.assert_array_equal(price, expected[seed])
    addresses = [_address(price) for _, price in kept]
    assert len(set(addresses)) == len(addresses)


def test_the_cache_stays_within_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    small = _output_cache._Cache(60_000_000)  # room for two 28.8 MB greeks blocks, not 2.5
    monkeypatch.setattr(_output_cache, "_CACHE", small)
    results = [black76_greeks(*_book(seed)) for seed in range(4)]
    assert small.stats().held_bytes == 2 * 6 * N * 8
    assert all(r.price.shape == (N,) for r in results)
    del results
    gc.collect()
    assert small.stats().in_use_bytes == 0
    price = black76(*_book(1))  # another size: drops a free greeks block to make room
    assert small.stats().held_bytes == 6 * N * 8 + N * 8
    assert price.flags.writeable


def test_small_requests_are_not_cached(cache: _output_cache._Cache) -> None:
    black76_greeks(np.full(1000, 50.0), 55.0, 1.0, 0.3, 0.02)
    black76(50.0, 55.0, 1.0, 0.3, 0.02)
    assert cache.stats() == _output_cache.CacheStats(cache.limit, 0, 0, 0, 0)


def test_clear_drops_free_blocks_and_blocks_out_when_they_return(
    cache: _output_cache._Cache,
) -> None:
    out = black76_greeks(*_book(1))
    black76_greeks(*_book(2))
    gc.collect()
    assert cache.stats().held_bytes == 2 * 6 * N * 8
    _output_cache.clear()
    assert cache.stats().held_bytes == 6 * N * 8  # the one still in use
    del out
    gc.collect()
    assert cache.stats().held_bytes == 0
    assert cache.stats().in_use_bytes == 0


def test_refused_inputs_give_the_block_back(cache: _output_cache._Cache) -> None:
    f, k, t, v, r = _book(1)
    v = v.copy()
    v[17] = -0.2
    with pytest.raises(InvalidInputError, match=r"`vol` must be finite and >= 0; got -0.2"):
        black76_greeks(f, k, t, v, r)
    gc.collect()
    assert cache.stats().in_use_bytes == 0
    iv = solve_implied_vol(np.full(N, 5.0), f, k, t, r)  # the implied-vol output too
    assert np.isfinite(iv.vol).mean() > 0.5
    assert cache.stats().in_use_bytes == N * 8


@pytest.mark.parametrize(
    ("raw", "limit"),
    [("", 256 * 1024 * 1024), ("0", 0), ("64", 64 * 1024 * 1024), ("1.5", 1572864)],
)
def test_the_limit_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, limit: int
) -> None:
    monkeypatch.setenv("CARBONFIN_OUTPUT_CACHE_MB", raw)
    assert _output_cache._limit_from_env() == limit


@pytest.mark.parametrize("raw", ["lots", "-1", "nan", "inf"])
def test_a_bad_limit_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("CARBONFIN_OUTPUT_CACHE_MB", raw)
    with pytest.raises(ConfigurationError, match="CARBONFIN_OUTPUT_CACHE_MB"):
        _output_cache._limit_from_env()


def test_a_zero_limit_turns_the_cache_off(monkeypatch: pytest.MonkeyPatch) -> None:
    off = _output_cache._Cache(0)
    monkeypatch.setattr(_output_cache, "_CACHE", off)
    first = np.array(black76_greeks(*_book(1)).vega)
    again = black76_greeks(*_book(1))
    np.testing.assert_array_equal(again.vega, first)
    assert off.stats() == _output_cache.CacheStats(0, 0, 0, 0, 0)


def test_a_result_collected_while_the_cache_is_busy_comes_back_without_deadlock(
    cache: _output_cache._Cache,
) -> None:
    """A garbage collection can start inside the cache's locked section (any allocation there
    may trigger one) and run the finalizer of a result held in a reference cycle."""
    cycle: list[object] = [black76_greeks(*_book(1))]
    cycle.append(cycle)
    del cycle
    finished = threading.Event()

    def collect_under_the_lock() -> None:
        with cache.lock:
            gc.collect()  # runs the cyclic result's finalizer in this thread
        finished.set()

    worker = threading.Thread(target=collect_under_the_lock, daemon=True)
    worker.start()
    assert finished.wait(timeout=10), "the finalizer waited for the lock its own thread holds"
    assert cache.stats().in_use_bytes == 0
    assert cache.stats().held_bytes == 6 * N * 8


def test_results_kept_beyond_the_limit_after_a_hit_are_uncached_not_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fresh-clone user check: a hit that took a size's last free block left an empty list,
    and the next call over the limit popped from it (IndexError on every later call)."""
    small = _output_cache._Cache(60_000_000)  # two 28.8 MB greeks blocks
    monkeypatch.setattr(_output_cache, "_CACHE", small)
    book = _book(1)
    black76_greeks(*book)  # dropped: its block is free
    gc.collect()
    kept = [black76_greeks(*book) for _ in range(4)]  # a hit, a miss, then two over the limit
    assert small.stats().held_bytes == 2 * 6 * N * 8
    assert len({_address(g.price) for g in kept}) == 4
    for g in kept[1:]:
        np.testing.assert_array_equal(g.price, kept[0].price)
    price = black76(*book)  # another size with nothing free to drop: uncached
    assert price.shape == (N,)


def test_threads_keeping_results_beyond_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    small = _output_cache._Cache(40_000_000)  # eight 4.8 MB price blocks
    monkeypatch.setattr(_output_cache, "_CACHE", small)
    book = _book(2)
    expected = np.array(black76(*book))
    kept: list[np.ndarray] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            for i in range(8):
                price = black76(*book)
                if i % 3 != 2:  # keep two of three: the cache fills, then serves uncached
                    with lock:
                        kept.append(price)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len({_address(p) for p in kept}) == len(kept)
    for price in kept:
        np.testing.assert_array_equal(price, expected)
    assert small.stats().held_bytes <= small.limit


def test_nothing_reachable_from_a_result_is_its_cached_block(cache: _output_cache._Cache) -> None:
    """The fresh-clone check held the lease's block (``result.price.base.base.block``), dropped
    the result, and the next result shared memory with the array it held."""
    result = black76_greeks(*_book(1))
    chain = [result.price]
    while getattr(chain[-1], "base", None) is not None:
        chain.append(chain[-1].base)
    lease = chain[-1]
    held = [getattr(lease, name, None) for name in dir(lease)]
    assert not any(isinstance(x, np.ndarray) for x in held)
