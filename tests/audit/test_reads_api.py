"""GET /api/v1/audit/reads/: supervisors list who read personal data, filtered; nobody else may."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role
from audit.models import Channel, PersonalDataRead, What
from audit.services import personal_data_read_record
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit/reads/"


def _read(user, incident_ids, *, days_ago=0.0, what=What.INCIDENT):
    read = personal_data_read_record(
        user=user, channel=Channel.REST, what=what, incident_ids=incident_ids, path="/api/v1/x/"
    )
    assert read is not None
    PersonalDataRead.objects.filter(pk=read.pk).update(at=timezone.now() - timedelta(days=days_ago))
    return read


@pytest.fixture
def world():
    ani = UserFactory(role=Role.DISPATCHER)
    budi = UserFactory(role=Role.CALL_TAKER)
    return {
        "ani": ani,
        "budi": budi,
        "ani_old": _read(ani, [1, 2], days_ago=10),
        "budi_list": _read(budi, [2, 3], days_ago=5, what=What.INCIDENT_LIST),
        "ani_new": _read(ani, [3], days_ago=1),
    }


def _ids(answer):
    assert answer.status_code == 200, answer.content
    return [r["id"] for r in answer.json()]


def test_a_supervisor_lists_every_read_newest_first_with_its_fields(supervisor, world):
    answer = supervisor.get(URL)

    assert _ids(answer) == [world["ani_new"].pk, world["budi_list"].pk, world["ani_old"].pk]
    row = answer.json()[1]
    assert row["username"] == world["budi"].username and row["user"] == world["budi"].pk
    assert (row["role"], row["channel"], row["what"], row["incident_ids"]) == (
        Role.CALL_TAKER, "rest", "incident_list", [2, 3])  # fmt: skip
    assert {"at", "path", "remote_addr", "closed_at"} <= set(row)


def test_filters_by_incident_user_and_time(supervisor, world):
    assert _ids(supervisor.get(URL, {"incident": 2})) == [world["budi_list"].pk, world["ani_old"].pk]
    assert _ids(supervisor.get(URL, {"incident": 9})) == []
    assert _ids(supervisor.get(URL, {"user": world["ani"].pk})) == [world["ani_new"].pk, world["ani_old"].pk]
    assert _ids(supervisor.get(URL, {"user": world["ani"].pk, "incident": 3})) == [world["ani_new"].pk]
    since = (timezone.now() - timedelta(days=7)).isoformat()
    until = (timezone.now() - timedelta(days=2)).isoformat()
    assert _ids(supervisor.get(URL, {"since": since})) == [world["ani_new"].pk, world["budi_list"].pk]
    assert _ids(supervisor.get(URL, {"since": since, "until": until})) == [world["budi_list"].pk]


def test_pages_back_with_limit_and_before(supervisor, world):
    first = _ids(supervisor.get(URL, {"limit": 2}))
    rest = _ids(supervisor.get(URL, {"limit": 2, "before": first[-1]}))

    assert first == [world["ani_new"].pk, world["budi_list"].pk]
    assert rest == [world["ani_old"].pk]


@pytest.mark.parametrize("params", [{"incident": "x"}, {"since": "yesterday"}, {"limit": 0}, {"user": -1}])
def test_bad_filters_are_a_400_in_the_error_shape(supervisor, params):
    answer = supervisor.get(URL, params)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("role", [Role.CALL_TAKER, Role.DISPATCHER, Role.CREW, Role.VIEWER])
def test_other_roles_are_refused(make_client, unit, role, world):
    client = make_client(role, unit=unit if role == Role.CREW else None)

    answer = client.get(URL)

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "permission_denied"


def test_nobody_without_credentials_is_refused(world):
    assert APIClient().get(URL).status_code == 401


def test_listing_the_reads_is_not_itself_a_read_of_personal_data(supervisor, world):
    before = PersonalDataRead.objects.count()
    supervisor.get(URL)
    assert PersonalDataRead.objects.count() == before


def test_the_schema_documents_the_endpoint_for_supervisors(supervisor):
    schema = supervisor.get("/api/schema/").json()
    operation = schema["paths"][URL]["get"]
    assert {"incident", "user", "since", "until", "limit", "before"} <= {
        p["name"] for p in operation["parameters"]
    }
    assert "200" in operation["responses"]
