"""Dispatch policies: which free unit auto-dispatch sends, by name.

A policy is a ranking function `(incident, free units) -> Candidate, ...`, best first; the iterable may be lazy
(auto-dispatch stops at the first unit it can claim), as `dispatch.ranking.units_best_first` is. Auto-dispatch
ranks with the active policy: `DISPATCH["POLICY"]`, or the one a caller (the simulator) selects for a block
with `policy_using`. New policies register themselves with `policy_register` in a module imported here
(coverage-aware and move-up policies come with issue 7).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings

from calls.models import Incident, Priority
from dispatch.ranking import Candidate, unit_origin, units_best_first
from fleet.models import Unit
from geo.points import LatLon
from geo.routing import geodesic_leg

RankingFn = Callable[[Incident, Sequence[Unit]], Iterable[Candidate]]
DEFAULT_POLICY = "road"


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    rank: RankingFn
    description: str


_REGISTRY: dict[str, Policy] = {}
_selected: ContextVar[str | None] = ContextVar("dispatch_policy", default=None)


def policy_register(name: str, *, description: str) -> Callable[[RankingFn], RankingFn]:
    """Add a ranking function to the registry under `name` (a name registered twice is a bug)."""

    def register(rank: RankingFn) -> RankingFn:
        if name in _REGISTRY:
            raise ValueError(f"dispatch policy {name!r} is registered twice")
        _REGISTRY[name] = Policy(name=name, rank=rank, description=description)
        return rank

    return register


# Modules whose policies register themselves when imported (issue 7: response plans, coverage). Imported on
# first use rather than here, so that they may import this module (and each other) in any order.
POLICY_MODULES = ("dispatch.plans", "dispatch.coverage")
_modules_loaded = False


def _policy_modules_load() -> None:
    global _modules_loaded
    if not _modules_loaded:
        _modules_loaded = True
        for module in POLICY_MODULES:
            importlib.import_module(module)


def policies_available() -> list[str]:
    _policy_modules_load()
    return sorted(_REGISTRY)


def policy_get(name: str) -> Policy:
    _policy_modules_load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown dispatch policy {name!r}; known: {', '.join(policies_available())}"
        ) from None


def policy_active() -> Policy:
    """The policy selected by `policy_using`, else the configured one."""
    return policy_get(_selected.get() or settings.DISPATCH.get("POLICY") or DEFAULT_POLICY)


@contextmanager
def policy_using(name: str) -> Iterator[Policy]:
    """Rank with `name` inside the block (this thread or task only); the simulator's switch."""
    policy = policy_get(name)
    token = _selected.set(name)
    try:
        yield policy
    finally:
        _selected.reset(token)


def units_ranked(incident: Incident, units: Sequence[Unit]) -> Iterable[Candidate]:
    """Best first, by the active policy. Reads only."""
    return policy_active().rank(incident, units)


# --- The policies -------------------------------------------------------------------------------

policy_register(
    "road",
    description="nearest by road travel time from geo (today's ranking; geodesic when no road engine)",
)(units_best_first)


@policy_register("straight", description="nearest in a straight line, ignoring the roads")
def units_ranked_straight(incident: Incident, units: Sequence[Unit]) -> list[Candidate]:
    """By straight-line distance (as `geo`'s geodesic estimate: the same circuity and speed, so that only the
    roads differ from `road`); priority 1 keeps the same ALS preference."""
    if incident.lat is None or incident.lon is None:
        return []
    cfg = settings.DISPATCH
    stale = timedelta(seconds=cfg["POSITION_STALE_SECONDS"])
    scene = LatLon(incident.lat, incident.lon)
    candidates = []
    for unit in units:
        origin, from_station = unit_origin(unit, stale_after=stale)
        if origin is None:
            continue
        leg = geodesic_leg(origin, scene)
        score, reason = leg.duration_s, "nearest in a straight line"
        if incident.priority == Priority.RED and unit.kind != Unit.Kind.ALS:
            score += cfg["ALS_PREFERENCE_SECONDS"]
            reason = "not ALS: counted slower for priority 1"
        candidates.append(Candidate(unit, leg, score, from_station, reason))
    candidates.sort(key=lambda c: (c.score, c.leg.duration_s, c.unit.call_sign))
    return candidates
