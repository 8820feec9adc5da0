"""Web Push for the crew's phones: a new job rings the phone even when the app is closed or the screen is off.

The phone subscribes with its browser's push service (Google's, Mozilla's, Apple's) and hands the subscription
in (POST /api/v1/crew/push/; POST …/push/withdraw/ at logout: dispatch/crew.py). When a unit is given a job, a Celery task sends each of its crew's subscriptions
a message encrypted for that browser alone (RFC 8291) and signed with the server's VAPID key (RFC 8292); the
service worker shows it as a notification that opens the app. It carries the job's number, priority and
kelurahan only: what the crew must see of the caller is read in the app, where the read is recorded.

Push is a wake-up on top of the unit's stream, never instead of it: a push that does not arrive changes
nothing (the acknowledgement timeout still sends another unit). Without a VAPID key configured it is off.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import PushSubscription, Role
from dispatch.models import Assignment, AssignmentStatus

log = logging.getLogger(__name__)

# A push service answers these for a subscription that has ended (the app was uninstalled, the user revoked it).
GONE = (404, 410)


def _vapid() -> Any:
    """The server's VAPID key (py_vapid), or None when push is off."""
    return _vapid_from(settings.WEBPUSH["VAPID_PRIVATE_KEY"].strip())


@functools.cache
def _vapid_from(key: str) -> Any:
    from py_vapid import Vapid02  # RFC 8292's "Authorization: vapid t=, k=" (Vapid01 signs draft-01's form)

    if not key or key.lower() == "off":
        return None
    try:
        if key.startswith("-----BEGIN"):
            return Vapid02.from_pem(key.encode())
        path = Path(key)
        if not path.exists():
            _key_file_make(path)
        return Vapid02.from_file(str(path))
    except (
        Exception
    ):  # a broken key or a data dir it cannot be written to: push off, said once, nothing else fails
        log.error("Web Push is off: no usable VAPID key from WEBPUSH_VAPID_PRIVATE_KEY", exc_info=True)
        return None


def _key_file_make(path: Path) -> None:
    """A new key in `path`, made whole by exactly one process: others starting at the same moment read that one."""
    from py_vapid import Vapid01

    path.parent.mkdir(parents=True, exist_ok=True)
    vapid = Vapid01()
    vapid.generate_keys()
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".vapid-", delete=False) as handle:
        handle.write(vapid.private_pem())
    written = Path(handle.name)
    try:
        written.chmod(0o600)
        os.link(written, path)  # atomic, and refused if another process linked its key first
    except FileExistsError:
        pass
    finally:
        written.unlink()


def enabled() -> bool:
    return _vapid() is not None


def subscribed(*, unit_id: int) -> bool:
    """Whether a job for this unit has anyone to ring by push (one EXISTS; no task is sent for nobody)."""
    return enabled() and _crew_subscriptions(unit_id).exists()


def _crew_subscriptions(unit_id: int) -> Any:
    return PushSubscription.objects.filter(user__unit_id=unit_id, user__role=Role.CREW, user__is_active=True)


def public_key() -> str:
    """The application server key the browser subscribes with (base64url of the uncompressed P-256 point)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    vapid = _vapid()
    if vapid is None:
        return ""
    raw = vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64url_bytes(value: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None


def _on_p256(raw: bytes) -> bool:
    """A point of the curve, not just 65 bytes: every push to a false one would fail, and never be forgotten."""
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        return False
    return True


def endpoint_allowed(url: str) -> bool:
    """Only a known push service is ever posted to: the server must not become a way to reach anything else."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and not settings.WEBPUSH["REQUIRE_HTTPS"]):
        return False
    host = (parts.hostname or "").lower()
    return any(host == allowed or host.endswith("." + allowed) for allowed in settings.WEBPUSH["PUSH_HOSTS"])


def p256dh_valid(value: str) -> bool:
    """A browser's public key as a subscription gives it: base64url of an uncompressed point of P-256."""
    raw = _b64url_bytes(value)
    return raw is not None and len(raw) == 65 and raw[0] == 4 and _on_p256(raw)


def auth_valid(value: str) -> bool:
    """A subscription's authentication secret: base64url of 16 bytes."""
    raw = _b64url_bytes(value)
    return raw is not None and len(raw) == 16


# --- Sending -----------------------------------------------------------------------------------


def _message(assignment: Assignment, language: str) -> str:
    incident = assignment.incident
    with translation.override(language or settings.LANGUAGE_CODE):
        title = _("New job: priority %(priority)s") % {"priority": incident.priority}
        place = ", ".join(p for p in (incident.kelurahan, incident.kecamatan) if p)
        body = f"{incident.number} · {place}" if place else incident.number
    return json.dumps(
        {
            "type": "assignment.created",
            "assignment": assignment.pk,
            "incident": {"id": incident.pk, "number": incident.number, "priority": incident.priority},
            "title": title,
            "body": body,
        }
    )


def assignment_push(*, assignment_id: int) -> int:
    """Ring the unit's crew phones for a job just given; how many push services took the message.

    Nothing is sent once the crew has answered or the job was taken back: the stream has told them by then."""
    from pywebpush import WebPushException, webpush

    vapid = _vapid()
    if vapid is None:
        return 0
    assignment = (
        Assignment.objects.select_related("incident")
        .filter(pk=assignment_id, status=AssignmentStatus.ASSIGNED)
        .first()
    )
    if assignment is None:
        return 0
    subscriptions = _crew_subscriptions(assignment.unit_id).select_related("user")
    delivered = []
    for subscription in subscriptions:
        try:
            webpush(
                {
                    "endpoint": subscription.endpoint,
                    "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
                },
                data=_message(assignment, subscription.user.language),
                vapid_private_key=vapid,
                vapid_claims={"sub": settings.WEBPUSH["SUBJECT"]},
                # Past the acknowledgement timeout the job has gone to another unit: the message is worthless.
                ttl=int(settings.DISPATCH["ACK_TIMEOUT_SECONDS"]),
                headers={"Urgency": "high", "Topic": f"assignment-{assignment.pk}"},
                timeout=settings.WEBPUSH["TIMEOUT_SECONDS"],
            )
        except WebPushException as exc:
            code = exc.response.status_code if exc.response is not None else None
            if code in GONE:
                log.info("push subscription %s has ended (%s): forgotten", subscription.pk, code)
                subscription.delete()
            else:
                log.warning("push to subscription %s failed: %s", subscription.pk, exc)
            continue
        except Exception:  # the push service unreachable: the stream and the ack timeout still stand
            log.warning("push to subscription %s failed", subscription.pk, exc_info=True)
            continue
        delivered.append(subscription.pk)
    if delivered:
        PushSubscription.objects.filter(pk__in=delivered).update(sent_at=timezone.now())
    return len(delivered)
