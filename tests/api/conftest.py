import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """The login throttle counts in the cache; each test starts with none spent."""
    cache.clear()
    yield
    cache.clear()
