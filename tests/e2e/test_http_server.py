"""The HTTP side of the real server (uvicorn, Django's WSGI handler in a pool of threads): clients on bad networks
hold sockets, never the threads that answer everyone else; oversized bodies are refused before they are kept."""

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import stack_running
from tests.e2e.stack import Stack

pytestmark = [pytest.mark.e2e]

THREADS = 2


@pytest.fixture(scope="module")
def small_stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Stack]:
    with stack_running(
        django_db_blocker, tmp_path_factory, "e2e-http", {"WEB_THREADS": str(THREADS)}
    ) as running:
        yield running


def _stalled_post(stack: Stack, unit_id: int, token: str) -> socket.socket:
    """A crew's POST that sends its headers and half its body, then stalls (a phone that lost its signal)."""
    host, port = stack.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    body = b'{"positions": [{"lat": -7.98, "lon": 112.63, "at": "2026-12-01T00:00:00Z"}]}'
    sock.sendall(
        f"POST /api/v1/units/{unit_id}/positions/ HTTP/1.1\r\nHost: {host}\r\n".encode()
        + f"Content-Type: application/json\r\nAuthorization: Token {token}\r\n".encode()
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[: len(body) // 2]
    )
    return sock


def test_clients_stalled_mid_body_hold_no_thread(small_stack, token_for, transactional_db):
    from accounts.models import Role
    from tests.factories import UnitFactory

    crews = [(unit.pk, token_for(Role.CREW, unit=unit)) for unit in UnitFactory.create_batch(THREADS + 2)]
    stalled = [_stalled_post(small_stack, unit_id, token) for unit_id, token in crews]
    try:
        time.sleep(0.5)  # the server has read what they sent
        began = time.monotonic()
        answer = httpx.get(f"{small_stack.base_url}/healthz", timeout=5)
        assert answer.status_code == 200
        assert time.monotonic() - began < 2.0
    finally:
        for sock in stalled:
            sock.close()


def test_a_body_declared_over_the_limit_is_refused_in_the_contracts_shape_before_it_is_read(
    small_stack, transactional_db
):
    from django.conf import settings

    host, port = small_stack.base_url.removeprefix("http://").split(":")
    too_big = 2 * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /api/v1/calls/ HTTP/1.1\r\nHost: "
            + host.encode()
            + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(too_big).encode() + b"\r\n\r\n"
        )  # and not one byte of it
        answer = b""
        while b"}}" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["error"]["code"] == "too_large"
    assert httpx.get(f"{small_stack.base_url}/healthz", timeout=5).status_code == 200
