"""How the application talks to PostgreSQL: parameters bound by the server, and a statement the connection runs
again prepared there, so that PostgreSQL does not parse and plan each of a call's statements anew."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from fleet.models import Unit
from tests.factories import UnitFactory

ROOT = Path(__file__).resolve().parents[1]


def _prepared_on_this_connection() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [str(row[0]) for row in cursor.fetchall()]


@pytest.mark.skipif(
    os.environ.get("DATABASE_SERVER_SIDE_BINDING", "true").lower() in ("0", "false", "no", "off"),
    reason="turned off in this environment (DATABASE_SERVER_SIDE_BINDING)",
)
@pytest.mark.django_db
def test_a_statement_run_again_is_prepared_on_its_connection_with_its_parameters_bound_by_the_server():
    unit = UnitFactory()
    call_sign = str(unit.call_sign)
    for _ in range(6):  # psycopg prepares after five runs
        assert Unit.objects.filter(call_sign=call_sign).get() == unit
    statements = [s for s in _prepared_on_this_connection() if 'FROM "fleet_unit"' in s]
    assert statements, "the repeated query was not prepared"
    # Bound by the server: the statement holds placeholders, not the values.
    assert any("$1" in s and call_sign not in s for s in statements)


def _database_options(env: dict[str, str]) -> dict[str, object]:
    """The database OPTIONS that config.settings.base builds under `env`, in a fresh interpreter."""
    code = (
        "import json, config.settings.base as s; o = s.DATABASES['default'].get('OPTIONS', {}); "
        "print(json.dumps({k: o.get(k) for k in ('server_side_binding', 'prepare_threshold')}))"
    )
    clean = {k: v for k, v in os.environ.items() if k != "DATABASE_SERVER_SIDE_BINDING"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean | env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_server_side_binding_is_on_by_default_and_can_be_turned_off_for_a_pooler():
    url = "postgres://postgres@127.0.0.1:5432/psc119_settings_only"  # never connected to
    assert _database_options({"DATABASE_URL": url}) == {"server_side_binding": True, "prepare_threshold": 5}
    off = _database_options({"DATABASE_URL": url, "DATABASE_SERVER_SIDE_BINDING": "false"})
    assert off == {"server_side_binding": None, "prepare_threshold": None}
