from pathlib import Path

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from tests.factories import UnitFactory, UserFactory

SHARED_MALANG = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "malang"


@pytest.fixture
def malang_data() -> Path:
    """The real Malang data folder, or a skip that says where it was looked for."""
    if not (SHARED_MALANG / "malang_road_edges.csv").exists():
        pytest.skip(f"Malang reference data not found at {SHARED_MALANG}")
    return SHARED_MALANG


@pytest.fixture
def make_client():
    """An API client logged in (by token) as a new user of `role`; crew users get `unit`."""

    def make(role: str, unit=None, username: str | None = None) -> APIClient:
        from rest_framework.authtoken.models import Token

        fields = {"role": role, "unit": unit}
        if username:
            fields["username"] = username
        user = UserFactory(**fields)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
        client.user = user
        return client

    return make


@pytest.fixture
def dispatcher(make_client):
    return make_client(Role.DISPATCHER)


@pytest.fixture
def call_taker(make_client):
    return make_client(Role.CALL_TAKER)


@pytest.fixture
def supervisor(make_client):
    return make_client(Role.SUPERVISOR)


@pytest.fixture
def viewer(make_client):
    return make_client(Role.VIEWER)


@pytest.fixture
def unit(db):
    return UnitFactory()


@pytest.fixture
def crew(make_client, unit):
    return make_client(Role.CREW, unit=unit)


@pytest.fixture
def sent_events(monkeypatch):
    """Records what `dispatch.events` broadcasts after commit, in order, instead of sending it to Redis."""
    from dispatch import events

    sent = []
    monkeypatch.setattr(events, "_broadcast", lambda batch: sent.extend(events.envelope(e) for e in batch))
    return sent


@pytest.fixture
def db_state(db):
    """A callable snapshot of everything a request could change: row counts and every status.

    Compare two snapshots to assert that a refused request changed nothing.
    """
    from calls.models import Call, Incident
    from dispatch.models import Assignment, Event, StatusChange
    from fleet.models import Unit, UnitPosition

    def snapshot() -> dict:
        return {
            "counts": {m.__name__: m.objects.count()
                       for m in (Incident, Call, Assignment, Event, StatusChange, UnitPosition)},
            "incidents": dict(Incident.objects.values_list("id", "status")),
            "priorities": dict(Incident.objects.values_list("id", "priority")),
            "units": dict(Unit.objects.values_list("id", "status")),
            "unit_places": {pk: (lat, lon, at) for pk, lat, lon, at
                            in Unit.objects.values_list("id", "lat", "lon", "location_at")},
            "assignments": dict(Assignment.objects.values_list("id", "status")),
        }  # fmt: skip

    return snapshot


@pytest.fixture
def sent_tasks():
    """Drains the in-memory broker of the test settings (memory://): the tasks that left, in order, as
    (name, args, eta). Call it after `django_capture_on_commit_callbacks(execute=True)`."""
    from config.celery import app

    def drain() -> list[tuple[str, tuple, str | None]]:
        sent = []
        with app.connection_for_read() as connection:
            queue = connection.SimpleQueue(app.conf.task_default_queue, no_ack=True)
            try:
                while True:
                    try:
                        message = queue.get(block=False)
                    except queue.Empty:
                        break
                    name = message.headers["task"].rsplit(".", 1)[-1]
                    sent.append((name, tuple(message.payload[0]), message.headers.get("eta")))
            finally:
                queue.close()
        return sent

    drain()  # what earlier tests left behind
    return drain
