from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.e2e.stack import Stack, database_url, start_stack, stop_stack
from tests.factories import UserFactory


def _compile_messages() -> None:
    """The screens' Indonesian comes from compiled catalogues, which are build output: make them, as `make` does."""
    import shutil

    from django.core.management import call_command

    if shutil.which("msgfmt"):
        call_command("compilemessages", verbosity=0, ignore_patterns=[".venv/*", "staticfiles/*"])


@contextmanager
def stack_running(
    django_db_blocker, tmp_path_factory, name: str, env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """uvicorn + a Celery worker on the test database, with settings from `env`, for the length of the block."""
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    running = start_stack(db_url=url, log_dir=tmp_path_factory.mktemp(name), extra_env=env)
    try:
        yield running
    finally:
        stop_stack(running)


@pytest.fixture(scope="session")
def stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Stack]:
    """The stack with the default settings, shared by the session's e2e tests."""
    _compile_messages()
    with stack_running(django_db_blocker, tmp_path_factory, "e2e-stack") as running:
        yield running


@pytest.fixture
def token_for(transactional_db):
    """A token for a new user of `role` (crew users name their `unit`)."""

    def make(role: str, unit=None) -> str:
        user = UserFactory(role=role, unit=unit)
        return Token.objects.get_or_create(user=user)[0].key

    return make


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    import os
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    # Playwright's sync API runs an event loop in this thread; the ORM calls of test set-up are still sync.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def login_page(stack):
    """Log a browser context in through /login/ as `username`/`password`; returns the page."""

    def login(context, username: str, password: str = "pass-1234", next_url: str = "/"):
        page = context.new_page()
        page.goto(f"{stack.base_url}/login/?next={next_url}")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        return page

    return login
