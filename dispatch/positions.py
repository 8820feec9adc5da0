"""A crew's GPS fixes: the input both ways in take (the REST batch and the unit's own WebSocket), and the
writer that stores the fixes arriving on the WebSockets of one server process.

The writer commits in groups: while one transaction is being written, the batches that arrive meanwhile wait
and then go together in the next one. A quiet system writes each batch at once; a busy one writes more fixes
per transaction instead of more transactions, so the cost per fix falls as the load rises.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

from channels.db import database_sync_to_async
from django.db import DataError, IntegrityError
from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.settings import api_settings

from dispatch import services
from geo.points import finite_coordinate

log = logging.getLogger(__name__)

MAX_PER_BATCH = 2000
# Most positions one writer transaction stores (a flood of offline buffers waits for the next one).
MAX_PER_TRANSACTION = 5000
# A phone's clock may run a little ahead of the server's; a fix from further in the future is taken as now.
FUTURE_TOLERANCE = timedelta(seconds=5)


class NumberField(serializers.FloatField):
    """A JSON number (or its text); `true` is not 1.0, however Python sees it."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        return cast(float, super().to_internal_value(data))


class PositionInput(serializers.Serializer):
    lat = NumberField()
    lon = NumberField()
    at = serializers.DateTimeField()
    heading = NumberField(required=False, allow_null=True, min_value=0, max_value=360, default=None)
    speed = NumberField(required=False, allow_null=True, min_value=0, max_value=150, default=None)
    accuracy = NumberField(required=False, allow_null=True, min_value=0, max_value=100_000, default=None)

    def validate_lat(self, value: Any) -> float:
        return _coordinate(value, "lat", 90.0)

    def validate_lon(self, value: Any) -> float:
        return _coordinate(value, "lon", 180.0)


def _coordinate(value: Any, name: str, limit: float) -> float:
    """The field's own message, not nested under its name a second time ({"lat": {"lat": ...}})."""
    try:
        return finite_coordinate(value, name, limit)
    except ValidationError as exc:
        detail = exc.detail
        raise ValidationError(
            detail[name] if isinstance(detail, dict) and name in detail else detail
        ) from None


class PositionsInput(serializers.Serializer):
    positions = serializers.ListField(child=PositionInput(), allow_empty=False, max_length=MAX_PER_BATCH)


# The batch's field, made once: a serializer deep-copies its declared fields (and its child's) every time one is
# made, which at a phone's cadence cost more CPU than checking the fixes. Fields keep no state between calls.
_BATCH = PositionsInput().fields["positions"]


def positions_parsed(data: Any) -> list[services.Position]:
    """A batch as PositionsInput takes it, oldest first, with fixes from the future brought back to now; a bad
    one raises ValidationError with the serializer's errors."""
    if not isinstance(data, Mapping):
        message = f"Invalid data. Expected a dictionary, but got {type(data).__name__}."
        raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [message]}, code="invalid")
    try:
        fixes = _BATCH.run_validation(_BATCH.get_value(data))
    except ValidationError as exc:
        raise ValidationError({"positions": exc.detail}) from None
    latest_allowed = timezone.now() + FUTURE_TOLERANCE
    return sorted(
        (services.Position(p["lat"], p["lon"], min(p["at"], latest_allowed), p["heading"], p["speed"],
                           p["accuracy"]) for p in fixes),
        key=lambda p: p.at,
    )  # fmt: skip


class PositionWriter:
    """Stores the batches handed to it by this process's crew streams, in order, many per transaction."""

    def __init__(self) -> None:
        self._waiting: list[tuple[services.PositionBatch, asyncio.Future[int | None]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def write(self, batch: services.PositionBatch) -> int | None:
        """How many positions were stored, or None if the batch was refused (see the service)."""
        answer: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((batch, answer))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        while self._waiting:
            taken = self._take()
            try:
                self._answer(taken, await _store([batch for batch, _ in taken]))
            except (IntegrityError, DataError) as exc:
                if len(taken) == 1:
                    log.warning("a position batch was refused by the database", exc_info=True)
                    self._answer(taken, exc)
                    continue
                # What the database refused is in one batch; it must not cost the others: each goes alone.
                for one in taken:
                    try:
                        self._answer([one], await _store([one[0]]))
                    except Exception as alone:
                        log.warning("a position batch was refused by the database", exc_info=True)
                        self._answer([one], alone)
            except Exception as exc:  # the database is away: every phone hears it at once and keeps its fixes
                log.warning("could not store %d position batches", len(taken), exc_info=True)
                self._answer(taken, exc)

    @staticmethod
    def _answer(
        taken: list[tuple[services.PositionBatch, asyncio.Future[int | None]]],
        results: list[int | None] | Exception,
    ) -> None:
        for i, (_, answer) in enumerate(taken):
            if answer.done():  # its phone left meanwhile
                continue
            if isinstance(results, Exception):
                answer.set_exception(results)
            else:
                answer.set_result(results[i])

    def _take(self) -> list[tuple[services.PositionBatch, asyncio.Future[int | None]]]:
        count = 0
        for i, (batch, _) in enumerate(self._waiting):
            count += len(batch.positions)
            if i and count > MAX_PER_TRANSACTION:
                break
        else:
            i = len(self._waiting)
        taken, self._waiting = self._waiting[:i], self._waiting[i:]
        return taken


async def _store(batches: list[services.PositionBatch]) -> list[int | None]:
    return await database_sync_to_async(services.unit_positions_record_many)(batches, crew_only=True)


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PositionWriter] = weakref.WeakKeyDictionary()


def position_writer() -> PositionWriter:
    """The writer of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = PositionWriter()
    return writer
