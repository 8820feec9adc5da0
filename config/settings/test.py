"""Test settings: PostgreSQL and Redis, as in production."""

import os
import tempfile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/psc119")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("CHANNELS_PREFIX", f"psc119-test-{os.getpid()}")

from config.settings.base import *  # noqa: F403
from config.settings.base import env

SECRET_KEY = "test-only-key"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# In-process tests call task functions directly; the e2e suite runs a real worker on Redis.
CELERY_BROKER_URL = env("TEST_CELERY_BROKER_URL", default="memory://")
LOGGING["root"]["level"] = env("LOG_LEVEL", default="WARNING")  # type: ignore[index]  # noqa: F405
# The e2e stack serves the screens' static files from the apps, without a collectstatic run.
WHITENOISE_USE_FINDERS = True
# Tests route geodesic unless they build their own network (tests/geo): never a developer's var/osrm.
GEO = {**GEO, "ROAD_ENGINE": env("TEST_ROAD_ENGINE", default="")}  # noqa: F405
# Web Push with a key of the test machine's own (made on first use), never a developer's var/.
WEBPUSH = {
    **WEBPUSH,  # noqa: F405
    "VAPID_PRIVATE_KEY": env(
        "WEBPUSH_VAPID_PRIVATE_KEY",
        default=os.path.join(tempfile.gettempdir(), "psc119-test-webpush-vapid.pem"),
    ),
}
