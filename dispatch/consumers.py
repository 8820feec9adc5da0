"""WebSocket relays: authenticate, join groups, send the snapshot (or the replay), forward events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain
from rest_framework.exceptions import ValidationError

from accounts.errors import error_body, invalid_body
from accounts.models import Role
from audit.models import Channel
from audit.services import (
    ReadNotRecorded,
    personal_data_read_record,
    personal_data_stream_close,
    personal_data_stream_open,
)
from dispatch import events, selectors, services
from dispatch.positions import position_writer, positions_parsed
from dispatch.serializers import AssignmentWithRouteSerializer, IncidentSerializer, UnitSerializer
from dispatch.stream_reads import stream_read_register, stream_read_unregister

log = logging.getLogger(__name__)

CONSOLE_ROLES = (Role.CALL_TAKER, Role.DISPATCHER, Role.SUPERVISOR, Role.VIEWER)
# What a token key can look like; anything else (a NUL byte, a megabyte) never reaches the database.
TOKEN_KEY = re.compile(r"[0-9A-Za-z_\-]{1,64}")
# Close codes a client can act on: log in again (4401) or give up (4403), like HTTP 401 and 403.
UNAUTHENTICATED = 4401
FORBIDDEN = 4403
# Like HTTP 503: who reads personal data could not be recorded (UU 27/2022), so nothing more is sent.
AUDIT_UNAVAILABLE = 4503
# Position batches a phone may have on their way to the database at once (the app sends one at a time).
MAX_POSITIONS_IN_FLIGHT = 8


class TokenAuthMiddleware:
    """Accepts `Authorization: Token <key>` on the handshake, for phones and other non-browser clients."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers", []))
        raw = headers.get(b"authorization", b"").decode("latin-1")
        if raw.lower().startswith("token "):
            scope = dict(scope, user=await _user_for_token(raw[6:].strip()))
        return await self.inner(scope, receive, send)


@database_sync_to_async
def _user_for_token(key: str) -> Any:
    from rest_framework.authtoken.models import Token

    if not TOKEN_KEY.fullmatch(key):
        return AnonymousUser()
    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token and token.user.is_active else AnonymousUser()


class BrowserOriginValidator:
    """Browsers always send Origin; a page from another site must not ride on the session cookie, so the Origin
    must be this site itself (the Host it connected to), a CSRF_TRUSTED_ORIGINS entry, or match ALLOWED_HOSTS.
    A wildcard in ALLOWED_HOSTS does not open the streams to every site. Other clients send no Origin and
    authenticate with a token."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin")
        if origin is None or origin_allowed(
            origin.decode("latin-1"), host=headers.get(b"host", b"").decode("latin-1")
        ):
            return await self.app(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


def origin_allowed(origin: str, *, host: str) -> bool:
    parsed = urlparse(origin.strip().lower())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return False
    host = host.strip().lower()
    if host and parsed.netloc == host and validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS):
        return True
    if origin.strip().lower() in {o.lower().rstrip("/") for o in settings.CSRF_TRUSTED_ORIGINS}:
        return True
    return any(pattern != "*" and is_same_domain(parsed.hostname, _host_of(pattern))
               for pattern in settings.ALLOWED_HOSTS)  # fmt: skip


def _host_of(pattern: str) -> str:
    # ALLOWED_HOSTS entries are host names (".example.org" for subdomains), "[::1]" for IPv6.
    return pattern.lower().strip("[]")


def origin_validated(app: Any) -> BrowserOriginValidator:
    return BrowserOriginValidator(app)


NOT_FOUND = 4404


class NoSuchStreamConsumer(AsyncJsonWebsocketConsumer):
    """A path that is no stream: closed with 4404, like an HTTP 404."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=NOT_FOUND)


class _StreamConsumer(AsyncJsonWebsocketConsumer):
    roles: tuple[str, ...] = ()

    group: str | None = None  # set once the client is let in
    last_seq = 0
    unit_id: int | None = None
    redacted = False
    _keep_joined: asyncio.Task[None] | None = None
    audit_as = ""  # the read record's name for this stream: "<audit_as>_snapshot", "_replay", "_stream"
    stream_read: int | None = None  # its record of who listens, closed on disconnect

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self._refuse(UNAUTHENTICATED)
            return
        if user.role not in self.roles or not self.allowed(user):
            await self._refuse(FORBIDDEN)
            return
        self.user = user
        self.unit_id = user.unit_id if user.role == Role.CREW else None
        self.redacted = user.role == Role.VIEWER
        try:
            self.stream_read = await self._stream_read_open()
        except ReadNotRecorded:
            await self._refuse(AUDIT_UNAVAILABLE)
            return
        self.group = events.unit_group(self.unit_id) if self.unit_id is not None else events.CONSOLE_GROUP
        # Joined before the snapshot's seq is read, so that nothing committed after it can be missed.
        await self.channel_layer.group_add(self.group, self.channel_name)
        try:
            await self.accept()
            await self._catch_up(_since(self.scope))
        except ReadNotRecorded:
            await self._leave()
            await self.close(code=AUDIT_UNAVAILABLE)
            return
        except BaseException:
            # Channels sends no disconnect to a consumer that failed: leave the group here, or its channel
            # would keep collecting broadcasts nobody reads.
            await self._leave()
            raise
        self._keep_joined = asyncio.create_task(self._rejoin_periodically())

    async def _catch_up(self, since: int | None) -> None:
        """The replay after `since` when it can be given, else a fresh snapshot."""
        replay = await self._replay(since) if since is not None else None
        if since is None or replay is None:
            seq, data = await self._snapshot()
            self.last_seq = seq
            await self._send({"type": "snapshot", "seq": seq, "at": _now(), "data": data})
        else:
            self.last_seq = since
            for envelope in replay:
                await self._forward(envelope)

    def allowed(self, user: Any) -> bool:
        return True

    async def _refuse(self, code: int) -> None:
        # Accepted first: a close before the handshake completes reaches browsers and phones as a bare
        # HTTP 403 (close code 1006), and they could not tell "log in again" from "server down, retry".
        await self.accept()
        await self.close(code=code)

    async def _rejoin_periodically(self) -> None:
        """Channels forgets a group member after `group_expiry` (a day by default); consoles stay open for
        weeks, so the membership is renewed well before it lapses."""
        expiry = getattr(self.channel_layer, "group_expiry", 86400)
        while self.group is not None:
            await asyncio.sleep(max(expiry / 4, 0.5))
            if self.group is None:
                return
            try:
                await self.channel_layer.group_add(self.group, self.channel_name)
            except Exception:  # Redis away for a moment: the next round renews it, long before it lapses
                log.warning("could not renew %s in group %s", self.channel_name, self.group, exc_info=True)

    async def disconnect(self, code: int) -> None:
        await self._leave()
        if self.stream_read is not None:
            read_id, self.stream_read = self.stream_read, None
            stream_read_unregister(read_id=read_id)
            await database_sync_to_async(personal_data_stream_close)(read_id=read_id)

    async def _leave(self) -> None:
        if self._keep_joined is not None:
            self._keep_joined.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keep_joined
            self._keep_joined = None
        if self.group is not None:
            group, self.group = self.group, None
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        # A client's garbage (binary frames, broken JSON) is ignored rather than ending the stream.
        if text_data is None:
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The streams are one-way; a ping gets a pong so clients can tell a dead link. Before the pong, the
        # record is checked for what a lost broadcast (Redis restarted, a full channel) never brought.
        if self.group is not None and isinstance(content, dict) and content.get("type") == "ping":
            try:
                await self._catch_up(self.last_seq)
            except ReadNotRecorded:
                await self.close(code=AUDIT_UNAVAILABLE)
                return
            await self._reply("pong", {})

    async def _reply(self, kind: str, data: dict[str, Any]) -> None:
        """An answer to the client (not an event of the stream): it carries the stream's seq as it stands."""
        await self.send_json({"type": kind, "seq": self.last_seq, "at": _now(), "data": data})

    async def event_batch(self, message: dict[str, Any]) -> None:
        """One transaction's events for this stream, in order; `prev` is the stream's seq before them."""
        fresh = [e for e in message["events"] if e["seq"] > self.last_seq]
        if not fresh:
            return
        first = fresh[0]["seq"]
        prev = message.get("prev")
        # Broadcasts from several processes can overtake each other; fill a gap from the record, in order.
        # Without `prev` any jump in seq may be one (other streams' events also take seqs).
        gap = prev > self.last_seq if isinstance(prev, int) else first > self.last_seq + 1
        if gap:
            for missed in await self._events_between(self.last_seq, first):
                await self._forward(missed)
        for envelope in fresh:
            await self._forward(envelope)

    async def _forward(self, envelope: dict[str, Any]) -> None:
        if envelope["seq"] <= self.last_seq:
            return
        self.last_seq = envelope["seq"]
        await self._send(envelope)

    async def _send(self, envelope: dict[str, Any]) -> None:
        await self.send_json(events.redact(envelope) if self.redacted else envelope)

    @database_sync_to_async
    def _events_between(self, after: int, before: int) -> list[dict[str, Any]]:
        return [
            events.envelope(e)
            for e in selectors.events_visible(unit_id=self.unit_id, after=after, before=before)
        ]

    @database_sync_to_async
    def _replay(self, since: int) -> list[dict[str, Any]] | None:
        """Everything after `since` this client may see, or None when `since` is unknown (ahead of the record)
        or too old: more than REPLAY_MAX_EVENTS to replay, where a snapshot says it quicker.

        Counted in this stream's events, not the record's: a crew whose unit was quiet while the city was busy
        is not behind."""
        if since > selectors.event_last_seq():
            return None
        limit = settings.DISPATCH["REPLAY_MAX_EVENTS"]
        rows = list(selectors.events_visible(unit_id=self.unit_id, after=since)[: limit + 1])
        if len(rows) > limit:
            return None
        replay = [events.envelope(e) for e in rows]
        self._read_record(f"{self.audit_as}_replay", [e.incident_id for e in rows if e.incident_id])
        return replay

    @database_sync_to_async
    def _snapshot(self) -> tuple[int, dict[str, Any]]:
        # The seq is read first: events after it may already show in the state, and are then applied twice,
        # which is harmless because each carries the whole object.
        seq = selectors.event_last_seq()
        data = self.snapshot_data()
        self._read_record(f"{self.audit_as}_snapshot", self.snapshot_incident_ids(data))
        return seq, data

    def snapshot_data(self) -> dict[str, Any]:
        raise NotImplementedError

    def snapshot_incident_ids(self, data: dict[str, Any]) -> list[int]:
        raise NotImplementedError

    def _where(self) -> dict[str, Any]:
        client = self.scope.get("client") or (None,)
        return {"path": self.scope.get("path", ""), "remote_addr": client[0]}

    def _read_record(self, what: str, incident_ids: list[int]) -> None:
        """Before the data leaves: raises ReadNotRecorded when the read cannot be recorded."""
        personal_data_read_record(
            user=self.user, channel=Channel.WEBSOCKET, what=what, incident_ids=incident_ids, **self._where()
        )

    async def _stream_read_open(self) -> int | None:
        read = await database_sync_to_async(personal_data_stream_open)(
            user=self.user, what=f"{self.audit_as}_stream", **self._where()
        )
        if read is None:
            return None
        # Marked open while this process lives; if it dies first, the sweep closes the read at the last mark.
        stream_read_register(read_id=read.pk)
        return read.pk


class ConsoleConsumer(_StreamConsumer):
    roles = CONSOLE_ROLES
    audit_as = "console"

    def snapshot_data(self) -> dict[str, Any]:
        return {
            "incidents": IncidentSerializer(
                selectors.incidents_open().order_by("-received_at"), many=True
            ).data,
            "units": UnitSerializer(selectors.units_with_assignment(), many=True).data,
        }

    def snapshot_incident_ids(self, data: dict[str, Any]) -> list[int]:
        return [i["id"] for i in data["incidents"]]


class UnitConsumer(_StreamConsumer):
    """The crew's stream; the phone also hands its GPS fixes in over it (`positions`), answered in order."""

    roles = (Role.CREW,)
    audit_as = "unit"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._answering: set[asyncio.Task[None]] = set()  # the position batches not answered yet

    def allowed(self, user: Any) -> bool:
        return user.unit_id is not None

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if self.group is not None and isinstance(content, dict) and content.get("type") == "positions":
            # Answered by a task of its own: events for the crew must not wait behind a write.
            if len(self._answering) >= MAX_POSITIONS_IN_FLIGHT:
                ref = content.get("id") if _reference_valid(content.get("id")) else None
                await self._positions_refused(ref, 429, error_body("too_many", "Wait for the answers first."))
                return
            task = asyncio.create_task(self._positions(content))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)
            return
        await super().receive_json(content, **kwargs)

    async def _positions(self, content: dict[str, Any]) -> None:
        ref = content.get("id")
        if not _reference_valid(ref):
            await self._positions_refused(
                None, 400, error_body("invalid", "Invalid input.", {"id": "At most 64 characters."})
            )
            return
        try:
            fixes = positions_parsed(content.get("data", {}))
        except ValidationError as exc:
            await self._positions_refused(ref, 400, invalid_body(exc.detail))
            return
        assert self.unit_id is not None
        batch = services.PositionBatch(self.unit_id, fixes, self.user)
        try:
            accepted = await position_writer().write(batch)
        except Exception:
            await self._positions_refused(ref, 503, error_body("unavailable", "Not stored; send them again."))
            return
        if accepted is None:
            # No longer this unit's crew (or no longer active): nothing more is taken or sent on this stream.
            denied = error_body("permission_denied", "A crew acts for its own unit only.")
            await self._positions_refused(ref, 403, denied)
            await self._leave()
            await self.close(code=FORBIDDEN)
            return
        await self._reply("positions.accepted", {"id": ref, "accepted": accepted})

    async def _positions_refused(self, ref: Any, status: int, body: dict[str, Any]) -> None:
        """The contract's error `body` and the HTTP status a POST would have had, for batch `ref`."""
        await self._reply("positions.rejected", {"id": ref, "status": status, **body})

    async def disconnect(self, code: int) -> None:
        for task in list(self._answering):
            task.cancel()
        await super().disconnect(code)

    def snapshot_data(self) -> dict[str, Any]:
        assert self.unit_id is not None
        unit = selectors.units_with_assignment().get(pk=self.unit_id)
        assignment = selectors.assignment_active_for_unit(unit_id=self.unit_id)
        return {
            "unit": UnitSerializer(unit).data,
            "assignment": AssignmentWithRouteSerializer(assignment).data if assignment else None,
        }

    def snapshot_incident_ids(self, data: dict[str, Any]) -> list[int]:
        return [data["assignment"]["incident"]["id"]] if data["assignment"] else []


def _reference_valid(value: Any) -> bool:
    """A client's name for its message, echoed in the answer: none, a short text or a JSON-safe integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**53) < value < 2**53
    return value is None or (isinstance(value, str) and len(value) <= 64)


def _since(scope: dict[str, Any]) -> int | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("since")
    if not values:
        return None
    try:
        since = int(values[0])
    except ValueError:
        return None
    return since if 0 <= since < 2**62 else None


def _now() -> str:
    from django.utils import timezone

    return timezone.now().isoformat()
