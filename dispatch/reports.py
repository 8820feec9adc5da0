"""Response-time intervals from the status timestamps, and their figures by priority, kecamatan and day.

Reads only. The same functions serve the REST report, its CSV export, the report page and the simulator, so a
simulated month and a real one are measured alike. No personal data leaves here: no phone, name or complaint.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from calls.models import Incident
from dispatch.models import Assignment

INTERVALS = ("call_to_dispatch", "turnout", "travel", "response", "on_scene", "transport", "total")
# Response targets reported for priority 1: 8 minutes (the usual urban standard) and 15 minutes (the target
# the neighbouring Kabupaten Malang cites).
TARGET_MINUTES = (8, 15)
HISTOGRAM_BIN_MINUTES = 2
HISTOGRAM_LAST_MINUTES = 60  # responses beyond fall into the last, open bin


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


def interval_figures(values: list[float]) -> dict[str, Any]:
    """Count, mean, median and 90th percentile (inclusive method), rounded to 0.1 s; None when empty."""
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


_figures = interval_figures  # the name the first version used


def within_targets(responses: list[float], minutes: Iterable[int] = TARGET_MINUTES) -> dict[str, Any]:
    """For each target: how many of the responses (seconds) reached the scene within it, and the share."""
    out = {}
    for minute in minutes:
        reached = sum(1 for r in responses if r <= minute * 60)
        out[str(minute)] = {
            "reached": reached,
            "of": len(responses),
            "share": round(reached / len(responses), 4) if responses else None,
        }
    return out


@dataclass(frozen=True, slots=True)
class IncidentFigures:
    """One incident as the reports see it: where, when, how urgent, and its intervals."""

    id: int
    number: str
    received_at: datetime
    priority: int
    kecamatan: str
    kelurahan: str
    status: str
    intervals: dict[str, float | None]


def incidents_for_report(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    priority: int | None = None,
    kecamatan: str | None = None,
) -> QuerySet[Incident]:
    """The incidents a report counts: received in [since, until), not cancelled, optionally one priority or
    kecamatan ("-" = outside any kecamatan), oldest first."""
    incidents = Incident.objects.prefetch_related("assignments").exclude(status="cancelled")
    if since is not None:
        incidents = incidents.filter(received_at__gte=since)
    if until is not None:
        incidents = incidents.filter(received_at__lt=until)
    if priority is not None:
        incidents = incidents.filter(priority=priority)
    if kecamatan:
        incidents = incidents.filter(kecamatan="" if kecamatan == "-" else kecamatan)
    return incidents.order_by("received_at", "id")


def incident_figures(incidents: Iterable[Incident]) -> Iterator[IncidentFigures]:
    for incident in incidents:
        yield IncidentFigures(
            id=incident.id,
            number=incident.number or "",
            received_at=incident.received_at,
            priority=incident.priority,
            kecamatan=incident.kecamatan or "-",
            kelurahan=incident.kelurahan or "",
            status=incident.status,
            intervals=incident_intervals(incident, list(incident.assignments.all())),
        )


def figures_summary(rows: Iterable[IncidentFigures]) -> dict[str, Any]:
    """The report's body from incident rows: overall, by priority, by kecamatan, by day, a histogram of
    response times and the share of priority-1 incidents reached within each target."""
    overall: dict[str, list[float]] = defaultdict(list)
    by_priority: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_kecamatan: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_day: dict[date, list[float]] = defaultdict(list)
    p1_responses: list[float] = []
    count = 0
    for row in rows:
        count += 1
        for name, value in row.intervals.items():
            if value is None:
                continue
            overall[name].append(value)
            by_priority[str(row.priority)][name].append(value)
            by_kecamatan[row.kecamatan][name].append(value)
        response = row.intervals["response"]
        if response is not None:
            by_day[timezone.localtime(row.received_at).date()].append(response)
            if row.priority == 1:
                p1_responses.append(response)

    def table(groups: dict[str, list[float]]) -> dict[str, Any]:
        return {name: interval_figures(groups.get(name, [])) for name in INTERVALS}

    return {
        "incidents": count,
        "unit": "seconds",
        "overall": table(overall),
        "by_priority": {k: table(v) for k, v in sorted(by_priority.items())},
        "by_kecamatan": {k: table(v) for k, v in sorted(by_kecamatan.items())},
        "priority_1_within": within_targets(p1_responses),
        "daily": [
            {"date": day.isoformat(), **interval_figures(values)} for day, values in sorted(by_day.items())
        ],
        "histogram": response_histogram(overall.get("response", [])),
    }


def response_histogram(responses: list[float]) -> list[dict[str, Any]]:
    """Counts of response times in bins of HISTOGRAM_BIN_MINUTES; the last bin is open-ended."""
    edges = list(range(0, HISTOGRAM_LAST_MINUTES + 1, HISTOGRAM_BIN_MINUTES))
    counts = [0] * len(edges)
    for seconds in responses:
        index = min(int(seconds // (HISTOGRAM_BIN_MINUTES * 60)), len(edges) - 1)
        counts[index] += 1
    return [
        {"from_min": low, "to_min": low + HISTOGRAM_BIN_MINUTES if i < len(edges) - 1 else None, "count": n}
        for i, (low, n) in enumerate(zip(edges, counts, strict=True))
    ]


def response_time_report(
    *,
    since: datetime | None,
    until: datetime | None,
    priority: int | None = None,
    kecamatan: str | None = None,
) -> dict[str, Any]:
    """Counts, mean, median and p90 of each interval, by priority and kecamatan, for the filtered incidents."""
    rows = incident_figures(
        incidents_for_report(since=since, until=until, priority=priority, kecamatan=kecamatan)
    )
    return {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "filters": {"priority": priority, "kecamatan": kecamatan or None},
        **figures_summary(rows),
    }


CSV_COLUMNS = (
    "number",
    "received_at",
    "priority",
    "kecamatan",
    "kelurahan",
    "status",
    *(f"{n}_s" for n in INTERVALS),
)


def csv_rows(rows: Iterable[IncidentFigures]) -> Iterator[list[str]]:
    """The CSV export: a header, then one line per incident (seconds with one decimal, blank when unknown)."""
    yield list(CSV_COLUMNS)
    for row in rows:
        yield [
            row.number,
            timezone.localtime(row.received_at).isoformat(),
            str(row.priority),
            row.kecamatan,
            row.kelurahan,
            row.status,
            *("" if row.intervals[n] is None else f"{row.intervals[n]:.1f}" for n in INTERVALS),
        ]
