"""(a) What choosing a unit costs as the fleet grows: the database query for the free units plus the ranking, as
auto-dispatch and the recommendations do it, for 10/25/100/250 units spread over Kota Malang.

Measured through dispatch.ranking and dispatch.policies against a throwaway PostgreSQL database
(BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/psc119_bench: dropped and created here), with
whatever geo answers: geodesic, and the road engine too when a network is built (OSRM_DATA or --osrm-data).
The engines themselves are compared in bench_routing; this is the dispatch-level cost around them.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/psc119_bench"
FLEETS = (10, 25, 100, 250)
# Kota Malang's bounding box (lon 112.569 to 112.694, lat -8.052 to -7.910), a little inside.
SOUTH, NORTH, WEST, EAST = -8.04, -7.92, 112.58, 112.68


def database_fresh(url: str) -> None:
    """Drop and create the benchmark database (never the configured one), then migrate it."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    if not name.startswith("psc119_bench"):
        raise SystemExit(f"refusing to drop {name!r}: benchmark databases are named psc119_bench*")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def django_on(url: str) -> None:
    """Set Django up on `url`, or point an already set-up process at it."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
        return
    import environ
    from django.db import connections

    connections["default"].close()
    if hasattr(connections["default"], "close_pool"):
        # A pool is kept per alias: it would go on serving the old database.
        connections["default"].close_pool()
    config = dict(connections.settings["default"])
    config.update(environ.Env.db_url_config(url))
    connections.settings["default"] = config
    del connections["default"]


def _timed(fn: Any, repeat: int) -> dict[str, float]:
    fn()  # warm: caches, snapping, prepared plans
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 2),
        "mean_ms": round(statistics.fmean(samples), 2),
    }


def measure(fleets: tuple[int, ...], repeat: int, incidents: int) -> list[dict[str, Any]]:
    from django.db import transaction

    from calls.models import Incident
    from dispatch import policies
    from dispatch.ranking import units_free_for, units_ranked_for
    from dispatch.selectors import units_with_assignment
    from fleet.models import Station, Unit
    from geo.routing import engine_name

    rng = random.Random(119)
    rows = []
    for size in fleets:
        with transaction.atomic():
            station = Station.objects.create(name=f"bench-{size}", lat=-7.9826, lon=112.6308)
            Unit.objects.bulk_create(
                Unit(call_sign=f"B{size}-{i:03d}", kind="als" if i % 2 else "bls", owner="psc", station=station,
                     lat=rng.uniform(SOUTH, NORTH), lon=rng.uniform(WEST, EAST), location_at=None)
                for i in range(size)
            )  # fmt: skip
            from django.utils import timezone

            Unit.objects.filter(station=station).update(location_at=timezone.now())
            places = [
                Incident.objects.create(priority=1 + i % 2, complaint="bench", lat=rng.uniform(SOUTH, NORTH),
                                        lon=rng.uniform(WEST, EAST), received_at=timezone.now())
                for i in range(incidents)
            ]  # fmt: skip
            Unit.objects.exclude(station=station).update(status="out_of_service")
            turn = iter(range(10**9))

            def next_incident(places: list[Incident] = places, turn: Any = turn) -> Any:
                return places[next(turn) % len(places)]

            def query_only() -> None:
                list(units_free_for(next_incident()))

            def auto_dispatch_pick() -> None:
                # What incident_dispatch_auto does before claiming: free units, then the policy's first pick.
                incident = next_incident()
                next(iter(policies.units_ranked(incident, list(units_free_for(incident)))))

            def full_ranking() -> None:
                # What GET /incidents/{id}/recommendations/ does: every free unit ranked, with its assignment.
                incident = next_incident()
                units_ranked_for(
                    incident,
                    list(units_with_assignment().filter(pk__in=units_free_for(incident).values("pk"))),
                )

            row = {"units": size, "engine": engine_name()}
            for name, fn in (
                ("query", query_only),
                ("auto_pick", auto_dispatch_pick),
                ("full_ranking", full_ranking),
            ):
                row[name] = _timed(fn, repeat)
            rows.append(row)
            transaction.set_rollback(True)
    return rows


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench ranking_fleet", description=__doc__)
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", 60)))
    parser.add_argument(
        "--osrm-data", type=Path, default=None, help="a built road network (build_road_network)"
    )
    parser.add_argument("--fleets", default=",".join(map(str, FLEETS)))
    args, _ = parser.parse_known_args(argv)
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    database_fresh(url)
    django_on(url)
    from django.core.management import call_command
    from django.test.utils import override_settings

    from geo import routing

    call_command("migrate", verbosity=0, interactive=False)
    fleets = tuple(int(n) for n in args.fleets.split(","))
    osrm_data = args.osrm_data or (Path(os.environ["OSRM_DATA"]) if os.environ.get("OSRM_DATA") else None)
    engines: list[tuple[str, dict[str, Any]]] = [("geodesic", {"ROAD_ENGINE": ""})]
    if osrm_data is not None and (osrm_data / "current").exists():
        engines.append(("osrm", {"ROAD_ENGINE": "osrm", "OSRM_DATA": str(osrm_data)}))
    results: list[dict[str, Any]] = []
    from django.conf import settings

    for label, geo in engines:
        with override_settings(GEO={**settings.GEO, **geo}):
            routing.road_engine.cache_clear()
            for row in measure(fleets, args.repeat, incidents=20):
                results.append({**row, "engine": label if label == "geodesic" else row["engine"]})
    routing.road_engine.cache_clear()

    print(
        f"Ranking latency by fleet size ({args.repeat} repeats each; ms; PostgreSQL {url.rsplit('/', 1)[1]})"
    )
    print(
        f"{'engine':<10}{'units':>6}  {'query p50':>10}{'auto pick p50':>15}{'p95':>8}{'full rank p50':>15}{'p95':>8}"
    )
    for r in results:
        print(f"{r['engine']:<10}{r['units']:>6}  {r['query']['p50_ms']:>10}{r['auto_pick']['p50_ms']:>15}"
              f"{r['auto_pick']['p95_ms']:>8}{r['full_ranking']['p50_ms']:>15}{r['full_ranking']['p95_ms']:>8}")  # fmt: skip
    if len(engines) == 1:
        print("road engine: none built (pass --osrm-data DIR after build_road_network): geodesic only")
    return {"rows": results, "repeat": args.repeat, "load_average": os.getloadavg()}
