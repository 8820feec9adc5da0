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
    monkeypatch.setattr(events, "_broadcast", lambda event: sent.append(events.envelope(event)))
    return sent
