"""Faults on the real stack: a killed Celery worker, a restarted Redis, a restarted PostgreSQL, a stopped ASGI server.

Each test keeps a ledger of every call it posted and, after the fault, checks what matters to a control room:
every recorded call is there exactly once; every incident ends dispatched (there are more free units than calls,
so an incident still `pending` at the end is work that was lost); no unit and no incident holds two assignments;
and every WebSocket client, which reconnects with `?since=` whenever its link drops, has seen every event it may
see, in order, with nothing missing and nothing twice.

Each test runs its own stack (uvicorn, a Celery worker, and Celery beat sweeping every second) and, when it
restarts Redis or PostgreSQL, its own private server on a free port: the machine's shared servers are never
stopped or reconfigured. `make chaos` runs this file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from accounts.models import Role
from tests.e2e.stack import BIN, ROOT, Stack, database_url, free_port, start_stack, stop_stack
from tests.factories import StationFactory, UnitFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.timeout(240)]

# The sweeper runs every second; no assignment expires during a test (expiry would move incidents on by design).
FAULT_ENV = {
    "SWEEP_SECONDS": "1",
    "DISPATCH_STUCK_PENDING_SECONDS": "2",
    "DISPATCH_ACK_TIMEOUT_SECONDS": "900",
}
ACTIVE = ("assigned", "acknowledged", "en_route", "on_scene", "transporting", "at_hospital")
SETTLE_SECONDS = 60.0


# --- Processes -----------------------------------------------------------------------------------


def _spawn(stack: Stack, name: str, command: list[str]) -> None:
    """Start (or start again) one process of the stack, in its own process group, logging beside the others."""
    handle = (stack.log_dir / f"{name}.log").open("ab")
    stack.processes[name] = subprocess.Popen(
        command, cwd=ROOT, env=stack.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def _kill(stack: Stack, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
    process = stack.processes[name]
    os.killpg(process.pid, sig)
    process.wait(timeout=20)


def _worker(stack: Stack, generation: int) -> list[str]:
    queue = stack.env["CELERY_QUEUE"]
    return [str(BIN / "celery"), "-A", "config", "worker", "--loglevel", "WARNING", "--concurrency", "2",
            "--queues", queue, "--without-gossip", "--without-mingle", "-n", f"{queue}-{generation}@%h"]  # fmt: skip


def _beat(stack: Stack) -> list[str]:
    schedule = stack.log_dir / "celerybeat-schedule"
    return [str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "WARNING", "--schedule", str(schedule)]


def _web(stack: Stack) -> list[str]:
    port = stack.base_url.rsplit(":", 1)[1]
    return [str(BIN / "uvicorn"), "config.asgi:application", "--host", "127.0.0.1", "--port", port,
            "--lifespan", "off", "--no-access-log"]  # fmt: skip


def _wait_http(stack: Stack, path: str = "/healthz", timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(stack.base_url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{path} did not answer 200 in {timeout}s\n{stack.logs()}")


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        time.sleep(0.25)


def _free_port_dir() -> tuple[int, Path]:
    return free_port(), Path(tempfile.mkdtemp(prefix="psc119-fault-"))


class PrivateRedis:
    """A redis-server of our own on a free port, without persistence: a restart loses everything it held."""

    def __init__(self) -> None:
        self.port, self.dir = _free_port_dir()
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            stdout=(self.dir / "redis.log").open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        _wait(self._answers, 10, f"private redis on {self.port}")

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) on a free port, run as the `postgres` user when we are
    root. Nothing else uses it, so it can be crashed and restarted at will."""

    def __init__(self) -> None:
        self.port, self.dir = _free_port_dir()
        self.data = self.dir / "data"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/psc119"
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            pytest.skip("PostgreSQL server binaries (initdb) not found under /usr/lib/postgresql")
        self.bin = found[-1].parent
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_owner, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8")  # fmt: skip
        self.start()
        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE psc119")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "pg.log"),
                  "-w", "-t", "60", "start")  # fmt: skip

    def crash(self) -> None:
        """Stop without a checkpoint, as a crash does; the next start runs WAL recovery."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self.as_owner, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                            "-w", "stop"], capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(self.dir, ignore_errors=True)


# --- Clients -------------------------------------------------------------------------------------


@dataclass
class Posted:
    client_id: str
    body: dict[str, Any]
    status: int | None = None  # None: no answer at all
    incident: int | None = None


@dataclass
class Ledger:
    """Every call a test posted, with the answer it got."""

    client: httpx.Client
    posted: list[Posted] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, i: int) -> Posted:
        body = {
            "caller_phone": f"08123{i:07d}",
            "complaint": f"panggilan uji {i}",
            "priority": 2,
            "location": {
                "lat": round(-7.95 - (i % 10) * 0.004, 5),
                "lon": round(112.61 + (i // 10) * 0.004, 5),
            },
            "client_id": str(uuid.uuid4()),
        }
        entry = Posted(body["client_id"], body)
        with self.lock:
            self.posted.append(entry)
        self._send(entry)
        return entry

    def _send(self, entry: Posted) -> None:
        try:
            answer = self.client.post("/api/v1/calls/", json=entry.body)
        except httpx.HTTPError:
            entry.status = None
            return
        entry.status = answer.status_code
        if answer.status_code in (200, 201):
            entry.incident = answer.json()["incident"]["id"]

    def retry_unanswered(self, timeout: float = 30.0) -> int:
        """What a call-taker's screen does: send each unrecorded call again with the same client_id."""
        retried = 0
        deadline = time.monotonic() + timeout
        for entry in self.posted:
            while entry.status not in (200, 201):
                assert time.monotonic() < deadline, f"call {entry.client_id} never recorded: {entry.status}"
                retried += 1
                self._send(entry)
                if entry.status not in (200, 201):
                    time.sleep(0.5)
        return retried

    @property
    def recorded(self) -> list[Posted]:
        return [p for p in self.posted if p.status in (200, 201)]


class Follower(threading.Thread):
    """A console or crew phone: keeps a stream open, and after any drop reconnects with `?since=<last seq>`."""

    def __init__(self, stack: Stack, path: str, token: str, unit_id: int | None = None) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.unit_id = f"{stack.ws_url}{path}", token, unit_id
        self.events: list[dict[str, Any]] = []
        self.snapshots: list[int] = []
        self.connections = 0
        self.last: int | None = None
        self.stopping = threading.Event()
        self.connected = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            url = self.url if self.last is None else f"{self.url}?since={self.last}"
            try:
                with connect(url, additional_headers={"Authorization": f"Token {self.token}"},
                             open_timeout=3) as ws:  # fmt: skip
                    self.connections += 1
                    self.connected.set()
                    while not self.stopping.is_set():
                        try:
                            self._take(json.loads(ws.recv(timeout=0.5)))
                        except TimeoutError:
                            continue
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError):
                self.connected.clear()
                time.sleep(0.3)

    def _take(self, message: dict[str, Any]) -> None:
        if message["type"] == "snapshot":
            self.snapshots.append(message["seq"])
            self.last = message["seq"]
        elif message["type"] != "pong":
            self.events.append(message)
            self.last = message["seq"]

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)


def _start_followers(stack: Stack, console_token: str, crews: list[tuple[int, str]]) -> list[Follower]:
    followers = [Follower(stack, "/ws/console/", console_token)]
    followers += [Follower(stack, "/ws/unit/", token, unit_id) for unit_id, token in crews]
    for follower in followers:
        follower.start()
    for follower in followers:
        assert follower.connected.wait(15), f"{follower.url} never connected"
    _wait(lambda: all(f.snapshots for f in followers), 15, "snapshots")
    return followers


# --- What must hold after every fault --------------------------------------------------------------


def _sql(db_url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url, connect_timeout=5) as conn:
        return conn.execute(query, params).fetchall()


def _pending(db_url: str, incident_ids: list[int]) -> list[int]:
    rows = _sql(
        db_url, "SELECT id FROM calls_incident WHERE id = ANY(%s) AND status = 'pending'", incident_ids
    )
    return [r[0] for r in rows]


def _assert_nothing_lost(db_url: str, ledger: Ledger, *, timeout: float = SETTLE_SECONDS) -> dict[str, Any]:
    """Every recorded call once, every incident dispatched, no unit or incident assigned twice."""
    recorded = ledger.recorded
    assert len(recorded) == len(ledger.posted), "some calls were never recorded"
    incident_ids = sorted({p.incident for p in recorded if p.incident is not None})
    started = time.monotonic()
    _wait(lambda: not _pending(db_url, incident_ids), timeout,
          f"incidents still pending though units are free: {_pending(db_url, incident_ids)}")  # fmt: skip
    settle = time.monotonic() - started

    client_ids = [p.client_id for p in ledger.posted]
    calls = _sql(db_url, "SELECT client_id::text, incident_id FROM calls_call WHERE client_id::text = ANY(%s)",
                 client_ids)  # fmt: skip
    by_client: dict[str, list[int]] = {}
    for client_id, incident_id in calls:
        by_client.setdefault(client_id, []).append(incident_id)
    lost = [c for c in client_ids if c not in by_client]
    doubled = {c: v for c, v in by_client.items() if len(v) > 1}
    assert not lost, f"recorded calls missing from the database: {lost}"
    assert not doubled, f"calls stored twice: {doubled}"
    for entry in recorded:
        assert by_client[entry.client_id] == [entry.incident], entry

    statuses = dict(_sql(db_url, "SELECT id, status FROM calls_incident WHERE id = ANY(%s)", incident_ids))
    assert set(statuses) == set(incident_ids), "incidents missing"
    assert all(s == "dispatched" for s in statuses.values()), statuses
    two_units = _sql(db_url, "SELECT unit_id, count(*) FROM dispatch_assignment WHERE status = ANY(%s) "
                     "GROUP BY unit_id HAVING count(*) > 1", list(ACTIVE))  # fmt: skip
    assert not two_units, f"units with two active assignments: {two_units}"
    per_incident = dict(_sql(db_url, "SELECT incident_id, count(*) FROM dispatch_assignment "
                             "WHERE incident_id = ANY(%s) GROUP BY incident_id", incident_ids))  # fmt: skip
    twice = {i: n for i, n in per_incident.items() if n != 1}
    assert not twice, f"incidents assigned other than once: {twice}"
    return {"calls": len(recorded), "incidents": len(incident_ids), "settled_s": round(settle, 1)}


def _assert_caught_up(db_url: str, followers: list[Follower], timeout: float = 30.0) -> list[int]:
    """Each client has seen, in order and once each, every event after its first snapshot that it may see."""
    last = _sql(db_url, "SELECT coalesce(max(id), 0) FROM dispatch_event")[0][0]

    def expected(f: Follower) -> list[int]:
        where = "for_console" if f.unit_id is None else "unit_id = %s"
        params = () if f.unit_id is None else (f.unit_id,)
        rows = _sql(db_url, f"SELECT id FROM dispatch_event WHERE {where} AND id > %s AND id <= %s ORDER BY id",
                    *params, f.snapshots[0], last)  # fmt: skip
        return [r[0] for r in rows]

    wanted = {id(f): expected(f) for f in followers}
    _wait(lambda: all(not wanted[id(f)] or (f.last or 0) >= wanted[id(f)][-1] for f in followers), timeout,
          "clients catching up")  # fmt: skip
    for follower in followers:
        follower.stop()
    counts = []
    for follower in followers:
        seen = [m["seq"] for m in follower.events if m["seq"] <= last]
        assert seen == sorted(set(seen)), f"{follower.url}: out of order or twice"
        # A fresh snapshot (sent when `since` is too old) stands for everything before it.
        floor = follower.snapshots[-1] if len(follower.snapshots) > 1 else 0
        missing = [s for s in wanted[id(follower)] if s > floor and s not in set(seen)]
        assert not missing, f"{follower.url} missed events {missing[:20]} ({len(missing)})"
        counts.append(len(seen))
    return counts


# --- Fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def fault_stack(transactional_db, tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Starts stacks (web, worker, beat) on the test database; stops them before the database is flushed."""
    started: list[Stack] = []

    def start(db_url: str | None = None, **extra_env: str) -> Stack:
        url = db_url or database_url(connection.settings_dict)
        stack = start_stack(
            db_url=url, log_dir=tmp_path / f"stack{len(started)}", extra_env={**FAULT_ENV, **extra_env}
        )
        started.append(stack)
        _spawn(stack, "beat", _beat(stack))
        return stack

    yield start
    for stack in started:
        stop_stack(stack)


def _units(count: int) -> list[Any]:
    return [
        UnitFactory(call_sign=f"FLT-{i:02d}", station=StationFactory(lat=-7.95 - (i % 10) * 0.004,
                                                                     lon=112.61 + (i // 10) * 0.004))
        for i in range(count)
    ]  # fmt: skip


def _token(role: str, unit: Any = None) -> str:
    return Token.objects.get_or_create(user=UserFactory(role=role, unit=unit))[0].key


def _report(name: str, **figures: Any) -> None:
    print(f"\n[chaos] {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


# --- The faults ----------------------------------------------------------------------------------


def test_a_worker_killed_mid_dispatch_loses_no_call_and_assigns_none_twice(fault_stack):
    units = _units(28)
    stack = fault_stack()
    db_url = database_url(connection.settings_dict)
    followers = _start_followers(
        stack, _token(Role.DISPATCHER), [(u.pk, _token(Role.CREW, unit=u)) for u in units[:3]]
    )
    ledger = Ledger(stack.client(_token(Role.CALL_TAKER)))
    calls = 24

    def keep_calling() -> None:
        for i in range(calls):
            ledger.post(i)
            time.sleep(0.08)

    caller = threading.Thread(target=keep_calling)
    caller.start()
    # Kill as soon as the worker is busy assigning, with calls still arriving.
    _wait(lambda: len(ledger.recorded) >= 6 and bool(_sql(db_url, "SELECT 1 FROM dispatch_assignment LIMIT 1")),
          60, "first assignment")  # fmt: skip
    _kill(stack, "worker")
    killed_at = time.monotonic()
    recorded_at_kill = len(ledger.recorded)
    time.sleep(1.5)  # calls recorded while no worker runs wait in the queue
    _spawn(stack, "worker", _worker(stack, 2))
    caller.join(timeout=60)
    assert ledger.retry_unanswered() == 0, "a call was refused while the worker was dead"

    figures = _assert_nothing_lost(db_url, ledger)
    seen = _assert_caught_up(db_url, followers)
    _report("worker kill -9", recorded_at_kill=recorded_at_kill, **figures,
            recovered_s=round(time.monotonic() - killed_at, 1), events_seen=seen)  # fmt: skip


def test_calls_are_recorded_while_redis_is_down_and_dispatched_when_it_returns(fault_stack):
    redis_server = PrivateRedis()
    redis_server.start()
    try:
        units = _units(16)
        env = {"REDIS_URL": redis_server.url, "CELERY_BROKER_URL": redis_server.url,
               "TEST_CELERY_BROKER_URL": redis_server.url}  # fmt: skip
        stack = fault_stack(**env)
        db_url = database_url(connection.settings_dict)
        followers = _start_followers(
            stack, _token(Role.DISPATCHER), [(u.pk, _token(Role.CREW, unit=u)) for u in units[:3]]
        )
        ledger = Ledger(stack.client(_token(Role.CALL_TAKER)))
        for i in range(4):
            ledger.post(i)
        _wait(
            lambda: not _pending(db_url, [p.incident for p in ledger.recorded if p.incident]), 20, "dispatch"
        )

        redis_server.kill()
        slowest = 0.0
        for i in range(4, 12):
            started = time.monotonic()
            entry = ledger.post(i)
            slowest = max(slowest, time.monotonic() - started)
            assert entry.status == 201, f"a call posted while Redis is down was not recorded: {entry.status}"
        down = [p.incident for p in ledger.posted[4:] if p.incident]
        assert len(_pending(db_url, down)) == len(down), "nothing can dispatch while the broker is down"
        ready = httpx.get(stack.base_url + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"] == "failed"

        redis_server.start()  # empty: every queued task and channel group is gone
        returned_at = time.monotonic()
        figures = _assert_nothing_lost(db_url, ledger)
        seen = _assert_caught_up(db_url, followers)
        _report("redis restart", **figures, slowest_post_while_down_s=round(slowest, 2),
                dispatched_after_return_s=round(time.monotonic() - returned_at, 1), events_seen=seen,
                reconnects=[f.connections - 1 for f in followers])  # fmt: skip
    finally:
        redis_server.close()


def test_a_postgresql_crash_and_restart_loses_no_recorded_call(fault_stack, tmp_path):
    database = PrivatePostgres()
    try:
        database.init()
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": database.url}
        manage = [str(BIN / "python"), "manage.py"]
        subprocess.run([*manage, "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True, timeout=180)
        subprocess.run([*manage, "load_demo", "--users", "--password", "pass-12345"], cwd=ROOT, env=env,
                       check=True, timeout=60, capture_output=True)  # fmt: skip
        stack = fault_stack(db_url=database.url)

        def token(username: str) -> str:
            answer = httpx.post(f"{stack.base_url}/api/v1/auth/token/",
                                json={"username": username, "password": "pass-12345"}, timeout=10)  # fmt: skip
            assert answer.status_code == 200, answer.text
            return answer.json()["token"]

        crews = [(uid, token(f"crew-{sign.lower()}")) for uid, sign in
                 _sql(database.url, "SELECT id, call_sign FROM fleet_unit ORDER BY id LIMIT 2")]  # fmt: skip
        followers = _start_followers(stack, token("dispatcher1"), crews)
        ledger = Ledger(stack.client(token("calltaker1")))
        for i in range(3):
            ledger.post(i)

        database.crash()
        for i in range(3, 5):
            entry = ledger.post(i)
            assert entry.status != 201, "a call cannot be recorded without its database"
            assert entry.status is None or entry.status >= 500, entry.status
        asked = time.monotonic()
        ready = httpx.get(stack.base_url + "/readyz", timeout=30)
        readyz_s = round(time.monotonic() - asked, 1)
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "failed"

        database.start()
        retried = ledger.retry_unanswered()
        for i in range(5, 8):
            ledger.post(i)
        figures = _assert_nothing_lost(database.url, ledger)
        seen = _assert_caught_up(database.url, followers)
        _report("postgresql crash (-m immediate) and restart", **figures, retried_after_restart=retried,
                readyz_while_down_s=readyz_s,
                events_seen=seen, reconnects=[f.connections - 1 for f in followers])  # fmt: skip
    finally:
        database.close()


def test_clients_of_a_stopped_asgi_server_reconnect_with_since_and_miss_nothing(fault_stack):
    units = _units(14)
    stack = fault_stack()
    db_url = database_url(connection.settings_dict)
    followers = _start_followers(
        stack, _token(Role.DISPATCHER), [(u.pk, _token(Role.CREW, unit=u)) for u in units[:4]]
    )
    ledger = Ledger(stack.client(_token(Role.CALL_TAKER)))
    for i in range(3):
        ledger.post(i)
    _wait(lambda: not _pending(db_url, [p.incident for p in ledger.recorded if p.incident]), 20, "dispatch")
    # Hold the (idle) worker so that the next calls are assigned only once the server is gone.
    os.killpg(stack.processes["worker"].pid, signal.SIGSTOP)
    for i in range(3, 10):
        ledger.post(i)
    # The server dies with the clients connected; the worker goes on assigning what was just recorded.
    _kill(stack, "web")
    down_at = time.monotonic()
    os.killpg(stack.processes["worker"].pid, signal.SIGCONT)
    incident_ids = [p.incident for p in ledger.recorded if p.incident]
    _wait(lambda: not _pending(db_url, incident_ids), 30, "dispatch while the web server is down")
    missed = _sql(db_url, "SELECT count(*) FROM dispatch_event WHERE for_console AND id > %s",
                  followers[0].last or 0)[0][0]  # fmt: skip
    assert missed > 0, "the fault must fall while events are being made"
    _wait(lambda: not any(f.connected.is_set() for f in followers), 10, "clients see the server gone")

    _spawn(stack, "web", _web(stack))
    _wait_http(stack)
    figures = _assert_nothing_lost(db_url, ledger)
    seen = _assert_caught_up(db_url, followers)
    assert all(f.connections >= 2 for f in followers), [f.connections for f in followers]
    assert all(len(f.snapshots) == 1 for f in followers), (
        "a reconnect with since= must replay, not resnapshot"
    )
    _report("asgi server kill -9 and restart", **figures, console_events_made_while_down=missed,
            down_s=round(time.monotonic() - down_at, 1), events_seen=seen)  # fmt: skip
