"""WebSocket relays: authenticate, join groups, send the snapshot (or the replay), forward events."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from accounts.models import Role
from dispatch import events, selectors
from dispatch.serializers import AssignmentWithRouteSerializer, IncidentSerializer, UnitSerializer

CONSOLE_ROLES = (Role.CALL_TAKER, Role.DISPATCHER, Role.SUPERVISOR, Role.VIEWER)


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

    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token and token.user.is_active else AnonymousUser()


class BrowserOriginValidator(OriginValidator):
    """Browsers always send Origin and must match ALLOWED_HOSTS (no cross-site hijack of the session cookie);
    other clients send none and authenticate with a token."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        return True if parsed_origin is None else self.validate_origin(parsed_origin)


def origin_validated(app: Any) -> BrowserOriginValidator:
    allowed = [h if h != "*" else "*" for h in settings.ALLOWED_HOSTS]
    return BrowserOriginValidator(app, allowed)


class _StreamConsumer(AsyncJsonWebsocketConsumer):
    roles: tuple[str, ...] = ()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        if user.role not in self.roles or not self.allowed(user):
            await self.close(code=4403)
            return
        self.user = user
        self.last_seq = 0
        self.unit_id: int | None = user.unit_id if user.role == Role.CREW else None
        self.redacted = user.role == Role.VIEWER
        self.group = events.unit_group(self.unit_id) if self.unit_id is not None else events.CONSOLE_GROUP
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        since = _since(self.scope)
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

    async def disconnect(self, code: int) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The streams are one-way; a ping gets a pong so clients can tell a dead link.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "seq": self.last_seq, "at": _now(), "data": {}})

    async def event_message(self, message: dict[str, Any]) -> None:
        envelope = message["event"]
        seq = envelope["seq"]
        if seq <= self.last_seq:
            return
        # Broadcasts from several processes can overtake each other; fill any gap from the record, in order.
        gap = seq > self.last_seq + 1
        if gap:
            for missed in await self._events_between(self.last_seq, seq):
                await self._forward(missed)
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
        """Everything after `since` this client may see, or None when `since` is too old (or unknown)."""
        last = selectors.event_last_seq()
        if since > last or since < last - settings.DISPATCH["REPLAY_MAX_EVENTS"]:
            return None
        return [events.envelope(e) for e in selectors.events_visible(unit_id=self.unit_id, after=since)]

    @database_sync_to_async
    def _snapshot(self) -> tuple[int, dict[str, Any]]:
        # The seq is read first: events after it may already show in the state, and are then applied twice,
        # which is harmless because each carries the whole object.
        seq = selectors.event_last_seq()
        return seq, self.snapshot_data()

    def snapshot_data(self) -> dict[str, Any]:
        raise NotImplementedError


class ConsoleConsumer(_StreamConsumer):
    roles = CONSOLE_ROLES

    def snapshot_data(self) -> dict[str, Any]:
        return {
            "incidents": IncidentSerializer(
                selectors.incidents_open().order_by("-received_at"), many=True
            ).data,
            "units": UnitSerializer(selectors.units_with_assignment(), many=True).data,
        }


class UnitConsumer(_StreamConsumer):
    roles = (Role.CREW,)

    def allowed(self, user: Any) -> bool:
        return user.unit_id is not None

    def snapshot_data(self) -> dict[str, Any]:
        assert self.unit_id is not None
        unit = selectors.units_with_assignment().get(pk=self.unit_id)
        assignment = selectors.assignment_active_for_unit(unit_id=self.unit_id)
        return {
            "unit": UnitSerializer(unit).data,
            "assignment": AssignmentWithRouteSerializer(assignment).data if assignment else None,
        }


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
