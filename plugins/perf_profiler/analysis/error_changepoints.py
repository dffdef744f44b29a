"""Change points in nightly error-rate series: persistent shifts of a proportion (issue 15, point 1).

Logs do not work with zeros, and an error rate is a proportion with a known sampling noise, so the
error-rate series gets its own test, shaped like the latency detector's (``analysis.changepoints``):

* **Two-proportion test, one pass over the nights.** At night ``t`` every candidate start ``c`` of a
  new level (``L = t - c + 1`` runs ago, ``confirm_runs <= L <= max_after``) is compared with the
  current level (up to ``window`` runs before ``c``, none before the last accepted change point, at
  least ``min_history``): the pooled rate after (errors / requests of those runs) against the pooled
  rate before. Its standard error is the larger of the pooled two-proportion one,
  ``sqrt(p(1-p)(1/n_after + 1/n_before))`` with the request counts of each run, and the one the
  history's night-to-night spread of the rates gives (``s * sqrt(1/L + 1/W)``): nights vary more
  than the binomial says when the service does, and the history holds that.
* **Significance, minimum effect, confirmation**: as for latency -- the after segment's most extreme
  run left out, ``z >= z(p_value) * sqrt(1 + 1/(L-1))``, the shift and the after segment's median
  beyond ``min_error_rate_effect`` (absolute: 0.005 = 0.5 percentage points). A one-night burst of
  errors is never a change point; it is an *outlier* when it separates from the level (``suspect``).
* **Attribution**: the first run of the new level (largest trimmed shift weighted as a two-sample
  statistic), ``confirmed_at`` the night the test first passed. ``effect`` is absolute (after - before).

Runs with zero requests carry no rate: the caller leaves them out (``evaluate``). No drift test here.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING

from perf_profiler.analysis import regression_states
from perf_profiler.analysis.changepoints import DEFAULT, Change, Params, Scan
from perf_profiler.analysis.regression_states import REGRESSION, SUSPECTED, Finding

if TYPE_CHECKING:
    import numpy as np

OUTLIER = "outlier"
#: Two-sided confidence of a run's interval and of the level's, for a suspect night.
_Z95 = NormalDist().inv_cdf(0.975)


def method(params: Params = DEFAULT) -> str:
    """How an error-rate series was judged, as ``perf_changepoints.method`` records it."""
    return (f"change points on error rate: two-proportion z >= z(p={params.p_value:g}), min effect "
            f"{100 * params.min_error_rate_effect:g} pp, {params.confirm_runs} runs, "
            f"history {params.min_history}-{params.window}")


def scan_errors(errors: np.ndarray, requests: np.ndarray, params: Params = DEFAULT) -> Scan:
    """Change points of every row of ``errors`` / ``requests`` (S × T, every request count > 0).

    The decisions at night ``t`` use only nights ``<= t``, as the latency ``scan``.
    """
    import numpy as np

    e = np.atleast_2d(np.asarray(errors, dtype=np.float64))
    n = np.atleast_2d(np.asarray(requests, dtype=np.float64))
    if np.any(n <= 0):
        raise ValueError("every run needs requests > 0 (leave runs without requests out)")
    rate = e / n
    zero = np.zeros((e.shape[0], 1))
    sums = {name: np.concatenate([zero, np.cumsum(v, axis=1)], axis=1)
            for name, v in (("e", e), ("n", n), ("r", rate), ("r2", rate * rate))}
    start = np.zeros(e.shape[0], dtype=np.int64)
    found = Scan()
    for t in range(e.shape[1]):
        _changes_at(t, e, n, rate, sums, start, params, found)
    return found


def _between(prefix: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.take_along_axis(prefix, hi, axis=1) - np.take_along_axis(prefix, lo, axis=1)


def _changes_at(t: int, e: np.ndarray, n: np.ndarray, rate: np.ndarray, sums: dict[str, np.ndarray],
                start: np.ndarray, params: Params, found: Scan) -> None:
    import numpy as np

    lengths = np.arange(1, min(params.max_after, t + 1) + 1)
    cand = t + 1 - lengths
    if lengths.size < params.confirm_runs or cand[params.confirm_runs - 1] < params.min_history:
        return
    series = e.shape[0]
    c = np.broadcast_to(cand, (series, cand.size))
    end = np.full_like(c, t + 1)
    lo = np.minimum(np.maximum(start[:, None], c - params.window), c)
    w = (c - lo).astype(np.float64)
    e_b, n_b = _between(sums["e"], lo, c), _between(sums["n"], lo, c)
    p_b = np.where(n_b > 0, e_b / np.maximum(n_b, 1.0), 0.0)
    r1, r2 = _between(sums["r"], lo, c), _between(sums["r2"], lo, c)
    spread = np.sqrt(np.maximum(r2 - r1 * r1 / np.maximum(w, 1.0), 0.0) / np.maximum(w - 1.0, 1.0))
    e_a, n_a = _between(sums["e"], c, end), _between(sums["n"], c, end)
    recent = rate[:, t::-1][:, : lengths.size]  # runs t, t-1, ... newest first
    recent_e, recent_n = e[:, t::-1][:, : lengths.size], n[:, t::-1][:, : lengths.size]
    trimmed = np.maximum(lengths - 1, 1).astype(np.float64)
    valid = w >= params.min_history
    z_crit = params.z * np.sqrt(1.0 + 1.0 / trimmed)
    floor = params.min_error_rate_effect
    shifts = {}
    for sign in (1.0, -1.0):
        # the after segment without its most extreme run (by rate): a one-night burst never passes
        k = _running_extreme(recent, upwards=sign > 0)
        e_x, n_x = np.take_along_axis(recent_e, k, axis=1), np.take_along_axis(recent_n, k, axis=1)
        e_t, n_t = e_a - e_x, np.maximum(n_a - n_x, 1.0)
        shift = e_t / n_t - p_b
        pooled = (e_t + e_b) / (n_t + np.maximum(n_b, 1.0))
        se = np.maximum(np.sqrt(pooled * (1.0 - pooled) * (1.0 / n_t + 1.0 / np.maximum(n_b, 1.0))),
                        spread * np.sqrt(1.0 / trimmed + 1.0 / np.maximum(w, 1.0)))
        z = np.where(se > 0, sign * shift / np.where(se > 0, se, 1.0), np.where(sign * shift > 0, np.inf, 0.0))
        passed = valid & (lengths >= params.confirm_runs) & (z >= z_crit) & (sign * shift >= floor)
        # ... and the after segment's median beyond the minimum effect (only where it passed so far)
        maybe = np.flatnonzero(passed.any(axis=1))
        median = np.stack([np.median(recent[maybe, :m], axis=1) for m in lengths], axis=1) - p_b[maybe]
        passed[maybe] &= sign * median >= floor
        shifts[sign] = (shift, passed)
    effect = e_a / np.maximum(n_a, 1.0) - p_b
    for s in np.flatnonzero(shifts[1.0][1].any(axis=1) | shifts[-1.0][1].any(axis=1)):
        sign = 1.0 if shifts[1.0][1][s].any() else -1.0
        shift = shifts[sign][0][s]
        weight = np.sqrt(trimmed * w[s] / (trimmed + np.maximum(w[s], 1.0)))
        where = valid[s] & (lengths >= 2) & (sign * shift >= floor)
        at = int(np.argmax(np.where(where, sign * shift * weight, -np.inf)))
        if lengths[at] < params.confirm_runs:
            continue  # the new level starts later than any confirmed candidate: wait for its runs
        pooled = float((e_a[s, at] + e_b[s, at]) / (n_a[s, at] + n_b[s, at]))
        error = max(math.sqrt(pooled * (1 - pooled) * (1 / float(n_a[s, at]) + 1 / max(float(n_b[s, at]), 1.0))),
                    float(spread[s, at]) * math.sqrt(1 / float(lengths[at]) + 1 / max(float(w[s, at]), 1.0)))
        z_at = float(effect[s, at]) / error if error > 0 else 0.0
        found.changes.append(Change(int(s), int(c[s, at]), t, float(effect[s, at]), z_at))
        start[s] = c[s, at]


def _running_extreme(recent: np.ndarray, upwards: bool) -> np.ndarray:
    """Per series and length ``m``, the index (into ``recent``) of the highest (lowest) run among the first ``m``."""
    import numpy as np

    running = (np.maximum if upwards else np.minimum).accumulate(recent, axis=1)
    # the last index, up to m, where the run equals the running extreme: that run is the extreme
    index = np.where(recent == running, np.arange(recent.shape[1])[None, :], -1)
    return np.maximum.accumulate(index, axis=1)


def suspect(errors: int, requests: int, level_rate: float, level_spread: float, params: Params = DEFAULT) -> int:
    """+1 when a run's rate lies above the level's (intervals apart, and by the minimum effect), -1 below, 0 not."""
    r = errors / requests
    run_se = math.sqrt(r * (1 - r) / requests)
    level_se = max(level_spread, math.sqrt(level_rate * (1 - level_rate) / requests))
    if r - level_rate >= params.min_error_rate_effect and r - _Z95 * run_se > level_rate + _Z95 * level_se:
        return 1
    if level_rate - r >= params.min_error_rate_effect and r + _Z95 * run_se < level_rate - _Z95 * level_se:
        return -1
    return 0


def evaluate(errors: Sequence[int], requests: Sequence[int], params: Params = DEFAULT) -> list[Finding]:
    """The findings of one error-rate series, oldest run first; indices are positions in the given
    sequences (runs with zero requests are skipped: never a change point nor an outlier)."""
    import numpy as np

    kept = [i for i, count in enumerate(requests) if count > 0]
    if not kept:
        return []
    e = np.array([float(errors[i]) for i in kept])
    n = np.array([float(requests[i]) for i in kept])
    found = scan_errors(e[None, :], n[None, :], params)
    changes = [Change(c.series, kept[c.index], kept[c.confirmed_at], c.effect, c.z) for c in found.changes]
    out = regression_states.findings(changes, params=params, additive=True)
    starts = sorted(c.index for c in found.changes)
    covered = {kept[j] for c in found.changes for j in range(c.index, c.confirmed_at + 1)}
    for j, i in enumerate(kept):
        if i in covered:
            continue
        segment = max((s for s in starts if s <= j), default=0)
        lo = max(segment, j - params.window)
        if j - lo < params.min_history:
            continue
        before_rate = float(e[lo:j].sum() / n[lo:j].sum())
        spread = float(np.std(e[lo:j] / n[lo:j], ddof=1))
        if suspect(int(e[j]), int(n[j]), before_rate, spread, params) <= 0:
            continue
        pending = len(kept) - 1 - j < params.confirm_runs - 1
        z = (e[j] / n[j] - before_rate) / spread if spread > 0 else 0.0
        out.append(Finding(REGRESSION if pending else OUTLIER, SUSPECTED, i, None,
                           float(e[j] / n[j] - before_rate), None, float(z)))
    return out
