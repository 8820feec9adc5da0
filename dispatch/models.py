from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from fleet.models import UnitStatus


class AssignmentStatus(models.TextChoices):
    ASSIGNED = "assigned", _("Assigned")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    EN_ROUTE = "en_route", _("En route")
    ON_SCENE = "on_scene", _("Arrived on scene")
    TRANSPORTING = "transporting", _("Transporting patient")
    AT_HOSPITAL = "at_hospital", _("Arrived at hospital")
    CLEARED = "cleared", _("Cleared")
    DECLINED = "declined", _("Declined")
    EXPIRED = "expired", _("No answer")
    CANCELLED = "cancelled", _("Cancelled")


S = AssignmentStatus
ACTIVE_STATUSES = (S.ASSIGNED, S.ACKNOWLEDGED, S.EN_ROUTE, S.ON_SCENE, S.TRANSPORTING, S.AT_HOSPITAL)
ENDED_STATUSES = (S.CLEARED, S.DECLINED, S.EXPIRED, S.CANCELLED)

# The one transition table. A crew may skip the separate acknowledgement by departing at once.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.ASSIGNED: frozenset({S.ACKNOWLEDGED, S.EN_ROUTE, S.DECLINED, S.EXPIRED, S.CANCELLED}),
    S.ACKNOWLEDGED: frozenset({S.EN_ROUTE, S.CANCELLED}),
    S.EN_ROUTE: frozenset({S.ON_SCENE, S.CANCELLED}),
    S.ON_SCENE: frozenset({S.TRANSPORTING, S.CLEARED, S.CANCELLED}),
    S.TRANSPORTING: frozenset({S.AT_HOSPITAL, S.CANCELLED}),
    S.AT_HOSPITAL: frozenset({S.CLEARED, S.CANCELLED}),
}
# Who may ask for which status over the API; `expired` is the system's alone.
CREW_STATUSES = frozenset(
    {S.ACKNOWLEDGED, S.EN_ROUTE, S.ON_SCENE, S.TRANSPORTING, S.AT_HOSPITAL, S.CLEARED, S.DECLINED}
)
DISPATCHER_STATUSES = CREW_STATUSES | {S.CANCELLED}

# The unit's status while its assignment is in each active status.
UNIT_STATUS_FOR: dict[str, str] = {
    S.ASSIGNED: UnitStatus.ASSIGNED,
    S.ACKNOWLEDGED: UnitStatus.ASSIGNED,
    S.EN_ROUTE: UnitStatus.EN_ROUTE,
    S.ON_SCENE: UnitStatus.ON_SCENE,
    S.TRANSPORTING: UnitStatus.TRANSPORTING,
    S.AT_HOSPITAL: UnitStatus.AT_HOSPITAL,
}


class Assignment(models.Model):
    incident = models.ForeignKey("calls.Incident", on_delete=models.PROTECT, related_name="assignments")
    unit = models.ForeignKey("fleet.Unit", on_delete=models.PROTECT, related_name="assignments")
    status = models.CharField(max_length=16, choices=AssignmentStatus.choices, default=S.ASSIGNED)
    eta_seconds = models.FloatField(null=True, blank=True)
    distance_m = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=16, default="geodesic")
    route = models.JSONField(
        null=True, blank=True, help_text="GeoJSON LineString from the unit to the incident"
    )
    hospital = models.ForeignKey(
        "geo.Facility", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    assigned_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    en_route_at = models.DateTimeField(null=True, blank=True)
    on_scene_at = models.DateTimeField(null=True, blank=True)
    transporting_at = models.DateTimeField(null=True, blank=True)
    at_hospital_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=200, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    automatic = models.BooleanField(default=False)
    # Pre-emption: the priority-3 incident this unit was taken off for this job, so that the crew is told
    # on any phone, however it (re)connects.
    diverted_from = models.ForeignKey(
        "calls.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            # The last word on "no unit ever holds two active assignments".
            models.UniqueConstraint(
                fields=["unit"],
                condition=models.Q(status__in=ACTIVE_STATUSES),
                name="one_active_assignment_per_unit",
            ),
            models.CheckConstraint(condition=models.Q(status__in=S.values), name="assignment_status_valid"),
            models.CheckConstraint(
                condition=models.Q(source__in=["road", "geodesic"]), name="assignment_source_valid"
            ),
        ]
        indexes = [models.Index(fields=["status", "assigned_at"])]
        ordering = ["assigned_at", "id"]

    def __str__(self) -> str:
        return f"{self.unit_id} → {self.incident_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def can_move_to(self, status: str) -> bool:
        return status in TRANSITIONS.get(self.status, frozenset())


class StatusChange(models.Model):
    """Who changed which status when: append-only; a crew tap's `client_id` makes its replay a no-op."""

    class Subject(models.TextChoices):
        ASSIGNMENT = "assignment", _("Assignment")
        UNIT = "unit", _("Unit")
        INCIDENT = "incident", _("Incident")

    subject = models.CharField(max_length=16, choices=Subject.choices)
    assignment = models.ForeignKey(
        Assignment, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    unit = models.ForeignKey("fleet.Unit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    incident = models.ForeignKey(
        "calls.Incident", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    at = models.DateTimeField(help_text="when it happened (a crew's offline tap keeps its own time)")
    recorded_at = models.DateTimeField(auto_now_add=True)
    # PROTECT: who acted stays in the record; staff are deactivated, never deleted.
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    client_id = models.UUIDField(null=True, blank=True, unique=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.subject} {self.from_status}→{self.to_status} at {self.at:%Y-%m-%d %H:%M:%S}"


class Event(models.Model):
    """The append-only record of what clients were told; its id is the stream `seq` used for replay."""

    type = models.CharField(max_length=32)
    at = models.DateTimeField()
    data = models.JSONField()
    incident_id = models.BigIntegerField(null=True, blank=True)
    unit_id = models.BigIntegerField(null=True, blank=True, help_text="the unit stream that also sees it")
    for_console = models.BooleanField(default=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    # Not stored: set when written, each stream's seq before this event (what its broadcast carries).
    stream_prev: dict[str, int | None]

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["unit_id", "id"]), models.Index(fields=["incident_id", "id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type}"


class EventStream(models.Model):
    """The newest `seq` of each stream (the console's, each unit's), kept under the event lock.

    Every broadcast carries its stream's previous `seq`, so a client relay knows at once whether it missed
    anything: it reads the record only for a real gap, not for every event that others' events interleave."""

    key = models.CharField(max_length=32, primary_key=True)
    last_seq = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.key} @ {self.last_seq}"


class Camera(models.Model):
    """A city CCTV camera from the command centre's registry: where it looks and how to open its view."""

    name = models.CharField(max_length=200, unique=True)
    place = models.CharField(max_length=300, blank=True, help_text="where it is, as people name it")
    lat = models.FloatField()
    lon = models.FloatField()
    stream_url = models.URLField(max_length=500, blank=True, help_text="the live view (a web page or stream)")
    snapshot_url = models.URLField(
        max_length=500, blank=True, help_text="a still image, refreshed by the camera"
    )
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lat__gte=-90, lat__lte=90, lon__gte=-180, lon__lte=180),
                name="camera_location_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(stream_url="", snapshot_url=""), name="camera_has_a_view"
            ),
            # The screens open these URLs: only web addresses, never `javascript:` or `data:`.
            models.CheckConstraint(
                condition=(
                    (
                        models.Q(stream_url="")
                        | models.Q(stream_url__startswith="http://")
                        | models.Q(stream_url__startswith="https://")
                    )
                    & (
                        models.Q(snapshot_url="")
                        | models.Q(snapshot_url__startswith="http://")
                        | models.Q(snapshot_url__startswith="https://")
                    )
                ),
                name="camera_urls_are_web",
            ),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# Kept in its own module; imported here so that Django registers it with the app's models.
from dispatch.alerts import AlertAcknowledgement  # noqa: E402, F401
