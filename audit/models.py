"""Who received personal data (UU 27/2022): the reads. Changes are in `dispatch.Event`, with their actor."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    REST = "rest", _("REST API")
    WEBSOCKET = "websocket", _("WebSocket")


class What(models.TextChoices):
    """What was read: each names one place where personal data leaves the server."""

    INCIDENT = "incident", _("Incident")
    INCIDENT_LIST = "incident_list", _("Incident list")
    ASSIGNMENT = "assignment", _("Assignment")
    CALL_ANSWER = "call_answer", _("Answer to a recorded call (possible duplicates)")
    CALL_SEARCH = "call_search", _("Caller's history search")
    CREW_CURRENT = "crew_current", _("Crew's current job")
    CREW_HOSPITALS = "crew_hospitals", _("Crew's hospital choice")
    CONSOLE_SNAPSHOT = "console_snapshot", _("Console snapshot")
    CONSOLE_REPLAY = "console_replay", _("Console replay")
    CONSOLE_STREAM = "console_stream", _("Console live stream")
    UNIT_SNAPSHOT = "unit_snapshot", _("Unit snapshot")
    UNIT_REPLAY = "unit_replay", _("Unit replay")
    UNIT_STREAM = "unit_stream", _("Unit live stream")


STREAMS = frozenset({What.CONSOLE_STREAM, What.UNIT_STREAM})
# As plain strings in a fixed order: the partial index's condition must not change between makemigrations runs.
STREAM_VALUES = sorted(str(w) for w in STREAMS)


class PersonalDataRead(models.Model):
    """One read of personal data by one user: who, when, through what, about which incidents.

    It holds no personal data itself (no number, name, address or search term), only incident ids; the path is
    the request's, without its query string. Append-only: rows are written by `audit.services` and deleted only
    by retention (AUDIT_RETENTION_DAYS). A live stream is one row from its opening; the event record says what
    it was sent, and `closed_at` when it ended (empty while open). Its server process moves `seen_at` forward
    every AUDIT_STREAM_HEARTBEAT_SECONDS; when a process dies without closing its streams, the sweep closes
    them at their `seen_at`, the last moment they were known to be open.
    """

    at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150, help_text="kept when the user is deleted")
    role = models.CharField(max_length=16)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    what = models.CharField(max_length=32, choices=What.choices)
    incident_ids = models.JSONField(default=list, help_text="the incidents whose personal data was sent")
    path = models.CharField(max_length=200, blank=True, help_text="without the query string")
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="streams: when the client left")
    seen_at = models.DateTimeField(
        null=True, blank=True, help_text="streams: last known open (its server's heartbeat)"
    )

    class Meta:
        indexes = [
            models.Index(fields=["at"]),
            models.Index(fields=["user", "at"]),
            # The sweep looks for abandoned streams every few seconds: only the open ones are indexed, a few
            # rows per connected client, whatever the years of reads behind them.
            models.Index(
                fields=["seen_at"],
                condition=models.Q(closed_at__isnull=True, what__in=STREAM_VALUES),
                name="personaldataread_open_streams",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(channel__in=Channel.values), name="personaldataread_channel_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.username} {self.what} {self.at:%Y-%m-%d %H:%M:%S}"
