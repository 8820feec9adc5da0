"""System checks of the dispatch settings (`manage.py check --deploy`)."""

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def webpush_subject_reachable(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """Push services may refuse a server whose contact is nobody's: Apple answers 403 to an @localhost one, and
    the iPhones of the crews would never ring (a failed push is only logged)."""
    if settings.WEBPUSH["VAPID_PRIVATE_KEY"].strip().lower() in ("", "off"):
        return []
    subject = settings.WEBPUSH["SUBJECT"].strip()
    if subject.startswith(("mailto:", "https://")) and "localhost" not in subject:
        return []
    return [
        Warning(
            f"WEBPUSH_SUBJECT {subject!r} is no contact a push service can reach.",
            hint="Set WEBPUSH_SUBJECT=mailto:<the operator's address> (or https://<its site>), or "
            "WEBPUSH_VAPID_PRIVATE_KEY=off to turn Web Push off.",
            id="dispatch.W001",
        )
    ]
