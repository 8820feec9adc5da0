from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from tests.factories import UserFactory


@pytest.fixture
def token():
    """A token for a new user of `role` (crew users name their `unit`)."""

    def make(role: str, unit: Any = None, **fields: Any) -> str:
        user = UserFactory(role=role, unit=unit, **fields)
        return Token.objects.get_or_create(user=user)[0].key

    return make
