"""The anti-procyclicality buffer of EMIR RTS 153/2013 art. 28(1)(a), as a state machine.

Source: Commission Delegated Regulation (EU) No 153/2013, art. 28(1)(a): a CCP shall apply "a
margin buffer at least equal to 25% of the calculated margins which it allows to be temporarily
exhausted in periods where calculated margin requirements are rising significantly". The buffer
is therefore not a permanent ×1.25: it is *drawn down* while the computed requirement rises
significantly and *rebuilt* once it falls back.

The rule codified here (carbonfin's reading; the thresholds are ``assumed`` policy values in
``collateral.toml [anti_procyclicality]``). With ``B_t`` the computed (base) haircut on business
day ``t``, ``b`` the buffer (25%), ``F_t = min(1, (1 + b)·B_t)`` the fully buffered haircut and
``A_t`` the applied one:

* start: ``A_0 = F_0`` (state ``full``);
* a **significant rise** on day ``t`` is ``B_t > (1 + s)·min(B_{t−w} … B_{t−1})`` (``s`` = 10%,
  ``w`` = 20 business days: the base rose by more than a tenth within one holding period);
* in state ``full`` without a significant rise: ``A_t = F_t`` (the buffer moves with the base);
* otherwise (a significant rise, or the buffer already drawn): ``A_t = min(F_t, max(B_t,
  A_{t−1}))`` — the applied haircut stays where it was as long as it lies between the base
  (buffer exhausted) and the fully buffered level: a rising base eats the buffer instead of
  raising the haircut, a falling base rebuilds it before the haircut falls.

States: ``full`` (``A_t = F_t``), ``drawn`` (``B_t < A_t < F_t``), ``exhausted`` (``A_t = B_t``:
the haircut now rises one for one with the base). The haircut never falls below the base.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carbonfin.errors import InvalidInputError

__all__ = ["BufferPath", "buffer_path"]

_EPS = 1e-12


@dataclass(frozen=True, slots=True, eq=False)
class BufferPath:
    """Applied haircuts and buffer states along a path of base haircuts (read-only arrays)."""

    base: np.ndarray
    applied: np.ndarray
    states: tuple[str, ...]
    buffer_frac: float
    rise_frac: float
    rise_window: int

    def __post_init__(self) -> None:
        self.base.flags.writeable = False
        self.applied.flags.writeable = False

    @property
    def drawn_frac(self) -> np.ndarray:
        """Share of the full buffer used on each day: ``(F_t − A_t)/(F_t − B_t)`` (0 = full)."""
        full = np.minimum(1.0, (1.0 + self.buffer_frac) * self.base)
        room = full - self.base
        out: np.ndarray = np.divide(
            full - self.applied, room, out=np.zeros_like(room), where=room > _EPS
        )
        return out


def buffer_path(
    base_frac: np.ndarray | list[float],
    *,
    buffer_frac: float = 0.25,
    rise_frac: float = 0.10,
    rise_window: int = 20,
) -> BufferPath:
    """Run the art. 28(1)(a) buffer over consecutive base haircuts (see the module notes).

    Parameters
    ----------
    base_frac
        Computed haircuts ``B_t`` on consecutive business days, fractions in [0, 1].
    buffer_frac
        The buffer as a fraction of the computed haircut (EMIR: at least 0.25).
    rise_frac, rise_window
        A significant rise: the base above ``(1 + rise_frac)`` times its minimum over the
        previous ``rise_window`` days.

    Returns
    -------
    BufferPath
        ``applied[-1]`` is the haircut to apply on the last day; ``states[-1]`` its state.

    Raises
    ------
    InvalidInputError
        Empty or out-of-range inputs.

    Examples
    --------
    >>> p = buffer_path([0.20, 0.20, 0.30, 0.34, 0.20])
    >>> [round(a, 3) for a in p.applied], p.states
    ([0.25, 0.25, 0.3, 0.34, 0.25], ('full', 'full', 'exhausted', 'exhausted', 'full'))
    """
    b = np.asarray(base_frac, dtype=float)
    if b.ndim != 1 or len(b) == 0 or not np.all((b >= 0) & (b <= 1)):
        raise InvalidInputError("`base_frac` must be a non-empty sequence of fractions in [0, 1]")
    if not 0 <= buffer_frac < 1 or not rise_frac >= 0 or rise_window < 1:
        raise InvalidInputError(
            f"`buffer_frac` must be in [0, 1), `rise_frac` >= 0 and `rise_window` >= 1; got "
            f"{buffer_frac!r}, {rise_frac!r}, {rise_window!r}"
        )
    full = np.minimum(1.0, (1.0 + buffer_frac) * b)
    applied = np.empty_like(b)
    states: list[str] = []
    state = "full"
    for t in range(len(b)):
        if t == 0:
            a = full[0]
        else:
            ref = float(b[max(0, t - rise_window) : t].min())
            rising = b[t] > (1.0 + rise_frac) * ref + _EPS
            if state == "full" and not rising:
                a = full[t]
            else:
                a = min(full[t], max(b[t], applied[t - 1]))
        applied[t] = a
        if a >= full[t] - _EPS:
            state = "full"
        elif a <= b[t] + _EPS:
            state = "exhausted"
        else:
            state = "drawn"
        states.append(state)
    return BufferPath(b, applied, tuple(states), buffer_frac, rise_frac, rise_window)
