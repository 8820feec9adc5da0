"""Coordinates as the contract writes them: {"lat": -7.9666, "lon": 112.6326}."""

import math
from dataclasses import dataclass
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@dataclass(frozen=True, slots=True)
class LatLon:
    lat: float
    lon: float

    def as_dict(self) -> dict[str, float]:
        return {"lat": self.lat, "lon": self.lon}


def latlon_or_none(lat: float | None, lon: float | None) -> dict[str, float] | None:
    return None if lat is None or lon is None else {"lat": lat, "lon": lon}


def _coordinate(value: Any, name: str, limit: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise serializers.ValidationError({name: "A number is required."})
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise serializers.ValidationError({name: "A number is required."}) from None
    if not math.isfinite(number) or not -limit <= number <= limit:
        raise serializers.ValidationError({name: f"Must be a finite number between -{limit} and {limit}."})
    return number


@extend_schema_field(
    {
        "type": "object",
        "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90},
                       "lon": {"type": "number", "minimum": -180, "maximum": 180}},
        "required": ["lat", "lon"],
    }
)  # fmt: skip
class LocationField(serializers.Field):
    """Reads and writes {"lat", "lon"}; refuses NaN, infinities and out-of-range values."""

    # Doubled braces: DRF formats the message with str.format.
    default_error_messages = {"invalid": 'Expected an object {{"lat": number, "lon": number}}.'}

    def to_internal_value(self, data: Any) -> LatLon:
        if not isinstance(data, dict) or set(data) - {"lat", "lon"} or not {"lat", "lon"} <= set(data):
            self.fail("invalid")
        return LatLon(_coordinate(data["lat"], "lat", 90.0), _coordinate(data["lon"], "lon", 180.0))

    def to_representation(self, value: Any) -> dict[str, float] | None:
        if isinstance(value, LatLon):
            return value.as_dict()
        return latlon_or_none(getattr(value, "lat", None), getattr(value, "lon", None))


def finite_coordinate(value: Any, name: str, limit: float) -> float:
    return _coordinate(value, name, limit)
