"""The real stack under load, as clients see it: uvicorn (ASGI), a Celery worker, PostgreSQL and Redis, started by
tests/e2e/stack.start_stack against a throwaway database (BENCH_STACK_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/psc119_bench_stack: dropped, created and migrated here). Traffic goes to
127.0.0.1 only, bounded in count and time.

(b) latency from `POST /api/v1/calls/` to `assignment.created` on the crew's WebSocket, at a fixed call rate;
(c) the highest sustained call rate (stepped up) at which no call is lost and p99 stays under 1 s;
(d) unit positions accepted per second while a console WebSocket receives the fan-out, sent by POST or over
    the crew's own WebSocket (--transports);
(f) the floor under (c): the CPU that the stack's frameworks spend on the parts of one call's work that carry no
    business logic at all (an authenticated request answered 400 before any write, a Celery task that finds
    nothing to do), so that what a call costs can be set against what the stack cannot go below.

The fleet is the Malang demo posts with --units ambulances, one crew phone (WebSocket) each. A crew that gets an
assignment is taken off it again by a dispatcher's cancel (one request), so that units are free for the next
calls: that request is part of the load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bench_ranking_fleet import database_fresh, django_on

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/psc119_bench_stack"
SHARED_MALANG = Path(__file__).resolve().parents[2] / "shared" / "data" / "malang"
TARGETS = {"b_p50_ms": 50, "b_p99_ms": 250, "c_calls_per_s": 100, "d_positions_per_s": 2000}
TRANSPORTS = {"http": "HTTP", "ws": "websocket"}  # (d): how the crews send their fixes
POSITIONS_ANSWERS = ("positions.accepted", "positions.rejected")
# One phone sends one batch and returns how many positions were accepted, None when refused.
PositionsSend = Callable[[int, list[dict[str, Any]]], Awaitable[int | None]]


@dataclass
class Fixture:
    calltaker: str
    dispatcher: str
    crews: dict[int, str]  # unit id → crew token
    points: list[tuple[float, float]]


def fixture_build(units: int) -> Fixture:
    """Posts, units, users and tokens in the benchmark database; call places drawn inside the kelurahan."""
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from accounts.models import Role
    from accounts.services import user_create
    from dispatch import simulation
    from dispatch.demo import demo_import_data

    call_command("migrate", verbosity=0, interactive=False)
    if SHARED_MALANG.exists():
        demo_import_data(SHARED_MALANG)
    else:  # a square around the centre stands in for the city's kelurahan
        from geo.models import Region

        Region.objects.create(kind="kelurahan", name="Pusat", geometry={"type": "Polygon", "coordinates": [[
            [112.60, -8.01], [112.66, -8.01], [112.66, -7.95], [112.60, -7.95], [112.60, -8.01]]]})  # fmt: skip
    world = simulation.world_build(units=units)

    def token(username: str, role: str, unit_id: int | None = None) -> str:
        user = user_create(username=username, role=role, password="bench-pass-1234", unit_id=unit_id)
        return Token.objects.create(user=user).key

    crews = {unit_id: token(f"crew-bench-{unit_id}", Role.CREW, unit_id) for unit_id in world.unit_posts}
    rng = random.Random(119)
    areas = simulation.demand_areas(data_dir=SHARED_MALANG if SHARED_MALANG.exists() else None)
    weights = [a.weight for a in areas]
    points = []
    for _ in range(2000):
        p = rng.choices(areas, weights=weights)[0].point(rng)
        points.append((p.lat, p.lon))
    return Fixture(
        token("calltaker-bench", Role.CALL_TAKER), token("dispatcher-bench", Role.DISPATCHER), crews, points
    )


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))], 1)


async def call_post(http: Any, fixture: Fixture, rng: Any, headers: dict[str, str], tally: Any) -> None:
    """POST one random call; `tally` (failed, posted, answered) records when it left and was answered."""
    lat, lon = rng.choice(fixture.points)
    body = {"caller_phone": f"0812{rng.randrange(10**7, 10**8)}", "complaint": "bench: sesak napas",
            "priority": rng.choice((1, 2, 2, 3)), "location": {"lat": lat, "lon": lon},
            "client_id": str(uuid.uuid4())}  # fmt: skip
    began = time.perf_counter()
    try:
        answer = await http.post("/api/v1/calls/", json=body, headers=headers)
    except Exception:
        tally.failed += 1
        return
    if answer.status_code != 201:
        tally.failed += 1
        return
    incident_id = answer.json()["incident"]["id"]
    tally.posted[incident_id] = began
    tally.answered[incident_id] = time.perf_counter()


@dataclass
class Load:
    """One load step's bookkeeping: when each call was posted and when its crew heard of it."""

    posted: dict[int, float] = field(default_factory=dict)  # incident id → POST start
    arrived: dict[int, float] = field(
        default_factory=dict
    )  # incident id → assignment.created on a crew phone
    answered: dict[int, float] = field(default_factory=dict)  # incident id → POST answered
    failed: int = 0
    sent: int = 0

    def latencies_ms(self) -> list[float]:
        return [(self.arrived[i] - t) * 1000 for i, t in self.posted.items() if i in self.arrived]


@dataclass
class ConsoleTally:
    moved: int = 0  # unit.moved events the console was sent
    lags: list[float] = field(default_factory=list)  # seconds from a fix to its unit.moved, the first 20,000


class Client:
    def __init__(self, base_url: str, ws_url: str, fixture: Fixture, meter: CpuMeter | None = None) -> None:
        from bench.http import Http

        self.base_url, self.ws_url, self.fixture, self.meter = base_url, ws_url, fixture, meter
        self.http = Http(base_url, connections=256)
        self.load = Load()
        self.to_cancel: asyncio.Queue[int] = asyncio.Queue()
        self.tasks: list[asyncio.Task[Any]] = []
        self.rng = random.Random(7)

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Token {token}"}

    async def crew_phone(self, token: str, ready: asyncio.Event, counter: list[int]) -> None:
        from websockets.asyncio.client import connect

        async with connect(
            f"{self.ws_url}/ws/unit/", additional_headers=self.auth(token), max_queue=None
        ) as ws:
            await ws.recv()  # the snapshot
            counter[0] += 1
            if counter[0] == len(self.fixture.crews):
                ready.set()
            async for raw in ws:
                now = time.perf_counter()
                message = json.loads(raw)
                if message["type"] == "assignment.created":
                    incident_id = message["data"]["incident"]["id"]
                    self.load.arrived.setdefault(incident_id, now)
                    self.to_cancel.put_nowait(incident_id)

    async def canceller(self) -> None:
        """The dispatcher takes each crew off its job again, so that the fleet stays free for the next calls."""
        headers = self.auth(self.fixture.dispatcher)
        in_flight: set[asyncio.Task[Any]] = set()
        while True:
            incident_id = await self.to_cancel.get()
            url = f"/api/v1/incidents/{incident_id}/cancel/"
            task = asyncio.create_task(self.http.post(url, json={"reason": "bench"}, headers=headers))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)

    async def start(self) -> None:
        ready, counter = asyncio.Event(), [0]
        for token in self.fixture.crews.values():
            self.tasks.append(asyncio.create_task(self.crew_phone(token, ready, counter)))
        self.tasks.append(asyncio.create_task(self.canceller()))
        await asyncio.wait_for(ready.wait(), 60)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.aclose()

    async def one_call(self, load: Load) -> None:
        await call_post(self.http, self.fixture, self.rng, self.auth(self.fixture.calltaker), load)

    async def calls_at(self, rate: float, seconds: float, grace: float = 10.0) -> dict[str, Any]:
        """Open loop: call i leaves at i/rate whatever the answers; then wait up to `grace` for stragglers."""
        load = self.load = Load()
        cpu_before = self.meter.snapshot() if self.meter else None
        client_before = time.process_time()
        sessions_before = self.meter.sessions() if self.meter else 0
        count = max(1, round(rate * seconds))
        start = time.perf_counter()
        pending = []
        for i in range(count):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(self.one_call(load)))
            load.sent += 1
        await asyncio.gather(*pending)
        deadline = time.perf_counter() + grace
        while time.perf_counter() < deadline and len(load.arrived.keys() & load.posted.keys()) < len(
            load.posted
        ):
            await asyncio.sleep(0.05)
        wall = time.perf_counter() - start
        await asyncio.sleep(1.0)  # the last cancels land
        cpu = CpuMeter.spent(cpu_before, self.meter.snapshot()) if self.meter and cpu_before else {}
        cpu["bench client"] = time.process_time() - client_before  # this process: HTTP, 25 crew sockets
        # minus the meter's own two connections
        sessions = (self.meter.sessions() - sessions_before - 2) if self.meter else 0
        latencies = load.latencies_ms()
        posts = [(load.answered[i] - t) * 1000 for i, t in load.posted.items()]
        lost = load.sent - len(latencies)
        return {
            "rate": rate, "seconds": seconds, "sent": load.sent, "failed_posts": load.failed, "lost": lost,
            "achieved_rate": round(load.sent / max(wall - grace, seconds), 1),
            "p50_ms": _percentile(latencies, 0.50), "p90_ms": _percentile(latencies, 0.90),
            "p99_ms": _percentile(latencies, 0.99), "max_ms": round(max(latencies), 1) if latencies else None,
            "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
            "post_p50_ms": _percentile(posts, 0.50), "post_p99_ms": _percentile(posts, 0.99),
            # CPU per call (its POST, its dispatch, the cancel that frees the unit, the broadcasts), by process
            "cpu_ms_per_call": {k: round(v * 1000 / max(load.sent, 1), 1) for k, v in cpu.items()},
            "pg_sessions_per_call": round(sessions / max(load.sent, 1), 2),
        }  # fmt: skip

    async def floor(self, seconds: float, concurrency: int, env: dict[str, str]) -> dict[str, Any]:
        """(f) CPU per authenticated request refused as invalid, and per Celery task that finds nothing to do."""
        headers = self.auth(self.fixture.calltaker)
        body = {"caller_phone": "081234567890", "complaint": "bench", "priority": 9}  # 400: priority
        stop_at, answered, wrong = time.perf_counter() + seconds, [0], [0]

        async def caller() -> None:
            while time.perf_counter() < stop_at:
                answer = await self.http.post("/api/v1/calls/", json=body, headers=headers)
                answered[0] += 1
                wrong[0] += answer.status_code != 400

        cpu_before, client_before = self.meter.snapshot() if self.meter else None, time.process_time()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        request_cpu = CpuMeter.spent(cpu_before, self.meter.snapshot()) if self.meter and cpu_before else {}
        request_cpu["bench client"] = time.process_time() - client_before
        tasks = max(1, round(seconds * 100))
        task_cpu = await asyncio.to_thread(self._floor_tasks, tasks, env)
        per_request = {k: round(v * 1000 / max(answered[0], 1), 2) for k, v in request_cpu.items()}
        per_task = {k: round(v * 1000 / tasks, 2) for k, v in task_cpu.items()}
        # One call's work in (b) and (c): two requests (the POST, the cancel) and one task (the dispatch), on the
        # server's side (the benchmark's own client is not the stack's cost).
        server = {k: v for k, v in per_request.items() if k != "bench client"}
        per_call = round(2 * sum(server.values()) + sum(per_task.values()), 1)
        return {
            "requests": answered[0], "unexpected_answers": wrong[0], "tasks": tasks,
            "cpu_ms_per_request": per_request, "cpu_ms_per_task": per_task,
            "cpu_ms_per_call_floor": per_call, "calls_per_s_ceiling_2_cores": round(2000 / per_call, 1),
        }  # fmt: skip

    def _floor_tasks(self, count: int, env: dict[str, str]) -> dict[str, float]:
        """`count` serve_queue tasks with nothing waiting, sent to the stack's worker; CPU until the queue is empty
        and the last has run."""
        import redis
        from celery import Celery

        app = Celery(broker=env["CELERY_BROKER_URL"])
        queue = env["CELERY_QUEUE"]  # sent without a priority, so they wait in the queue's own list
        broker = redis.Redis.from_url(env["CELERY_BROKER_URL"])
        try:
            before = self.meter.snapshot() if self.meter else None
            for _ in range(count):
                app.send_task("dispatch.tasks.serve_queue", queue=queue)
            deadline = time.perf_counter() + 120
            while broker.llen(queue) and time.perf_counter() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # the last ones taken off the queue finish
            return CpuMeter.spent(before, self.meter.snapshot()) if self.meter and before else {}
        finally:
            broker.close()
            app.close()

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every unit is free again (the cancels have landed)."""
        headers = self.auth(self.fixture.dispatcher)
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            units = (await self.http.get("/api/v1/units/", headers=headers)).json()
            if all(u["active_assignment"] is None for u in units):
                return
            await asyncio.sleep(0.25)

    def crews_for(self, concurrency: int) -> list[tuple[int, str]]:
        """(unit id, crew token) of each of `concurrency` phones; with more phones than units, some share one."""
        crews = list(self.fixture.crews.items())
        return [crews[k % len(crews)] for k in range(concurrency)]

    async def positions(self, seconds: float, concurrency: int, batch: int, transport: str) -> dict[str, Any]:
        """Crews send positions as fast as they are accepted, one batch in flight per phone, over HTTP or over
        their open WebSocket; a console counts the unit.moved events it is sent."""
        async with contextlib.AsyncExitStack() as sockets:
            if transport == "ws":
                send = await self.positions_over_ws(concurrency, sockets)
            else:
                send = self.positions_over_http(concurrency)
            return await self.positions_run(seconds, concurrency, batch, transport, send)

    def positions_over_http(self, concurrency: int) -> PositionsSend:
        crews = self.crews_for(concurrency)

        async def send(k: int, fixes: list[dict[str, Any]]) -> int | None:
            unit_id, token = crews[k]
            answer = await self.http.post(f"/api/v1/units/{unit_id}/positions/", json={"positions": fixes},
                                          headers=self.auth(token))  # fmt: skip
            return answer.json()["accepted"] if answer.status_code == 202 else None

        return send

    async def positions_over_ws(self, concurrency: int, sockets: contextlib.AsyncExitStack) -> PositionsSend:
        """Each phone's stream is opened (and its snapshot read) before the clock starts: the app sends on a
        stream it already holds."""
        from websockets.asyncio.client import connect

        phones = []
        for _, token in self.crews_for(concurrency):
            ws = await sockets.enter_async_context(
                connect(f"{self.ws_url}/ws/unit/", additional_headers=self.auth(token), max_queue=None)
            )
            await ws.recv()  # the snapshot
            phones.append(ws)
        numbers = itertools.count()

        async def send(k: int, fixes: list[dict[str, Any]]) -> int | None:
            ws, message_id = phones[k], f"bench-{k}-{next(numbers)}"
            await ws.send(json.dumps({"type": "positions", "id": message_id, "data": {"positions": fixes}}))
            # The answer comes in among the unit's own events (unit.moved, pongs): skip those, match by id.
            async with asyncio.timeout(30.0):
                async for raw in ws:
                    message = json.loads(raw)
                    if message["type"] in POSITIONS_ANSWERS and message["data"].get("id") == message_id:
                        ok = message["type"] == "positions.accepted"
                        return message["data"]["accepted"] if ok else None
            raise ConnectionError(f"the crew stream closed before answering {message_id}")

        return send

    async def positions_run(
        self, seconds: float, concurrency: int, batch: int, transport: str, send: PositionsSend
    ) -> dict[str, Any]:
        accepted, refused = [0], [0]
        seen = ConsoleTally()
        stop_at = float("inf")  # set when the crews start, after the console is in

        async def crew(k: int) -> None:
            rng = random.Random(k)
            while time.perf_counter() < stop_at:
                try:
                    count = await send(k, _fixes(rng, batch))
                except Exception:
                    refused[0] += batch
                    await asyncio.sleep(0.1)  # a dead link must not spin the loop the other phones share
                    continue
                if count is None:
                    refused[0] += batch
                else:
                    accepted[0] += count

        watcher = asyncio.create_task(self.console_moved(seen))
        await asyncio.sleep(0.5)
        cpu_before = self.meter.snapshot() if self.meter else None
        began = time.perf_counter()
        stop_at = began + seconds
        await asyncio.gather(*(crew(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - began
        cpu = CpuMeter.spent(cpu_before, self.meter.snapshot()) if self.meter and cpu_before else {}
        await asyncio.sleep(1.0)
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        lags_ms = [x * 1000 for x in seen.lags]
        return {
            "transport": transport, "seconds": round(elapsed, 1), "concurrency": concurrency, "batch": batch,
            "positions_accepted": accepted[0], "positions_refused": refused[0],
            # over WebSocket these are messages, not requests: the key stays so runs compare across transports
            "positions_per_s": round(accepted[0] / elapsed, 1), "requests_per_s": round(accepted[0] / batch / elapsed, 1),
            "console_unit_moved": seen.moved,
            "console_lag_p50_ms": _percentile(lags_ms, 0.5), "console_lag_p99_ms": _percentile(lags_ms, 0.99),
            "cpu_ms_per_position": {k: round(v * 1000 / max(accepted[0], 1), 2) for k, v in cpu.items()},
        }  # fmt: skip

    async def console_moved(self, seen: ConsoleTally) -> None:
        """A dispatcher's console, counting the unit.moved events it is sent and how late after the fix."""
        from datetime import datetime

        from websockets.asyncio.client import connect

        url = f"{self.ws_url}/ws/console/"
        async with connect(url, additional_headers=self.auth(self.fixture.dispatcher), max_queue=None) as ws:
            await ws.recv()
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "unit.moved":
                    seen.moved += 1
                    taken = message["data"].get("location_at")
                    if taken and len(seen.lags) < 20_000:
                        seen.lags.append(time.time() - datetime.fromisoformat(taken).timestamp())


def _fixes(rng: random.Random, batch: int) -> list[dict[str, Any]]:
    """`batch` fixes around the centre, the newest now: every batch is later than the last, so the unit moves."""
    now = time.time()
    return [{"lat": -7.98 + rng.uniform(-0.03, 0.03), "lon": 112.63 + rng.uniform(-0.03, 0.03),
             "at": _iso(now - (batch - j) * 0.001), "speed": 8.0} for j in range(batch)]  # fmt: skip


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if ppid == pid:
            child = int(stat.parent.name)
            found += [child, *_children(child)]
    return found


class CpuMeter:
    """CPU seconds spent by the stack's processes (web, worker, with their children) and by the PostgreSQL
    backends serving the benchmark database: the cost per call, whatever else the machine is doing."""

    def __init__(self, stack: Any, db_url: str) -> None:
        self.stack, self.db_url = stack, db_url

    def pids(self) -> dict[str, list[int]]:
        import psycopg

        out = {name: [p.pid, *_children(p.pid)] for name, p in self.stack.processes.items()}
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                "AND pid <> pg_backend_pid()").fetchall()  # fmt: skip
        out["postgres"] = [r[0] for r in rows]
        return out

    def sessions(self) -> int:
        """PostgreSQL sessions opened on the benchmark database so far."""
        import psycopg

        with psycopg.connect(self.db_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
        return int(row[0]) if row else 0

    def snapshot(self) -> dict[str, dict[int, float]]:
        return {name: {pid: _cpu_seconds(pid) for pid in pids} for name, pids in self.pids().items()}

    @staticmethod
    def spent(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
        return {name: sum(t - before.get(name, {}).get(pid, 0.0) for pid, t in pids.items())
                for name, pids in after.items()}  # fmt: skip


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat()


async def run_parts(stack: Any, fixture: Fixture, args: argparse.Namespace) -> dict[str, Any]:
    client = Client(stack.base_url, stack.ws_url, fixture, CpuMeter(stack, args.db_url))
    await client.start()
    out: dict[str, Any] = {}
    try:
        await client.calls_at(rate=5, seconds=2)  # warm every process up
        await client.settle()
        if "b" in args.parts:
            out["b"] = await client.calls_at(rate=args.rate, seconds=args.seconds)
            await client.settle()
        if "c" in args.parts:
            steps = []
            for rate in [float(r) for r in args.steps.split(",")]:
                step = await client.calls_at(rate=rate, seconds=args.step_seconds)
                step["passed"] = step["lost"] == 0 and step["p99_ms"] is not None and step["p99_ms"] < 1000
                steps.append(step)
                print(f"  step {rate:g} calls/s: lost {step['lost']}, p50 {step['p50_ms']} ms, p99 {step['p99_ms']} ms",
                      flush=True)  # fmt: skip
                await client.settle()
                if not step["passed"]:
                    break
            passing = [s["rate"] for s in steps if s["passed"]]
            out["c"] = {"steps": steps, "highest_passing_rate": max(passing) if passing else 0}
        if "f" in args.parts:
            out["f"] = await client.floor(args.floor_seconds, args.concurrency, stack.env)
        if "d" in args.parts:
            # Transports alternate within each batch size, so that each pair is measured back to back.
            out["d"] = [
                await client.positions(args.positions_seconds, args.concurrency, b, t)
                for b in args.batches
                for t in args.transports
            ]
    finally:
        await client.stop()
    return out


def print_table(out: dict[str, Any], env: dict[str, Any]) -> None:
    print(f"Real stack: uvicorn x{env['web_workers']}, Celery worker concurrency {env['worker_concurrency']}, "
          f"PostgreSQL, Redis; {env['units']} units; travel times: {env['travel_times']}; "
          f"load average before {env['load_before']}")  # fmt: skip
    width = 66  # the longest (d) label
    print(f"{'measure':<{width}}{'result':>16}{'target':>12}")
    if "b" in out:
        b = out["b"]
        rows = [
            (
                f"(b) call → crew assignment.created, p50 at {b['rate']:g} calls/s",
                f"{b['p50_ms']} ms",
                "≤ 50 ms",
            ),
            (f"(b) same, p99 ({b['sent']} calls, {b['lost']} lost)", f"{b['p99_ms']} ms", "≤ 250 ms"),
        ]
        cpu = b.get("cpu_ms_per_call", {})
        label = "    CPU per call (ms): " + ", ".join(f"{k} {v}" for k, v in cpu.items())
        server = sum(v for k, v in cpu.items() if k != "bench client")
        rows.append((label, f"{server:.1f} ms", "(server)"))
        for label, value, target in rows:
            print(f"{label:<{width}}{value:>16}{target:>12}")
    if "c" in out:
        c = out["c"]
        print(
            f"{'(c) highest sustained rate, nothing lost, p99 < 1 s':<{width}}{c['highest_passing_rate']:>8g} calls/s{'≥ 100':>12}"
        )
    if "f" in out:
        f = out["f"]
        for label, cpu in (("(f) floor: authenticated POST answered 400", f["cpu_ms_per_request"]),
                           ("(f) floor: Celery task with nothing to do", f["cpu_ms_per_task"])):  # fmt: skip
            print(f"{label:<{width}}{sum(cpu.values()):>13.2f} ms{'(CPU)':>12}")
            detail = "    " + ", ".join(f"{k} {v}" for k, v in cpu.items())
            print(detail)
        if f["unexpected_answers"]:
            print(
                f"    NOT VALID: {f['unexpected_answers']} of {f['requests']} requests were not answered 400"
            )
        label = "(f) server floor of one call (2 requests + 1 task), its ceiling"
        print(
            f"{label:<{width}}{f['cpu_ms_per_call_floor']:>13g} ms{f['calls_per_s_ceiling_2_cores']:>6g} calls/s"
        )
    for d in out.get("d", []):
        transport = TRANSPORTS[d.get("transport", "http")]
        label = f"(d) positions accepted, batch {d['batch']}, {transport}, console connected"
        print(f"{label:<{width}}{d['positions_per_s']:>12g} /s{'≥ 2,000':>12}")
        unit = "messages" if d.get("transport") == "ws" else "requests"
        detail = f"    ({unit}/s, {d['positions_refused']} refused; unit.moved seen by the console)"
        print(f"{detail:<{width}}{d['requests_per_s']:>12g} /s{d['console_unit_moved']:>12}")


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench stack", description=__doc__)
    parser.add_argument("--parts", default="bcdf", help="which of b, c, d, f to run")
    parser.add_argument("--rate", type=float, default=10.0, help="(b) calls per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="(b) how long")
    parser.add_argument(
        "--steps", default="5,10,20,30,40,60,80,100,125,150", help="(c) call rates to step through"
    )
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--positions-seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=32, help="(d), (f) requests in flight at once")
    parser.add_argument("--floor-seconds", type=float, default=10.0, help="(f) how long")
    parser.add_argument("--batches", default="1,10,50", help="(d) positions per request, one run each")
    parser.add_argument("--transports", default="http,ws",
                        help="(d) how crews send positions: http (POST) and/or ws (their WebSocket), one run each")  # fmt: skip
    parser.add_argument("--units", type=int, default=25)
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument("--profile", default="", help="py-spy the web and worker processes into this folder")
    parser.add_argument("--road", choices=["osrm", "geodesic"], default="osrm" if SHARED_MALANG.exists() else "geodesic",
                        help="travel times: Malang's road network built from the shared data (as in production), "
                             "or the straight-line estimate")  # fmt: skip
    args, _ = parser.parse_known_args(argv)
    args.batches = [int(b) for b in args.batches.split(",")]
    args.transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    if not args.transports or set(args.transports) - TRANSPORTS.keys():
        parser.error(f"--transports: a comma-separated choice of {', '.join(TRANSPORTS)}")
    url = args.db_url = os.environ.get("BENCH_STACK_DATABASE_URL", DEFAULT_DB)
    database_fresh(url)
    django_on(url)
    fixture = fixture_build(args.units)
    from django.db import connections

    connections.close_all()
    from tests.e2e.stack import start_stack, stop_stack

    log_dir = Path(tempfile.mkdtemp(prefix="psc119-bench-stack-"))
    # uvicorn reads its worker count from WEB_CONCURRENCY; the harness starts the Celery worker with 2 processes.
    extra = {"WEB_CONCURRENCY": str(args.web_workers), "DISPATCH_ACK_TIMEOUT_SECONDS": "600"}
    travel_times = "geodesic"
    if args.road == "osrm":
        from bench.bench_routing import ROADS
        from geo.roadnet import network_build

        built = network_build(source=SHARED_MALANG / ROADS, data=log_dir / "osrm")
        # The stack runs the test settings, which take their engine from TEST_ROAD_ENGINE.
        extra |= {"TEST_ROAD_ENGINE": "osrm", "OSRM_DATA": str(log_dir / "osrm")}
        travel_times = f"osrm ({ROADS}, build {built.id})"
    env = {"web_workers": args.web_workers, "worker_concurrency": 2, "travel_times": travel_times, "units": args.units,
           "load_before": tuple(round(x, 2) for x in os.getloadavg())}  # fmt: skip
    stack = start_stack(db_url=url, log_dir=log_dir, extra_env=extra)
    profilers = _profile(stack, args.profile) if args.profile else []
    try:
        out = asyncio.run(run_parts(stack, fixture, args))
    finally:
        for p in profilers:
            p.wait(timeout=120)
        stop_stack(stack)
    env["load_after"] = tuple(round(x, 2) for x in os.getloadavg())
    print_table(out, env)
    return {"env": env, "targets": TARGETS, **out}


def _profile(stack: Any, folder: str) -> list[Any]:
    """py-spy every process of the stack (children included) for the length of the run."""
    import subprocess
    import sys

    Path(folder).mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    handles = []
    for name, process in stack.processes.items():
        handles.append(subprocess.Popen(
            [str(spy), "record", "--pid", str(process.pid), "--subprocesses", "--duration", os.environ.get("PROFILE_SECONDS", "40"),
             "--rate", "200", "--gil", "--format", "raw", "--output", f"{folder}/{name}.txt", "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
    return handles
