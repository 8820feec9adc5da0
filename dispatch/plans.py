"""Response plans: what a call of each priority gets, beyond the nearest free unit.

- Priority 1 prefers ALS: a BLS unit goes first only when the nearest ALS unit is more than
  `DISPATCH["ALS_MARGIN_SECONDS"]` further away by road. Transport-only units never get priority 1
  (`dispatch.ranking.units_free_for` leaves them out).
- More patients than one unit carries (`Unit.capacity`) → several units, up to
  `DISPATCH["MAX_UNITS_PER_INCIDENT"]` (`units_more_needed`, used by auto-dispatch).

Each candidate carries a `reason` a dispatcher can read in the recommendation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.conf import settings

from calls.models import Incident, Priority
from dispatch.policies import policy_register
from dispatch.ranking import Candidate, units_ranked_for
from fleet.models import Unit


def _eta(c: Candidate) -> float:
    return c.leg.duration_s


def candidates_planned(incident: Incident, ranked: Sequence[Candidate]) -> list[Candidate]:
    """Re-score candidates (any travel-time order) by the response plan; best first, each with its reason."""
    margin = float(settings.DISPATCH["ALS_MARGIN_SECONDS"])
    if incident.priority != Priority.RED:
        planned = [
            Candidate(c.unit, c.leg, _eta(c), c.from_station, "nearest by travel time") for c in ranked
        ]
    else:
        als = [c for c in ranked if c.unit.kind == Unit.Kind.ALS]
        others = [c for c in ranked if c.unit.kind != Unit.Kind.ALS]
        best_als = min(als, key=_eta, default=None)
        best_other = min(others, key=_eta, default=None)
        planned = []
        for c in als:
            if c is best_als and best_other is not None and _eta(best_other) < _eta(c):
                reason = (
                    f"ALS for priority 1: {best_other.unit.call_sign} ({best_other.unit.kind.upper()}) is only "
                    f"{_eta(c) - _eta(best_other):.0f} s nearer, within the {margin:.0f} s margin"
                )
            else:
                reason = "ALS for priority 1, nearest by travel time"
            planned.append(Candidate(c.unit, c.leg, _eta(c), c.from_station, reason))
        for c in others:
            if best_als is None:
                reason = f"{c.unit.kind.upper()}: no ALS unit free"
            elif _eta(best_als) - _eta(c) > margin:
                reason = (
                    f"{c.unit.kind.upper()}: the nearest ALS ({best_als.unit.call_sign}) is "
                    f"{_eta(best_als) - _eta(c):.0f} s further, more than the {margin:.0f} s margin"
                )
            else:
                reason = f"not ALS: counted {margin:.0f} s slower for priority 1"
            planned.append(Candidate(c.unit, c.leg, _eta(c) + margin, c.from_station, reason))
    planned.sort(key=lambda c: (c.score, _eta(c), c.unit.call_sign))
    return planned


@policy_register(
    "plans",
    description="road travel time with the response plans: priority 1 takes BLS only when ALS is more than "
    "DISPATCH_ALS_MARGIN_SECONDS further; several units for more patients than one carries",
)
def units_ranked_by_plan(incident: Incident, units: Sequence[Unit]) -> list[Candidate]:
    """Best first by the response plan (every free unit is routed: a city fleet is small). Reads only."""
    return candidates_planned(incident, units_ranked_for(incident, units))


def units_more_needed(*, patients: int, carried: int, sent: int) -> bool:
    """True while the units sent carry fewer than `patients` and the per-incident cap is not reached."""
    cap = max(1, int(settings.DISPATCH["MAX_UNITS_PER_INCIDENT"]))
    return sent < 1 or (carried < patients and sent < cap)


def units_needed(*, patients: int, capacity: int) -> int:
    """ceil(patients / capacity), at least one, at most the per-incident cap."""
    cap = max(1, int(settings.DISPATCH["MAX_UNITS_PER_INCIDENT"]))
    return max(1, min(cap, math.ceil(max(patients, 1) / max(capacity, 1))))
