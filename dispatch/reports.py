"""Response-time intervals from the status timestamps, and their figures by priority and kecamatan."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from calls.models import Incident
from dispatch.models import Assignment

INTERVALS = ("call_to_dispatch", "turnout", "travel", "response", "on_scene", "transport", "total")


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds()


def incident_intervals(incident: Incident, assignments: Iterable[Assignment]) -> dict[str, float | None]:
    """Each interval of product.md, in seconds, measured on the first unit to do each step."""
    done = [a for a in assignments if a.status not in ("declined", "expired") or a.on_scene_at]
    first_assigned = min((a for a in assignments), key=lambda a: a.assigned_at, default=None)
    arrived = min((a for a in done if a.on_scene_at), key=lambda a: a.on_scene_at, default=None)  # type: ignore[arg-type,return-value]
    departed = min((a for a in done if a.en_route_at), key=lambda a: a.en_route_at, default=None)  # type: ignore[arg-type,return-value]
    transported = min((a for a in done if a.transporting_at), key=lambda a: a.transporting_at, default=None)  # type: ignore[arg-type,return-value]
    on_scene_end = None
    if arrived is not None:
        on_scene_end = arrived.transporting_at or arrived.cleared_at
    return {
        "call_to_dispatch": _seconds(
            incident.received_at, first_assigned.assigned_at if first_assigned else None
        ),
        "turnout": _seconds(departed.assigned_at, departed.en_route_at) if departed else None,
        "travel": _seconds(arrived.en_route_at, arrived.on_scene_at) if arrived else None,
        "response": _seconds(incident.received_at, arrived.on_scene_at if arrived else None),
        "on_scene": _seconds(arrived.on_scene_at, on_scene_end) if arrived else None,
        "transport": _seconds(transported.transporting_at, transported.at_hospital_at)
        if transported
        else None,
        "total": _seconds(incident.received_at, incident.closed_at) if incident.status == "closed" else None,
    }


def _figures(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "mean": None, "median": None, "p90": None}
    ordered = sorted(values)
    p90 = ordered[0] if len(ordered) == 1 else statistics.quantiles(ordered, n=10, method="inclusive")[-1]
    return {
        "count": len(values),
        "mean": round(statistics.fmean(values), 1),
        "median": round(statistics.median(values), 1),
        "p90": round(p90, 1),
    }


def response_time_report(*, since: datetime | None, until: datetime | None) -> dict[str, Any]:
    incidents = Incident.objects.prefetch_related("assignments").exclude(status="cancelled")
    if since is not None:
        incidents = incidents.filter(received_at__gte=since)
    if until is not None:
        incidents = incidents.filter(received_at__lt=until)
    overall: dict[str, list[float]] = defaultdict(list)
    by_priority: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_kecamatan: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    count = 0
    for incident in incidents:
        count += 1
        for name, value in incident_intervals(incident, list(incident.assignments.all())).items():
            if value is None:
                continue
            overall[name].append(value)
            by_priority[str(incident.priority)][name].append(value)
            by_kecamatan[incident.kecamatan or "-"][name].append(value)

    def table(groups: dict[str, list[float]]) -> dict[str, Any]:
        return {name: _figures(groups.get(name, [])) for name in INTERVALS}

    return {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "incidents": count,
        "unit": "seconds",
        "overall": table(overall),
        "by_priority": {k: table(v) for k, v in sorted(by_priority.items())},
        "by_kecamatan": {k: table(v) for k, v in sorted(by_kecamatan.items())},
    }
