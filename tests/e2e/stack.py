"""The real stack for end-to-end tests: uvicorn (ASGI), a Celery worker process, PostgreSQL and Redis.

The processes run against pytest-django's test database, so tests using `transactional_db` set up data
through the ORM and then act only as clients do: HTTP and WebSockets.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict[str, Any]) -> str:
    user = settings_dict.get("USER") or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


@dataclass
class Stack:
    base_url: str
    ws_url: str
    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Token {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=10.0)

    @contextmanager
    def websocket(self, path: str, token: str, since: int | None = None):
        url = f"{self.ws_url}{path}" + (f"?since={since}" if since is not None else "")
        with connect(url, additional_headers={"Authorization": f"Token {token}"}, open_timeout=10) as ws:
            yield StreamReader(ws)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-4000:]}" for p in sorted(self.log_dir.glob("*.log")))


class StreamReader:
    """Reads envelopes from a stream, remembering them so a test can wait for a matching one."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        message = json.loads(self.ws.recv(timeout=timeout))
        self.seen.append(message)
        return message

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"no matching event within {timeout}s; saw {[m['type'] for m in self.seen]}"
                )
            message = self.next(timeout=remaining)
            if predicate(message):
                return message


def start_stack(*, db_url: str, log_dir: Path, extra_env: dict[str, str] | None = None) -> Stack:
    port = free_port()
    run_id = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        # Test settings (the same password hashers as the test process), with a real broker.
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TEST_CELERY_BROKER_URL": os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/13"),
        "DATABASE_URL": db_url,
        "REDIS_URL": os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/13"),
        "CELERY_BROKER_URL": os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/13"),
        "CHANNELS_PREFIX": f"e2e-{run_id}",
        "CELERY_QUEUE": f"e2e-{run_id}",
        "SECRET_KEY": "e2e-only",
        "DEBUG": "0",
        "PSC_VAR_DIR": str(log_dir),
        "LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(
        base_url=f"http://127.0.0.1:{port}", ws_url=f"ws://127.0.0.1:{port}", env=env, log_dir=log_dir
    )
    commands = {
        "web": [str(BIN / "uvicorn"), "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
                "--lifespan", "off", "--no-access-log"],
        "worker": [str(BIN / "celery"), "-A", "config", "worker", "--loglevel", "WARNING", "--concurrency", "2",
                   "--queues", env["CELERY_QUEUE"], "--without-gossip", "--without-mingle", "-n", f"e2e-{run_id}@%h"],
    }  # fmt: skip
    for name, command in commands.items():
        handle = (log_dir / f"{name}.log").open("wb")
        stack.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_ready(stack)
    except Exception:
        stop_stack(stack)
        raise
    return stack


def wait_ready(stack: Stack, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for name, process in stack.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}\n{stack.logs()}")
        try:
            answer = httpx.get(f"{stack.base_url}/readyz", timeout=3)
            if answer.status_code == 200:
                return
            last = answer.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.3)
    raise TimeoutError(f"stack not ready in {timeout}s: {last}\n{stack.logs()}")


def stop_stack(stack: Stack) -> None:
    for process in stack.processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in stack.processes.values():
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
