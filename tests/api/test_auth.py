"""Token authentication and /me/."""

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from tests.api.contract import UNIT_FIELDS, assert_error, has_fields
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_user_gets_a_token_and_uses_it(unit):
    UserFactory(username="crew-a1", role=Role.CREW, unit=unit)
    client = APIClient()

    response = client.post(
        "/api/v1/auth/token/", {"username": "crew-a1", "password": "pass-1234"}, format="json"
    )

    assert response.status_code == 200
    token = response.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    body = me.json()
    assert (body["username"], body["role"]) == ("crew-a1", "crew")
    has_fields(body["unit"], UNIT_FIELDS)
    assert body["unit"]["id"] == unit.pk


def test_me_has_no_unit_for_a_control_room_user(dispatcher):
    body = dispatcher.get("/api/v1/me/").json()
    assert (body["username"], body["role"], body["unit"]) == (dispatcher.user.username, "dispatcher", None)


def test_a_wrong_password_is_a_401_in_the_contract_shape(db):
    UserFactory(username="dispatcher1", role=Role.DISPATCHER)
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "dispatcher1", "password": "salah-salah"}, format="json"
    )
    assert_error(response, 401)


def test_an_inactive_user_gets_no_token(db):
    UserFactory(username="pensiun", is_active=False)
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "pensiun", "password": "pass-1234"}, format="json"
    )
    assert_error(response, 401)


@pytest.mark.parametrize(
    "header",
    [
        "Token 0123456789abcdef0123456789abcdef01234567",
        "Token ",
        "Bearer x",
        "Token abc\x00def",
        "Token ' OR 1=1 --",
        "Token " + "a" * 5000,
    ],
)
def test_a_bad_token_is_a_401_never_a_500(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/me/")
    assert_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Token")


def test_without_credentials_the_answer_is_401_with_a_challenge(db):
    response = APIClient().get("/api/v1/me/")
    assert_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Token")


def test_a_browser_session_login_works_for_the_api(db):
    UserFactory(username="supervisor1", role=Role.SUPERVISOR)
    client = APIClient()
    assert client.login(username="supervisor1", password="pass-1234")
    assert client.get("/api/v1/me/").json()["role"] == "supervisor"
