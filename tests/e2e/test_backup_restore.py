"""The backup of docs/deployment.md, tested: pg_dump a database that holds a real call flow, pg_restore it into a
new database, and find the same incidents, calls, assignments, status changes and events there, with sequences
that go on past them and no migration missing."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from accounts.models import Role
from tests.e2e.stack import BIN, ROOT, database_url
from tests.factories import StationFactory, UnitFactory

pytestmark = [pytest.mark.e2e]

TABLES = {
    "calls_incident": "id, number, status, priority, complaint, lat, lon, received_at, closed_at",
    "calls_call": "id, incident_id, caller_phone, complaint, priority, received_at, client_id",
    "dispatch_assignment": "id, incident_id, unit_id, status, assigned_at, en_route_at, cleared_at",
    "dispatch_statuschange": "id, subject, from_status, to_status, at, by_id, client_id",
    "dispatch_event": "id, type, at, data, incident_id, unit_id, for_console, actor_id",
    "fleet_unit": "id, call_sign, status",
}


def _rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            t: conn.execute(f"SELECT {cols} FROM {t} ORDER BY id").fetchall() for t, cols in TABLES.items()
        }


def _server(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + f"/{name}"


def test_a_dump_restored_into_a_new_database_holds_the_same_incidents_and_events(stack, token_for, tmp_path):
    unit = UnitFactory(call_sign="BKP-1", station=StationFactory(lat=-7.98, lon=112.63))
    UnitFactory(call_sign="BKP-2", station=StationFactory(lat=-7.95, lon=112.61))
    calltaker = stack.client(token_for(Role.CALL_TAKER))
    crew = stack.client(token_for(Role.CREW, unit=unit))
    incidents = []
    for i, (lat, lon) in enumerate([(-7.9801, 112.6301), (-7.951, 112.611)]):
        body = {"caller_phone": f"0812300{i:05d}", "complaint": "sesak", "priority": 1,
                "location": {"lat": lat, "lon": lon}, "client_id": str(uuid.uuid4())}  # fmt: skip
        answer = calltaker.post("/api/v1/calls/", json=body)
        assert answer.status_code == 201, answer.text
        incidents.append(answer.json()["incident"]["id"])
    source = database_url(connection.settings_dict)
    deadline = time.monotonic() + 20
    while True:
        with psycopg.connect(source) as conn:
            assigned = conn.execute(
                "SELECT id FROM dispatch_assignment WHERE unit_id = %s AND incident_id = ANY(%s)",
                [unit.pk, incidents],
            ).fetchall()
        if assigned or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert assigned, "the worker did not dispatch"
    for status in ("acknowledged", "en_route", "on_scene", "cleared"):
        tap = crew.post(f"/api/v1/assignments/{assigned[0][0]}/status/", json={"status": status})
        assert tap.status_code == 200, tap.text

    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    dump = tmp_path / "psc119.dump"
    # The commands of docs/deployment.md: a custom-format dump, restored into a database made for it.
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--file", str(dump), source], check=True, env=env,
                   timeout=120)  # fmt: skip
    assert dump.stat().st_size > 0
    restored_name = f"psc119_restore_{uuid.uuid4().hex[:8]}"
    restored = _server(source, restored_name)
    with psycopg.connect(_server(source, "postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{restored_name}"')
    try:
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname", restored, str(dump)],
                       check=True, env=env, timeout=120)  # fmt: skip
        before, after = _rows(source), _rows(restored)
        for table in TABLES:
            assert after[table] == before[table], table
        assert {row[0] for row in after["calls_incident"]} >= set(incidents)
        assert len(after["dispatch_event"]) > 10
        assert ("assignment", "on_scene", "cleared") in {r[1:4] for r in after["dispatch_statuschange"]}
        with psycopg.connect(restored) as conn:
            # The sequences were restored too: the next incident and event do not collide with restored ones.
            next_incident = conn.execute(
                "SELECT nextval(pg_get_serial_sequence('calls_incident', 'id'))"
            ).fetchone()
            next_event = conn.execute(
                "SELECT nextval(pg_get_serial_sequence('dispatch_event', 'id'))"
            ).fetchone()
        assert next_incident[0] > max(r[0] for r in after["calls_incident"])
        assert next_event[0] > max(r[0] for r in after["dispatch_event"])
        # And the application finds every migration applied on the restored database.
        check = subprocess.run(
            [str(BIN / "python"), "manage.py", "migrate", "--check"], cwd=Path(ROOT),
            env={**env, "DATABASE_URL": restored, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        with psycopg.connect(_server(source, "postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)')
