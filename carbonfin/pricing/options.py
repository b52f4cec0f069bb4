"""European options on allowance forwards and futures (Black-76), vectorised; implied volatility.

ICE's EUA options are European options on the December future; options on Chinese allowances,
where they trade over the counter, are written the same way. All functions take numpy arrays
(or scalars) and broadcast them against each other like numpy ufuncs.

Conventions: ``forward`` and ``strike`` in CNY per tonne (any consistent unit works),
``expiry_years`` as a year fraction (ACT/365F), ``vol`` annualised as a decimal (0.45 is 45%),
``rate`` continuously compounded as a decimal (may be zero or negative).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from numba import get_num_threads

from carbonfin.errors import InvalidInputError
from carbonfin.pricing import _kernels, _lbr, _output_cache

__all__ = [
    "IMPLIED_VOL_REASONS",
    "Black76Greeks",
    "ImpliedVol",
    "black76",
    "black76_greeks",
    "implied_vol",
    "solve_implied_vol",
]

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

# the compiled kernels, typed for mypy (each returns the number of invalid input rows)
_price_kernel = cast(Callable[..., int], _kernels.black76_price)
_greeks_kernel = cast(Callable[..., int], _kernels.black76_all)
_implied_vol_kernel = cast(Callable[..., int], _lbr.implied_vol)

#: Why an implied volatility is NaN (code -> reason); code 0 means solved.
IMPLIED_VOL_REASONS: dict[int, str] = {
    _kernels.SOLVED: "",
    _kernels.BELOW_INTRINSIC: "price is below the discounted intrinsic value",
    _kernels.ABOVE_MAXIMUM: "price is at or above the no-arbitrage maximum "
    "(discounted forward for a call, discounted strike for a put)",
    _kernels.ZERO_EXPIRY: "expiry is 0: the price does not depend on volatility",
    _kernels.NOT_FINITE: "price is not a finite number",
    _kernels.NO_CONVERGENCE: "the solver did not converge",
    _kernels.NO_TIME_VALUE: "price equals the discounted intrinsic value to double precision: "
    "no time value to read a volatility from",
}


def _as_float(name: str, value: ArrayLike) -> FloatArray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"`{name}` must be numeric; got {value!r}") from None
    return arr


def _as_bool(value: ArrayLike) -> npt.NDArray[np.bool_]:
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        raise InvalidInputError(
            f"`call` must be a bool or an array of bools; got dtype {arr.dtype}"
        )
    return arr


def _broadcast(
    named: dict[str, ArrayLike], call: ArrayLike
) -> tuple[tuple[int, ...], list[FloatArray], npt.NDArray[np.bool_]]:
    """Broadcast the inputs; return the shape and flat (possibly stride-0) views for the kernels."""
    arrays = [_as_float(name, value) for name, value in named.items()]
    flags = _as_bool(call)
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays), flags.shape)
    except ValueError:
        shapes = ", ".join(f"{n} {a.shape}" for n, a in zip(named, arrays, strict=True))
        raise InvalidInputError(
            f"inputs cannot be broadcast together: {shapes}, call {flags.shape}"
        ) from None
    # contiguous flat inputs for the kernels: full-size contiguous arrays pass through without a
    # copy, broadcast scalars and smaller arrays are expanded (one kernel signature, see _kernels)
    views = [np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1) for a in arrays]
    return shape, views, np.ascontiguousarray(np.broadcast_to(flags, shape)).reshape(-1)


def _market(
    forward: ArrayLike, strike: ArrayLike, expiry_years: ArrayLike, vol: ArrayLike, rate: ArrayLike
) -> dict[str, ArrayLike]:
    """The market inputs by name, in the kernels' argument order."""
    return {
        "forward": forward,
        "strike": strike,
        "expiry_years": expiry_years,
        "vol": vol,
        "rate": rate,
    }


_RULES: dict[str, tuple[str, Any]] = {
    "forward": ("finite and > 0", lambda x: np.isfinite(x) & (x > 0)),
    "strike": ("finite and >= 0", lambda x: np.isfinite(x) & (x >= 0)),
    "expiry_years": ("finite and >= 0", lambda x: np.isfinite(x) & (x >= 0)),
    "vol": ("finite and >= 0", lambda x: np.isfinite(x) & (x >= 0)),
    "rate": ("finite", np.isfinite),
}


def _raise_first_invalid(named: dict[str, FloatArray], shape: tuple[int, ...]) -> None:
    """Raise naming the first argument and element that broke its rule (kernels only count)."""
    for name, flat in named.items():
        rule, check = _RULES[name]
        ok = check(flat)
        if not ok.all():
            pos = int(np.argmin(ok))
            index = tuple(int(i) for i in np.unravel_index(pos, shape))
            where = f" at index {index}" if shape else ""
            raise InvalidInputError(f"`{name}` must be {rule}; got {float(flat[pos])!r}{where}")
    if "rate" in named and "expiry_years" in named:
        rate, expiry = named["rate"], named["expiry_years"]
        ok = np.abs(rate * expiry) <= _kernels.MAX_RATE_TIMES_EXPIRY
        if not ok.all():
            pos = int(np.argmin(ok))
            index = tuple(int(i) for i in np.unravel_index(pos, shape))
            where = f" at index {index}" if shape else ""
            raise InvalidInputError(
                f"`rate` x `expiry_years` must be within ±{_kernels.MAX_RATE_TIMES_EXPIRY:g} "
                f"(the discount factor exp(-rate·T) overflows double precision beyond ~709); got "
                f"{float(rate[pos])!r} x {float(expiry[pos])!r} = "
                f"{float(rate[pos] * expiry[pos])!r}{where}"
            )
    raise InvalidInputError("invalid option inputs")  # pragma: no cover - kernels and rules agree


def black76(
    forward: ArrayLike,
    strike: ArrayLike,
    expiry_years: ArrayLike,
    vol: ArrayLike,
    rate: ArrayLike,
    call: ArrayLike = True,
) -> FloatArray:
    """Discounted Black-76 price of European options on a forward or future.

    Parameters
    ----------
    forward, strike : array_like
        Forward (futures) price and strike, same unit (CNY/t). ``forward > 0``, ``strike >= 0``.
    expiry_years : array_like
        Time to expiry in years (ACT/365F), ``>= 0``.
    vol : array_like
        Annualised volatility as a decimal, ``>= 0``.
    rate : array_like
        Continuously compounded discount rate to the payment date, as a decimal (any sign).
    call : bool or array_like of bool
        ``True`` for calls, ``False`` for puts.

    Returns
    -------
    ndarray
        Prices with the broadcast shape of the inputs (0-d for scalar inputs).

    Notes
    -----
    Black (1976), Hull, *Options, Futures, and Other Derivatives*, ch. 18:

    ``c = e^{-rT} [F N(d1) − K N(d2)]``, ``p = e^{-rT} [K N(−d2) − F N(−d1)]``,
    ``d1 = ln(F/K)/(σ√T) + σ√T/2``, ``d2 = d1 − σ√T``.

    ``|rate · expiry_years|`` above 700 is refused (:class:`InvalidInputError`): the discount
    factor ``e^{−rT}`` would leave double precision (e^709.78 is the largest double).

    With ``σ√T = 0`` (zero vol or expiry) the price is the discounted intrinsic value; with a
    zero strike the call is the discounted forward. The out-of-the-money side is computed with
    complementary error functions and the other by put–call parity, so far out-of-the-money prices
    keep their relative precision (see :mod:`carbonfin.pricing._kernels`).
    """
    named = _market(forward, strike, expiry_years, vol, rate)
    shape, flat, flags = _broadcast(named, call)
    out = _output_cache.take(flags.shape[0])
    if _price_kernel(*flat, flags, out, get_num_threads()):
        _raise_first_invalid(dict(zip(named, flat, strict=True)), shape)
    return out.reshape(shape)


@dataclass(frozen=True, slots=True, eq=False)
class Black76Greeks:
    """Black-76 price and sensitivities, each an array of the inputs' broadcast shape.

    Attributes
    ----------
    price
        Discounted option price (same unit as the forward).
    delta
        ∂price/∂forward (per unit of forward; a call's is ``e^{-rT} N(d1)``).
    gamma
        ∂²price/∂forward² (per unit of forward, squared).
    vega
        ∂price/∂vol per 1.00 of volatility (divide by 100 for one vol point: ``vega_per_point``).
    theta
        Rate of change of the price as calendar time passes, −∂price/∂T, per year (divide by 365
        for one calendar day: ``theta_per_day``).
    rho
        ∂price/∂rate per 1.00 of rate with the forward held fixed: ``−T · price`` (a futures
        option's only rate exposure is discounting).

    Where no diffusion is left (``σ√T = 0``) the greeks are their limits: delta is the
    discounted in-the-money indicator (½ exactly at the money), gamma is 0 (``inf`` exactly at
    the money) and an at-the-money option at expiry has theta ``−inf``.
    """

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray

    def __post_init__(self) -> None:
        for name in ("price", "delta", "gamma", "vega", "theta", "rho"):
            getattr(self, name).flags.writeable = False  # frozen means frozen

    @property
    def vega_per_point(self) -> FloatArray:
        """Vega per one volatility point (0.01)."""
        return self.vega / 100.0

    @property
    def theta_per_day(self) -> FloatArray:
        """Theta per calendar day (ACT/365F)."""
        return self.theta / 365.0


def black76_greeks(
    forward: ArrayLike,
    strike: ArrayLike,
    expiry_years: ArrayLike,
    vol: ArrayLike,
    rate: ArrayLike,
    call: ArrayLike = True,
    *,
    out: FloatArray | None = None,
) -> Black76Greeks:
    """Black-76 price with delta, gamma, vega, theta and rho in one pass (see :func:`black76`).

    Parameters
    ----------
    forward, strike, expiry_years, vol, rate, call
        As for :func:`black76`.
    out : ndarray, optional
        A writable, C-contiguous float64 array of shape ``(6, *shape)`` (``shape`` the broadcast
        shape of the inputs) to write price, delta, gamma, vega, theta and rho into, in that
        order, for a caller that prices books of the same size again and again and manages the
        memory itself. By default the outputs (48 MB per 1M options) come from a bounded cache
        of blocks that no earlier result still holds (:mod:`carbonfin.pricing._output_cache`):
        repeated calls whose results are dropped reuse memory instead of faulting in a fresh
        block each time (11 ms against 14-32 ms per 1M options on 2 cores, see
        ``bench_options``); a kept result is never written over. With ``out``, the returned
        arrays are read-only views of it: the next call into the same ``out`` overwrites them.

    Returns
    -------
    Black76Greeks
        Read-only arrays of the broadcast shape.

    Raises
    ------
    InvalidInputError
        An input breaks its rule (as :func:`black76`), or ``out`` has the wrong shape, dtype or
        layout, is read-only, or overlaps an input.

    Notes
    -----
    Hull, ch. 18-19: ``delta_c = e^{-rT} N(d1)``, ``delta_p = −e^{-rT} N(−d1)``,
    ``gamma = e^{-rT} n(d1) / (F σ√T)``, ``vega = e^{-rT} F n(d1) √T``,
    ``theta = r·price − e^{-rT} F n(d1) σ / (2√T)``, ``rho = −T·price``.
    """
    named = _market(forward, strike, expiry_years, vol, rate)
    shape, flat, flags = _broadcast(named, call)
    n = flags.shape[0]
    if out is None:
        # one block: fewer, larger (huge-page backed) allocations, reused once no result holds it
        block = _output_cache.take(6 * n).reshape(6, n)
    else:
        block = _checked_out(out, (6, *shape), [*flat, flags]).reshape(6, n)
    outs = list(block)
    if _greeks_kernel(*flat, flags, *outs, get_num_threads()):
        _raise_first_invalid(dict(zip(named, flat, strict=True)), shape)
    price, delta, gamma, vega, theta, rho = (o.reshape(shape) for o in outs)
    return Black76Greeks(price, delta, gamma, vega, theta, rho)


def _checked_out(out: Any, shape: tuple[int, ...], inputs: list[npt.NDArray[Any]]) -> FloatArray:
    """``out`` if the kernels can write into it, else InvalidInputError naming what is wrong."""
    if not isinstance(out, np.ndarray) or out.dtype != np.float64:
        raise InvalidInputError(
            f"`out` must be a float64 ndarray; got {getattr(out, 'dtype', type(out).__name__)}"
        )
    if out.shape != shape:
        raise InvalidInputError(f"`out` must have shape {shape}; got {out.shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise InvalidInputError("`out` must be C-contiguous and writable")
    if any(np.may_share_memory(out, a) for a in inputs):
        raise InvalidInputError("`out` must not overlap the inputs")
    return out


@dataclass(frozen=True, slots=True, eq=False)
class ImpliedVol:
    """Implied volatilities with a reason code where none exists (see ``IMPLIED_VOL_REASONS``)."""

    vol: FloatArray
    reason_code: npt.NDArray[np.int8]

    def __post_init__(self) -> None:
        self.vol.flags.writeable = False
        self.reason_code.flags.writeable = False

    @property
    def solved(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.reason_code == _kernels.SOLVED)

    def reasons(self) -> npt.NDArray[np.str_]:
        """The reason in words per element ("" where a volatility was found)."""
        table = np.array([IMPLIED_VOL_REASONS[c] for c in range(len(IMPLIED_VOL_REASONS))])
        return table[self.reason_code]

    def reason_counts(self) -> dict[str, int]:
        """How many elements have no volatility, per reason (reasons that occur only).

        Example: ``{"price is below the discounted intrinsic value": 3}``; empty when every
        element was solved.
        """
        counts = np.bincount(self.reason_code.reshape(-1), minlength=len(IMPLIED_VOL_REASONS))
        return {
            IMPLIED_VOL_REASONS[code]: int(n)
            for code, n in enumerate(counts)
            if code != _kernels.SOLVED and n
        }


def solve_implied_vol(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    expiry_years: ArrayLike,
    rate: ArrayLike,
    call: ArrayLike = True,
) -> ImpliedVol:
    """Black-76 implied volatility with the reason wherever none exists.

    Invalid market inputs (forward, strike, expiry, rate) raise :class:`InvalidInputError`;
    a price for which no volatility exists gives NaN and a reason: below the discounted
    intrinsic value, at or above the upper bound, zero expiry, not finite, or no time value
    left (the price equals the discounted intrinsic value to 1e-14 relative, so any small
    volatility reproduces it: a deep in-the-money or zero-volatility price).

    Notes
    -----
    P. Jäckel, "Let's Be Rational" (Wilmott 2015): the out-of-the-money equivalent price,
    normalised by ``√(F·K)``, is solved for the total standard deviation ``s = σ√T`` from a
    rational-cubic initial guess on one of four branches and two third-order Householder steps,
    vectorised and shared out over numba's threads (``numba.set_num_threads``; see ``_lbr``).
    Rows whose convergence the fast pass cannot confirm (a total deviation below 1e-3, a
    cancelling far tail) are solved again by a safeguarded Newton
    iteration on ``ln(price)`` with the accurate slow-path value. The result reproduces the
    price to 1e-12 relative, or to the price's own sensitivity to one ulp of ``s`` where that
    is larger (far out of the money).
    """
    named = {"forward": forward, "strike": strike, "expiry_years": expiry_years, "rate": rate}
    shape, flat, flags = _broadcast({"price": price, **named}, call)
    price_flat, *market = flat
    n = flags.shape[0]
    out = _output_cache.take(n)
    codes = np.empty(n, dtype=np.int8)
    if _implied_vol_kernel(price_flat, *market, flags, out, codes, get_num_threads()):
        checks = dict(zip(named, market, strict=True))
        if not (checks["strike"] > 0).all():
            pos = int(np.argmin(checks["strike"] > 0))
            bad_strike = float(checks["strike"][pos])
            raise InvalidInputError(
                f"`strike` must be > 0 for an implied volatility; got {bad_strike!r}"
            )
        _raise_first_invalid(checks, shape)
    return ImpliedVol(out.reshape(shape), codes.reshape(shape))


def implied_vol(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    expiry_years: ArrayLike,
    rate: ArrayLike,
    call: ArrayLike = True,
) -> FloatArray:
    """Black-76 implied volatility (annualised decimal); NaN where none exists.

    Use :func:`solve_implied_vol` to learn why an element is NaN.
    """
    return solve_implied_vol(price, forward, strike, expiry_years, rate, call).vol
