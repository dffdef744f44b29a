"""The ``regressions`` block of the targets config: the change-point detector's parameters (issue 15).

At ``defaults``, service and endpoint level, with the precedence of ``budget`` (built-in < ``defaults``
< the service's < the endpoint's, key by key)::

    "regressions": {"p_value": 0.001, "min_effect": 0.05, "confirm_runs": 3, "min_history": 15,
                    "drift_runs": 30, "min_error_rate_effect": 0.005}

The defaults are ``analysis.changepoints.Params``' (chosen by ``make bench`` rows i); the bounds keep
each parameter where the detector still means what the README says (e.g. ``confirm_runs`` >= 2: the
confirmation leaves the after segment's most extreme run out, so one run could never confirm anything).
"""
from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from perf_profiler.model.strict import StrictModel

#: The detector's fixed look-back and look-ahead (``analysis.changepoints.Params.window`` / ``max_after``).
WINDOW = 60
MAX_AFTER = 30

PValue = Annotated[float, Field(ge=1e-9, le=0.1)]
MinEffect = Annotated[float, Field(ge=0.001, le=10.0)]
ConfirmRuns = Annotated[int, Field(ge=2, le=MAX_AFTER)]
MinHistory = Annotated[int, Field(ge=5, le=WINDOW)]
DriftRuns = Annotated[int, Field(ge=5, le=300)]
ErrorRateEffect = Annotated[float, Field(ge=0.0001, le=1.0)]


class Regressions(StrictModel):
    """How ``perf_trends`` judges a series: significance, minimum effects, confirmation, history, drift.

    ``p_value``: one-sided significance of a change point; ``min_effect``: the smallest latency shift
    reported (relative, 0.05 = 5 %); ``confirm_runs``: runs of the new level before it is confirmed;
    ``min_history``: runs of the old level needed before judging; ``drift_runs``: how many runs back the
    drift comparison looks; ``min_error_rate_effect``: the smallest error-rate shift reported, absolute
    (0.005 = 0.5 percentage points).
    """

    LABEL: ClassVar[str] = "regressions"
    p_value: PValue = 1e-3
    min_effect: MinEffect = 0.05
    confirm_runs: ConfirmRuns = 3
    min_history: MinHistory = 15
    drift_runs: DriftRuns = 30
    min_error_rate_effect: ErrorRateEffect = 0.005
