import pytest
from django.core.cache import cache

from accounts.models import Role


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """The login throttle counts in the cache; each test starts with none spent."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def supervisor(make_client):
    return make_client(Role.SUPERVISOR)


@pytest.fixture
def viewer(make_client):
    return make_client(Role.VIEWER)
