"""Change points in nightly latency series: persistent shifts with a significance test (issue 15).

The method (documented with its measured error rates in the README, measured by ``bench/changepoints.py``):

* Work on the log of the percentile (a +10 % step is the same shift at 5 ms and at 5 s; the
  night-to-night noise of latencies is multiplicative).
* **Sequential two-sample test, one pass over the nights.** At night ``t`` every candidate start
  ``c`` of a new level, ``L = t - c + 1`` runs ago (``confirm_runs <= L <= max_after``), is compared
  with the current level: up to ``window`` runs before ``c``, none before the last accepted change
  point, at least ``min_history`` of them (``W``). The statistic is the difference of the means over
  its standard error, ``z = (mean_after - mean_before) / (s * sqrt(1/L + 1/W))``, ``s`` the standard
  deviation of the level's own runs: the history holds the night-to-night noise that no single
  histogram shows.
* **Significance, minimum effect, confirmation.** A candidate passes when, with the after segment's
  most extreme run left out, ``z >= z(p_value) * sqrt(1 + 1/(L-1))`` (stricter for short segments)
  and the shift is at least ``min_effect``, and the median of the after segment is beyond the old
  level by ``min_effect`` too: neither one spike nor a spike plus one new run can pass (a lone
  extreme night is an *outlier*, ``analysis.quantile_ci``).
* **Attribution**: the change point is the first run of the new level, located among the candidates
  (every ``L >= 2``) by the largest trimmed shift weighted as a two-sample statistic with one spread
  for all (``shift * sqrt(L'W/(L'+W))``); when that start is fewer than ``confirm_runs`` runs ago
  the decision waits for its runs. ``confirmed_at`` is the night the test first passed. Upwards is a
  regression, downwards an improvement.
* **Drift**: the mean of the last ``drift_span`` runs against the mean of ``drift_span`` runs
  ``drift_runs`` runs earlier, same test and minimum effect (a creep that no single step explains).

Everything is vectorised over many series at once (the bench runs thousands; the task one):
``scan`` takes an ``(S, T)`` array. numpy only (a permutation test as E-Divisive/Otava uses, or
``ruptures``' PELT, would cost hundreds of re-evaluations per test or pull in scipy).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING

from perf_profiler.model.regressions import Regressions

if TYPE_CHECKING:
    import numpy as np


#: The defaults of the parameters users may set per service/endpoint: one source, the config model.
_CONFIGURABLE = Regressions()


@dataclass(frozen=True)
class Params:
    """The detector's parameters (per service/endpoint from the targets config's ``regressions`` block,
    ``model.regressions``; ``window``, ``max_after`` and ``drift_span`` are fixed)."""

    p_value: float = _CONFIGURABLE.p_value
    min_effect: float = _CONFIGURABLE.min_effect
    min_history: int = _CONFIGURABLE.min_history
    window: int = 60
    confirm_runs: int = _CONFIGURABLE.confirm_runs
    max_after: int = 30
    drift_runs: int = _CONFIGURABLE.drift_runs
    drift_span: int = 5
    #: the error-rate series' minimum effect, absolute (0.005 = 0.5 percentage points; ``analysis.error_changepoints``)
    min_error_rate_effect: float = _CONFIGURABLE.min_error_rate_effect

    @property
    def z(self) -> float:
        """The one-sided critical value of the test for ``p_value``."""
        return NormalDist().inv_cdf(1.0 - self.p_value)

    @property
    def log_effect(self) -> float:
        return math.log1p(self.min_effect)


DEFAULT = Params()


@dataclass(frozen=True)
class Change:
    """A change point of one series: ``index`` is the first run of the new level."""

    series: int
    index: int
    confirmed_at: int
    effect: float  #: relative: level after / level before - 1
    z: float

    @property
    def regression(self) -> bool:
        return self.effect > 0


@dataclass(frozen=True)
class Drift:
    """The level at ``at`` is worse than ``drift_runs`` runs earlier by ``effect`` (relative)."""

    series: int
    at: int
    effect: float
    z: float


@dataclass
class Scan:
    """What ``scan`` found over all series and nights (in the order they were found)."""

    changes: list[Change] = field(default_factory=list)
    drifts: list[Drift] = field(default_factory=list)


def scan(log_values: np.ndarray, params: Params = DEFAULT, drift: bool = True) -> Scan:
    """Change points (and drift, the first night of each episode) of every row of ``log_values`` (S × T).

    One pass over the nights: the decisions at night ``t`` use only nights ``<= t``, so the
    result equals running the detector every night on the history known then.
    """
    import numpy as np

    x = np.atleast_2d(np.asarray(log_values, dtype=np.float64))
    n_series, nights = x.shape
    zero = np.zeros((n_series, 1))
    p1 = np.concatenate([zero, np.cumsum(x, axis=1)], axis=1)
    p2 = np.concatenate([zero, np.cumsum(x * x, axis=1)], axis=1)
    start = np.zeros(n_series, dtype=np.int64)
    drifting = np.zeros(n_series, dtype=bool)
    found = Scan()
    z_crit, floor = params.z, params.log_effect
    for t in range(nights):
        _changes_at(t, x, p1, p2, start, params, z_crit, floor, found)
        if drift:
            _drift_at(t, p1, p2, params, z_crit, floor, drifting, found)
    return found


def _window_stats(p1: np.ndarray, p2: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, ...]:
    """Count, mean and sample standard deviation of runs ``[lo, hi)`` per series (broadcast)."""
    import numpy as np

    n = (hi - lo).astype(np.float64)
    s1 = np.take_along_axis(p1, hi, axis=1) - np.take_along_axis(p1, lo, axis=1)
    s2 = np.take_along_axis(p2, hi, axis=1) - np.take_along_axis(p2, lo, axis=1)
    safe = np.maximum(n, 2.0)
    mean = s1 / np.maximum(n, 1.0)
    var = np.maximum(s2 - s1 * mean, 0.0) / (safe - 1.0)
    return n, mean, np.sqrt(var)


def _changes_at(t: int, x: np.ndarray, p1: np.ndarray, p2: np.ndarray, start: np.ndarray, params: Params,
                z_crit: float, floor: float, found: Scan) -> None:
    """Test every candidate start ending at night ``t``; accept the best significant one per series."""
    import numpy as np

    lengths = np.arange(1, min(params.max_after, t + 1) + 1)  # 1..: where; confirm_runs..: whether
    cand = t + 1 - lengths  # candidate first runs of a new level, shape (L,)
    if lengths.size < params.confirm_runs or cand[params.confirm_runs - 1] < params.min_history:
        return
    c = np.broadcast_to(cand, (x.shape[0], cand.size))
    lo = np.minimum(np.maximum(start[:, None], c - params.window), c)
    n_before, before, spread = _window_stats(p1, p2, lo, c)
    total = p1[:, t + 1][:, None] - np.take_along_axis(p1, c, axis=1)
    recent = x[:, t::-1][:, : lengths.size]  # runs t, t-1, ... (the after segments, newest first)
    trimmed = np.maximum(lengths - 1, 1)
    valid = (n_before >= params.min_history) & (spread > 0)
    scale = np.where(valid, spread, 1.0) * np.sqrt(1.0 / trimmed + 1.0 / np.maximum(n_before, 1.0))
    # whether: the shift without the after segment's most extreme run (a spike never passes)
    up_shift = (total - np.maximum.accumulate(recent, axis=1)) / trimmed - before
    down_shift = (total - np.minimum.accumulate(recent, axis=1)) / trimmed - before
    long_enough = valid & (lengths >= params.confirm_runs)
    strict = z_crit * np.sqrt(1.0 + 1.0 / trimmed)  # stricter for short segments: few runs left after the trim
    rising = (up_shift / scale >= strict) & (up_shift >= floor)
    falling = (down_shift / scale <= -strict) & (down_shift <= -floor)
    maybe = np.flatnonzero((long_enough & (rising | falling)).any(axis=1))
    # ... and the median of the after segment beyond the minimum effect (two extreme runs never pass);
    # computed only for the few series that passed so far
    median = np.stack([np.median(recent[maybe, :n], axis=1) for n in lengths], axis=1) - before[maybe]
    up_shift[maybe] = np.where(median >= floor, up_shift[maybe], np.minimum(up_shift[maybe], 0.0))
    down_shift[maybe] = np.where(median <= -floor, down_shift[maybe], np.maximum(down_shift[maybe], 0.0))
    checked = np.zeros(long_enough.shape, dtype=bool)
    checked[maybe] = True
    up = checked & long_enough & (up_shift / scale >= strict) & (up_shift >= floor)
    down = checked & long_enough & (down_shift / scale <= -strict) & (down_shift <= -floor)
    # where and how much: the plain two-sample statistic and shift of the means, over every length
    effect = total / lengths - before
    z = np.where(valid, effect / (np.where(valid, spread, 1.0) * np.sqrt(1.0 / lengths + 1.0 / np.maximum(
        n_before, 1.0))), 0.0)
    for s in np.flatnonzero(up.any(axis=1) | down.any(axis=1)):
        sign = 1.0 if up[s].any() else -1.0
        shift = up_shift[s] if sign > 0 else down_shift[s]
        # where: the trimmed shift weighted as a two-sample statistic with one spread for all candidates
        # (a spike neither pulls the start to itself nor, in a window before, pushes it away)
        weight = np.sqrt(trimmed * n_before[s] / (trimmed + n_before[s]))
        where = valid[s] & (lengths >= 2) & (sign * shift >= floor)  # a lone extreme run cannot be the start
        k = int(np.argmax(np.where(where, sign * shift * weight, -np.inf)))
        if lengths[k] < params.confirm_runs:
            continue  # the new level starts later than any confirmed candidate: wait for its runs
        found.changes.append(Change(int(s), int(c[s, k]), t, float(math.expm1(effect[s, k])), float(z[s, k])))
        start[s] = c[s, k]


def _drift_at(t: int, p1: np.ndarray, p2: np.ndarray, params: Params, z_crit: float,
              floor: float, drifting: np.ndarray, found: Scan) -> None:
    """Drift upwards at night ``t``: the last ``drift_span`` runs against as many ``drift_runs`` earlier."""
    import numpy as np

    span, back = params.drift_span, params.drift_runs
    if t + 1 - span - back < 0:
        return
    n_series = p1.shape[0]
    now_lo = np.full((n_series, 1), t + 1 - span)
    then_lo = now_lo - back
    _, now, s_now = _window_stats(p1, p2, now_lo, now_lo + span)
    _, then, s_then = _window_stats(p1, p2, then_lo, then_lo + span)
    hist_lo = np.maximum(then_lo - params.window + span, 0)
    _, _, s_hist = _window_stats(p1, p2, hist_lo, then_lo + span)
    spread = np.maximum(s_hist, np.sqrt((s_now ** 2 + s_then ** 2) / 2.0))[:, 0]
    err = spread * math.sqrt(2.0 / span)
    diff = (now - then)[:, 0]
    z = np.where(err > 0, diff / np.where(err > 0, err, 1.0), 0.0)
    now_drift = (z >= z_crit) & (diff >= floor)
    for s in np.flatnonzero(now_drift & ~drifting):
        found.drifts.append(Drift(int(s), t, float(math.expm1(diff[s])), float(z[s])))
    drifting[:] = now_drift
