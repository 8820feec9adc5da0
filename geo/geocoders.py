"""A remote geocoder (a self-hosted Nominatim or Photon, through geopy), asked only when the settings name one.

The offline gazetteer is the default and the fallback: any failure here (timeout, refusal, no answer) is logged
without the address (personal data) and answered with None.
"""

from __future__ import annotations

import functools
import logging
from urllib.parse import urlsplit

from django.conf import settings
from geopy.exc import GeopyError
from geopy.geocoders import Nominatim, Photon
from geopy.geocoders.base import Geocoder

from geo.points import LatLon

log = logging.getLogger(__name__)

KINDS = ("nominatim", "photon")


def remote_configured() -> bool:
    return bool(settings.GEO["GEOCODER"])


@functools.cache
def _build(kind: str, url: str, timeout: float, user_agent: str) -> Geocoder:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    domain = (parts.netloc + parts.path).rstrip("/")
    scheme = parts.scheme or "https"
    if kind == "nominatim":
        return Nominatim(domain=domain, scheme=scheme, timeout=timeout, user_agent=user_agent)
    if kind == "photon":
        return Photon(domain=domain, scheme=scheme, timeout=timeout, user_agent=user_agent)
    raise ValueError(f"GEOCODER must be one of {', '.join(KINDS)} or empty, not {kind!r}")


def remote_geocoder() -> Geocoder | None:
    """The configured geopy geocoder, built once per process and setting; None when none is configured."""
    cfg = settings.GEO
    if not cfg["GEOCODER"]:
        return None
    if not cfg["GEOCODER_URL"]:
        raise ValueError(
            "GEOCODER is set but GEOCODER_URL is empty: point it at your own Nominatim or Photon"
        )
    return _build(
        cfg["GEOCODER"].lower(), cfg["GEOCODER_URL"], cfg["GEOCODER_TIMEOUT"], cfg["GEOCODER_USER_AGENT"]
    )


def remote_geocode(address: str, *, bounds: tuple[float, float, float, float] | None = None) -> LatLon | None:
    """The remote geocoder's best point for `address`, kept within `bounds` (lon/lat) when given; or None."""
    geocoder = remote_geocoder()
    if geocoder is None or not address.strip():
        return None
    cfg = settings.GEO
    try:
        if isinstance(geocoder, Nominatim):
            found = geocoder.geocode(
                address,
                exactly_one=True,
                country_codes=cfg["GEOCODER_COUNTRY"] or None,
                viewbox=[(bounds[1], bounds[0]), (bounds[3], bounds[2])] if bounds else None,
                bounded=bounds is not None,
            )
        else:
            found = geocoder.geocode(address, exactly_one=True, bbox=_photon_bbox(bounds))
    except GeopyError as exc:
        log.warning("remote geocoder %s failed: %s", cfg["GEOCODER"], type(exc).__name__)
        return None
    if found is None:
        return None
    point = LatLon(float(found.latitude), float(found.longitude))
    if bounds and not (bounds[0] <= point.lon <= bounds[2] and bounds[1] <= point.lat <= bounds[3]):
        return None
    return point


def _photon_bbox(bounds: tuple[float, float, float, float] | None) -> list[tuple[float, float]] | None:
    if bounds is None:
        return None
    return [(bounds[1], bounds[0]), (bounds[3], bounds[2])]
