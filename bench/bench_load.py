"""A control room's hour under load: ten times Malang's busiest hour, then a burst, with every crew phone and
several consoles connected, on the real stack (uvicorn, a Celery worker, PostgreSQL, Redis) started by
tests/e2e/stack.start_stack against a throwaway database (BENCH_LOAD_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/psc119_bench_load: dropped, created and migrated here).

Malang's busiest hour brings about 6 calls; the steady phase runs ten times that (--calls-per-hour 60) for
--minutes. The burst then brings --burst calls in --burst-seconds (default: a whole such hour, 60 calls, in one
minute). Meanwhile every crew phone holds its WebSocket, posts a position every --position-seconds and taps its
assignment through acknowledged, en_route, on_scene and cleared (--tap-seconds apart), so units come free again;
--consoles dispatcher consoles hold theirs.

Checked: nothing lost (every call recorded; every incident reaches a crew and every console; none left pending;
no unit or incident assigned twice) and call → crew `assignment.created` p99 ≤ 250 ms. Traffic goes to 127.0.0.1
only and is bounded in count and time. The demo default takes about two minutes; the full run:

    python -m bench load --minutes 10 --burst 60 --burst-seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.bench_ranking_fleet import database_fresh, django_on
from bench.bench_stack import Fixture, call_post, fixture_build

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/psc119_bench_load"
TARGETS = {"crew_p99_ms": 250, "lost": 0}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TAPS = ("acknowledged", "en_route", "on_scene", "cleared")


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))], 1)


def _loopback_only(*urls: str) -> None:
    for url in urls:
        host = urlsplit(url).hostname or ""
        if host not in LOOPBACK:
            raise SystemExit(f"refusing to load {host!r}: this benchmark targets 127.0.0.1 only")


@dataclass
class Phase:
    name: str
    posted: dict[int, float] = field(default_factory=dict)  # incident id → POST began
    answered: dict[int, float] = field(default_factory=dict)  # incident id → POST answered
    sent: int = 0
    failed: int = 0


@dataclass
class Seen:
    """When each incident's assignment reached a crew phone and each console (first arrival)."""

    crew: dict[int, float] = field(default_factory=dict)
    consoles: list[dict[int, float]] = field(default_factory=list)
    taps: int = 0
    taps_failed: int = 0
    positions: int = 0
    positions_failed: int = 0
    reconnects: int = 0


class ControlRoom:
    def __init__(self, base_url: str, ws_url: str, fixture: Fixture, args: argparse.Namespace) -> None:
        from bench.http import Http

        self.base_url, self.ws_url, self.fixture, self.args = base_url, ws_url, fixture, args
        self.http = Http(base_url, connections=128)
        self.seen = Seen(consoles=[{} for _ in range(args.consoles)])
        self.tasks: list[asyncio.Task[Any]] = []
        self.rng = random.Random(119)
        self.ready = 0

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Token {token}"}

    async def _stream(self, path: str, token: str, on_message: Any) -> None:
        """Hold a stream; after a drop, reconnect with ?since= as the screens do."""
        from websockets.asyncio.client import connect

        last: int | None = None
        first = True
        while True:
            url = f"{self.ws_url}{path}" + (f"?since={last}" if last is not None else "")
            try:
                async with connect(url, additional_headers=self.auth(token), max_queue=None) as ws:
                    async for raw in ws:
                        message = json.loads(raw)
                        last = message.get("seq", last)
                        if message["type"] == "snapshot" and first:
                            first = False
                            self.ready += 1
                        await on_message(message, time.perf_counter())
            except Exception:  # any drop (refused, reset, closed, timed out): reconnect
                self.seen.reconnects += 1
                await asyncio.sleep(0.5)

    async def crew_phone(self, unit_id: int, token: str) -> None:
        async def on_message(message: dict[str, Any], at: float) -> None:
            if message["type"] == "assignment.created":
                self.seen.crew.setdefault(message["data"]["incident"]["id"], at)
                self.tasks.append(asyncio.create_task(self.crew_taps(message["data"]["id"], token)))

        await self._stream("/ws/unit/", token, on_message)

    async def crew_taps(self, assignment_id: int, token: str) -> None:
        for status in TAPS:
            await asyncio.sleep(self.args.tap_seconds)
            try:
                answer = await self.http.post(f"/api/v1/assignments/{assignment_id}/status/",
                                              json={"status": status, "client_id": str(uuid.uuid4())},
                                              headers=self.auth(token))  # fmt: skip
                ok = answer.status_code == 200
            except Exception:
                ok = False
            self.seen.taps += 1
            self.seen.taps_failed += 0 if ok else 1

    async def crew_positions(self, unit_id: int, token: str) -> None:
        rng = random.Random(unit_id)
        lat, lon = self.rng.choice(self.fixture.points)
        await asyncio.sleep(rng.uniform(0, self.args.position_seconds))
        while True:
            lat, lon = lat + rng.uniform(-0.001, 0.001), lon + rng.uniform(-0.001, 0.001)
            fix = {"lat": lat, "lon": lon, "at": datetime.now(UTC).isoformat(), "speed": 8.0}
            try:
                answer = await self.http.post(f"/api/v1/units/{unit_id}/positions/", json={"positions": [fix]},
                                              headers=self.auth(token))  # fmt: skip
                ok = answer.status_code == 202
            except Exception:
                ok = False
            self.seen.positions += 1
            self.seen.positions_failed += 0 if ok else 1
            await asyncio.sleep(self.args.position_seconds)

    async def console(self, k: int) -> None:
        arrived = self.seen.consoles[k]

        async def on_message(message: dict[str, Any], at: float) -> None:
            if message["type"] == "assignment.created":
                arrived.setdefault(message["data"]["incident"]["id"], at)

        await self._stream("/ws/console/", self.fixture.dispatcher, on_message)

    async def start(self) -> None:
        for unit_id, token in self.fixture.crews.items():
            self.tasks.append(asyncio.create_task(self.crew_phone(unit_id, token)))
            self.tasks.append(asyncio.create_task(self.crew_positions(unit_id, token)))
        for k in range(self.args.consoles):
            self.tasks.append(asyncio.create_task(self.console(k)))
        wanted = len(self.fixture.crews) + self.args.consoles
        deadline = time.perf_counter() + 60
        while self.ready < wanted:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"only {self.ready} of {wanted} streams connected")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.aclose()

    async def one_call(self, phase: Phase) -> None:
        await call_post(self.http, self.fixture, self.rng, self.auth(self.fixture.calltaker), phase)

    async def calls(self, phase: Phase, count: int, seconds: float) -> None:
        """Open loop: call i leaves at i x seconds/count, whatever the answers."""
        start = time.perf_counter()
        pending = []
        for i in range(count):
            delay = start + i * seconds / max(count, 1) - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(self.one_call(phase)))
            phase.sent += 1
        await asyncio.gather(*pending)
        # The phase lasts its whole length, however few calls it brings.
        await asyncio.sleep(max(0.0, start + seconds - time.perf_counter()))

    async def settle(self, phases: list[Phase], timeout: float) -> None:
        wanted = {i for p in phases for i in p.posted}
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if wanted <= self.seen.crew.keys() and all(wanted <= c.keys() for c in self.seen.consoles):
                return
            await asyncio.sleep(0.1)

    async def audit(self, phases: list[Phase]) -> dict[str, Any]:
        """What the server holds afterwards, read as a dispatcher would."""
        answer = await self.http.get("/api/v1/incidents/", params={"limit": 1000},
                                     headers=self.auth(self.fixture.dispatcher))  # fmt: skip
        incidents = {i["id"]: i for i in answer.json()}
        ours = {i for p in phases for i in p.posted}
        missing = sorted(ours - incidents.keys())
        pending = sorted(i for i in ours & incidents.keys() if incidents[i]["status"] == "pending")
        assigned_twice = sorted(i for i in ours & incidents.keys() if len(incidents[i]["assignments"]) > 1)
        active_by_unit: dict[int, int] = {}
        for incident in incidents.values():
            for a in incident["assignments"]:
                if a["status"] not in ("cleared", "declined", "expired", "cancelled"):
                    unit = a["unit"]["id"] if isinstance(a["unit"], dict) else a["unit"]
                    active_by_unit[unit] = active_by_unit.get(unit, 0) + 1
        return {
            "missing_incidents": missing,
            "pending_incidents": pending,
            "incidents_assigned_twice": assigned_twice,
            "units_with_two_active": sorted(u for u, n in active_by_unit.items() if n > 1),
        }


def _figures(phase: Phase, seen: Seen) -> dict[str, Any]:
    crew = [(seen.crew[i] - t) * 1000 for i, t in phase.posted.items() if i in seen.crew]
    console = [(c[i] - t) * 1000 for c in seen.consoles for i, t in phase.posted.items() if i in c]
    posts = [(phase.answered[i] - t) * 1000 for i, t in phase.posted.items()]
    not_at_crew = len(phase.posted) - len(crew)
    not_at_consoles = sum(1 for c in seen.consoles for i in phase.posted if i not in c)
    return {
        "calls_sent": phase.sent,
        "calls_failed": phase.failed,
        "lost": phase.failed + not_at_crew + not_at_consoles,
        "crew_p50_ms": _percentile(crew, 0.50),
        "crew_p99_ms": _percentile(crew, 0.99),
        "crew_max_ms": round(max(crew), 1) if crew else None,
        "console_p99_ms": _percentile(console, 0.99),
        "post_p99_ms": _percentile(posts, 0.99),
    }


async def run(stack: Any, fixture: Fixture, args: argparse.Namespace) -> dict[str, Any]:
    room = ControlRoom(stack.base_url, stack.ws_url, fixture, args)
    await room.start()
    phases = [Phase("steady"), Phase("burst")]
    try:
        # One call first, not counted, so that no phase measures the processes' first-request warm-up.
        warm = Phase("warm-up")
        await room.calls(warm, 1, 1.0)
        await room.settle([warm], timeout=30)
        began = time.perf_counter()
        steady_count = max(1, round(args.calls_per_hour * args.minutes / 60))
        await room.calls(phases[0], steady_count, args.minutes * 60)
        await room.calls(phases[1], args.burst, args.burst_seconds)
        await room.settle(phases, timeout=60)
        # The crews finish their taps before the audit reads the record.
        await asyncio.sleep(len(TAPS) * args.tap_seconds + 1)
        audit = await room.audit(phases)
        wall = time.perf_counter() - began
    finally:
        await room.stop()
    seen = room.seen
    return {
        "steady": _figures(phases[0], seen),
        "burst": _figures(phases[1], seen),
        "audit": audit,
        "crews": len(fixture.crews),
        "consoles": args.consoles,
        "taps": seen.taps,
        "taps_failed": seen.taps_failed,
        "positions": seen.positions,
        "positions_failed": seen.positions_failed,
        "stream_reconnects": seen.reconnects,
        "wall_s": round(wall, 1),
    }


def print_table(out: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"{out['crews']} crew phones (positions every {args.position_seconds:g} s, taps {args.tap_seconds:g} s "
          f"apart), {out['consoles']} consoles; {out['wall_s']} s")  # fmt: skip
    print(
        f"{'phase':<44}{'calls':>7}{'lost':>6}{'crew p50':>10}{'crew p99':>10}{'console p99':>13}{'POST p99':>10}"
    )
    for name, label in (("steady", f"steady: {args.calls_per_hour:g}/h for {args.minutes:g} min"),
                        ("burst", f"burst: {args.burst} calls in {args.burst_seconds:g} s")):  # fmt: skip
        f = out[name]
        print(f"{label:<44}{f['calls_sent']:>7}{f['lost']:>6}{f['crew_p50_ms']!s:>10}{f['crew_p99_ms']!s:>10}"
              f"{f['console_p99_ms']!s:>13}{f['post_p99_ms']!s:>10}")  # fmt: skip
    audit = out["audit"]
    print(f"audit: missing {len(audit['missing_incidents'])}, pending {len(audit['pending_incidents'])}, "
          f"assigned twice {len(audit['incidents_assigned_twice'])}, units with two active "
          f"{len(audit['units_with_two_active'])}; taps {out['taps']} ({out['taps_failed']} failed), positions "
          f"{out['positions']} ({out['positions_failed']} failed), stream reconnects {out['stream_reconnects']}")  # fmt: skip
    print(f"load average before/after {out['load_average']['before']} / {out['load_average']['after']} on "
          f"{out['cpus']} cores")  # fmt: skip
    print(
        f"verdict: {'PASS' if out['passed'] else 'FAIL'} (nothing lost, call → crew p99 ≤ {TARGETS['crew_p99_ms']} ms)"
    )


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument(
        "--minutes", type=float, default=1.0, help="steady phase length (10 for the full run)"
    )
    parser.add_argument("--calls-per-hour", type=float, default=60.0, help="steady rate: 10 x Malang's ~6")
    parser.add_argument("--burst", type=int, default=30, help="calls in the burst")
    parser.add_argument("--burst-seconds", type=float, default=30.0)
    parser.add_argument("--units", type=int, default=25, help="ambulances, each with a crew phone")
    parser.add_argument("--consoles", type=int, default=4)
    parser.add_argument("--position-seconds", type=float, default=10.0)
    parser.add_argument("--tap-seconds", type=float, default=1.5)
    args, _ = parser.parse_known_args(argv)
    if not (0 < args.minutes <= 30 and 0 <= args.burst <= 600 and 0 < args.burst_seconds <= 600):
        raise SystemExit("bounded: --minutes in (0, 30], --burst in [0, 600], --burst-seconds in (0, 600]")
    url = os.environ.get("BENCH_LOAD_DATABASE_URL", DEFAULT_DB)
    redis_url = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/13")
    _loopback_only(url, redis_url)
    database_fresh(url)
    django_on(url)
    fixture = fixture_build(args.units)
    from django.db import connections

    connections.close_all()
    from tests.e2e.stack import start_stack, stop_stack

    extra = {"DISPATCH_ACK_TIMEOUT_SECONDS": "120"}
    for key in ("ROAD_ENGINE", "OSRM_DATA"):
        if os.environ.get(key):
            extra[key] = os.environ[key]
    stack = start_stack(
        db_url=url, log_dir=Path(tempfile.mkdtemp(prefix="psc119-bench-load-")), extra_env=extra
    )
    _loopback_only(stack.base_url)
    load_before = tuple(round(x, 2) for x in os.getloadavg())
    try:
        out = asyncio.run(run(stack, fixture, args))
    finally:
        stop_stack(stack)
    # On a shared machine the latencies mean little when this is far above the core count.
    out["load_average"] = {"before": load_before, "after": tuple(round(x, 2) for x in os.getloadavg())}
    out["cpus"] = os.cpu_count()
    lost = out["steady"]["lost"] + out["burst"]["lost"] + sum(len(v) for v in out["audit"].values())
    p99s = [out[p]["crew_p99_ms"] for p in ("steady", "burst") if out[p]["crew_p99_ms"] is not None]
    out["passed"] = lost == 0 and bool(p99s) and max(p99s) <= TARGETS["crew_p99_ms"]
    out["args"] = vars(args)
    out["targets"] = TARGETS
    print_table(out, args)
    return out
