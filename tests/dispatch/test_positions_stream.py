"""A crew phone hands its GPS fixes in over its own stream (/ws/unit/), as it would POST them: answered in
order, stored, told to the consoles; bad batches refused in the contract's shape with nothing stored."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Role, User
from dispatch import positions, services
from fleet.models import Unit, UnitPosition
from tests.dispatch.test_consumers import db, run, stream
from tests.factories import UnitFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _fixes(n: int, *, start: Any = None, lon: float = 112.63) -> list[dict[str, Any]]:
    start = start or timezone.now() - timedelta(seconds=60)
    return [
        {"lat": -7.98, "lon": lon + i * 1e-4, "at": (start + timedelta(seconds=i)).isoformat(), "speed": 12.5}
        for i in range(n)
    ]


async def _answer(phone: Any, ref: Any) -> dict[str, Any]:
    """The answer to batch `ref`; whatever else the stream says meanwhile (events) is passed by."""
    return await phone.wait_for(
        lambda m: m["type"] in ("positions.accepted", "positions.rejected") and m["data"]["id"] == ref
    )


def test_a_batch_sent_over_the_stream_is_stored_answered_and_told_to_the_console(token):
    unit = UnitFactory(lat=None, lon=None, location_at=None)
    phone_key, console_key = token(Role.CREW, unit=unit), token(Role.DISPATCHER)
    fixes = _fixes(3)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with (
            stream("/ws/console/", token=console_key) as console,
            stream("/ws/unit/", token=phone_key) as phone,
        ):
            await console.next()
            snapshot = await phone.next()
            await phone.communicator.send_json_to(
                {"type": "positions", "id": "b-1", "data": {"positions": fixes}}
            )
            answer = await _answer(phone, "b-1")
            assert answer["seq"] >= snapshot["seq"]
            moved = await console.wait_for(lambda m: m["type"] == "unit.moved")
            return answer, moved

    answer, moved = run(scenario)
    assert answer["type"] == "positions.accepted"
    assert answer["data"] == {"id": "b-1", "accepted": 3}
    assert UnitPosition.objects.filter(unit=unit).count() == 3
    unit.refresh_from_db()
    assert (unit.lat, unit.lon, unit.speed) == (-7.98, fixes[-1]["lon"], 12.5)
    assert moved["data"]["id"] == unit.id
    assert moved["data"]["location"] == {"lat": -7.98, "lon": fixes[-1]["lon"]}


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"type": "positions", "id": "x", "data": {"positions": []}}, "positions"),
        ({"type": "positions", "id": "x", "data": {}}, "positions"),
        ({"type": "positions", "id": "x", "data": "positions"}, None),
        ({"type": "positions", "id": "x"}, "positions"),
        ({"type": "positions", "id": "x", "data": {"positions": [{"lat": 91, "lon": 112.6, "at": "2026-12-06T01:00:00Z"}]}}, "positions"),
        ({"type": "positions", "id": "x", "data": {"positions": [{"lat": True, "lon": 112.6, "at": "2026-12-06T01:00:00Z"}]}}, "positions"),
        ({"type": "positions", "id": "x", "data": {"positions": [{"lat": -7.9, "lon": 112.6, "at": "yesterday"}]}}, "positions"),
        ({"type": "positions", "id": "x", "data": {"positions": [{"lat": "NaN", "lon": 112.6, "at": "2026-12-06T01:00:00Z"}]}}, "positions"),
        ({"type": "positions", "id": "x" * 65, "data": {"positions": _fixes(1)}}, "id"),
        ({"type": "positions", "id": {"a": 1}, "data": {"positions": _fixes(1)}}, "id"),
    ],
)  # fmt: skip
def test_a_bad_batch_is_refused_with_the_contracts_error_and_nothing_is_stored(token, message, field):
    unit = UnitFactory()
    key = token(Role.CREW, unit=unit)
    before = (unit.lat, unit.lon, unit.location_at)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with stream("/ws/unit/", token=key) as phone:
            await phone.next()
            await phone.communicator.send_json_to(message)
            refused = await phone.wait_for(lambda m: m["type"] == "positions.rejected")
            await phone.communicator.send_json_to({"type": "ping"})
            return refused, await phone.wait_for(lambda m: m["type"] == "pong")

    refused, pong = run(scenario)
    assert refused["data"]["status"] == 400
    assert refused["data"]["error"]["code"] == "invalid"
    assert refused["data"]["error"]["message"]
    if field is None:
        assert "Expected a dictionary" in refused["data"]["error"]["message"]
    else:
        assert field in refused["data"]["error"]["fields"]
    assert refused["data"]["id"] == (None if field == "id" else "x")
    assert pong["type"] == "pong"  # the stream goes on
    assert not UnitPosition.objects.filter(unit=unit).exists()
    unit.refresh_from_db()
    assert (unit.lat, unit.lon, unit.location_at) == before


def test_batches_sent_without_waiting_are_all_answered_in_order_and_the_newest_fix_wins(token):
    unit = UnitFactory(location_at=None)
    key = token(Role.CREW, unit=unit)
    start = timezone.now() - timedelta(minutes=5)
    batches = [_fixes(4, start=start + timedelta(seconds=10 * k), lon=112.6 + k / 100) for k in range(6)]

    async def scenario() -> list[dict[str, Any]]:
        async with stream("/ws/unit/", token=key) as phone:
            await phone.next()
            for k, fixes in enumerate(batches):
                await phone.communicator.send_json_to(
                    {"type": "positions", "id": k, "data": {"positions": fixes}}
                )
            answers = []
            while len(answers) < len(batches):
                message = await phone.next()
                if message["type"].startswith("positions."):
                    answers.append(message)
            return answers

    answers = run(scenario)
    assert [a["type"] for a in answers] == ["positions.accepted"] * 6
    assert [a["data"]["id"] for a in answers] == list(range(6))
    assert UnitPosition.objects.filter(unit=unit).count() == 24
    unit.refresh_from_db()
    assert unit.lon == batches[-1][-1]["lon"]


def test_a_crew_member_moved_to_another_unit_cannot_send_for_the_old_one_and_is_closed_out(token):
    unit, other = UnitFactory(), UnitFactory()
    key = token(Role.CREW, unit=unit)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with stream("/ws/unit/", token=key) as phone:
            await phone.next()
            await db(lambda: User.objects.filter(auth_token__key=key).update(unit=other))()
            await phone.communicator.send_json_to(
                {"type": "positions", "id": "late", "data": {"positions": _fixes(2)}}
            )
            refused = await _answer(phone, "late")
            closing = await phone.communicator.receive_output(timeout=5)
            return refused, closing

    refused, closing = run(scenario)
    assert refused["data"]["status"] == 403
    assert refused["data"]["error"]["code"] == "permission_denied"
    assert closing == {"type": "websocket.close", "code": 4403}
    assert not UnitPosition.objects.exists()


def test_a_console_stream_takes_no_positions(token):
    unit = UnitFactory()
    key = token(Role.DISPATCHER)

    async def scenario() -> list[dict[str, Any]]:
        async with stream("/ws/console/", token=key) as console:
            await console.next()
            await console.communicator.send_json_to(
                {"type": "positions", "id": 1, "data": {"positions": _fixes(1)}}
            )
            return await console.rest()

    assert run(scenario) == []
    assert not UnitPosition.objects.filter(unit=unit).exists()


@pytest.fixture
def transactions(monkeypatch) -> list[int]:
    """How many batches each transaction of the writer carried, in order (the real service still writes them)."""
    carried: list[int] = []
    record_many = services.unit_positions_record_many

    def counted(batches: list[services.PositionBatch], **kwargs: Any) -> list[int | None]:
        carried.append(len(batches))
        return record_many(batches, **kwargs)

    monkeypatch.setattr(services, "unit_positions_record_many", counted)
    return carried


def test_the_writer_stores_batches_that_arrive_together_in_fewer_transactions(transactions):
    units = UnitFactory.create_batch(5, location_at=None)
    crews = [UserFactory(role=Role.CREW, unit=u) for u in units]
    start = timezone.now() - timedelta(minutes=1)

    async def scenario() -> list[int | None]:
        writer = positions.position_writer()
        batches = [
            services.PositionBatch(
                unit.pk,
                [
                    services.Position(-7.98, 112.6 + k / 1000, start + timedelta(seconds=k))
                    for k in range(j, j + 3)
                ],
                crew,
            )
            for j in range(4)
            for unit, crew in zip(units, crews, strict=True)
        ]
        return list(await asyncio.gather(*(writer.write(b) for b in batches)))

    results = run(scenario)
    assert results == [3] * 20
    assert sum(transactions) == 20
    assert len(transactions) < 20  # the first goes alone; those that arrived while it was written, together
    assert UnitPosition.objects.count() == 60
    for unit in units:
        unit.refresh_from_db()
        assert unit.lon == pytest.approx(112.6 + 5 / 1000)


def test_the_many_batch_service_refuses_a_gone_unit_or_a_sender_who_is_not_its_crew_and_stores_the_rest():
    unit, other = UnitFactory(location_at=None), UnitFactory()
    crew, stranger = UserFactory(role=Role.CREW, unit=unit), UserFactory(role=Role.CREW, unit=other)
    at = timezone.now() - timedelta(seconds=30)
    fix = [services.Position(-7.97, 112.61, at)]
    results = services.unit_positions_record_many(
        [
            services.PositionBatch(unit.pk, fix, crew),
            services.PositionBatch(unit.pk, fix, stranger),
            services.PositionBatch(Unit.objects.order_by("-pk").first().pk + 1, fix, crew),
            services.PositionBatch(
                unit.pk, [services.Position(-7.96, 112.62, at - timedelta(seconds=5))], crew
            ),
        ],
        crew_only=True,
    )
    assert results == [1, None, None, 1]
    assert UnitPosition.objects.filter(unit=unit).count() == 2
    assert not UnitPosition.objects.filter(unit=other).exists()
    unit.refresh_from_db()
    assert (unit.lat, unit.lon) == (-7.97, 112.61)  # the older fix of the last batch does not move it back


def test_a_batch_the_database_refuses_does_not_cost_the_batches_written_with_it(transactions):
    units = UnitFactory.create_batch(3, location_at=None)
    crews = [UserFactory(role=Role.CREW, unit=u) for u in units]
    at = timezone.now() - timedelta(seconds=30)
    # Past validation no such fix arrives; here it stands for anything the database itself refuses.
    refused = services.Position(95.0, 112.6, at)

    async def scenario() -> list[Any]:
        writer = positions.position_writer()
        batches = [
            services.PositionBatch(units[0].pk, [services.Position(-7.98, 112.6, at)], crews[0]),
            services.PositionBatch(units[1].pk, [refused], crews[1]),
            services.PositionBatch(units[2].pk, [services.Position(-7.97, 112.61, at)], crews[2]),
        ]
        return list(await asyncio.gather(*(writer.write(b) for b in batches), return_exceptions=True))

    first, second, third = run(scenario)
    assert transactions == [3, 1, 1, 1]  # together first, then each alone
    assert (first, third) == (1, 1)
    assert isinstance(second, Exception)
    assert set(UnitPosition.objects.values_list("unit_id", flat=True)) == {units[0].pk, units[2].pk}


def test_a_coordinate_out_of_range_is_named_once_where_it_is(token):
    key = token(Role.CREW, unit=UnitFactory())
    fixes = [*_fixes(1), {"lat": -7.98, "lon": 181, "at": timezone.now().isoformat()}]

    async def scenario() -> dict[str, Any]:
        async with stream("/ws/unit/", token=key) as phone:
            await phone.next()
            await phone.communicator.send_json_to(
                {"type": "positions", "id": "r", "data": {"positions": fixes}}
            )
            return await _answer(phone, "r")

    refused = run(scenario)
    assert refused["data"]["error"]["fields"] == {
        "positions": {"1": {"lon": "Must be a finite number between -180.0 and 180.0."}}
    }


def test_a_database_that_is_away_fails_the_group_at_once_without_trying_each_batch(monkeypatch):
    from django.db import OperationalError

    tried: list[int] = []

    def away(batches: list[services.PositionBatch], **kwargs: Any) -> list[int | None]:
        tried.append(len(batches))
        raise OperationalError("connection refused")  # as psycopg reports a server that is down

    monkeypatch.setattr(services, "unit_positions_record_many", away)
    units = UnitFactory.create_batch(3, location_at=None)
    crews = [UserFactory(role=Role.CREW, unit=u) for u in units]
    at = timezone.now() - timedelta(seconds=30)

    async def scenario() -> list[Any]:
        writer = positions.position_writer()
        batches = [
            services.PositionBatch(u.pk, [services.Position(-7.98, 112.6, at)], c)
            for u, c in zip(units, crews, strict=True)
        ]
        return list(await asyncio.gather(*(writer.write(b) for b in batches), return_exceptions=True))

    results = run(scenario)
    assert tried == [3]  # one attempt for the group: an outage is not met once per phone
    assert all(isinstance(r, OperationalError) for r in results), results
