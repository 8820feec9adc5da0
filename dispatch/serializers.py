"""Representations shared by REST answers, WebSocket events and snapshots (one shape per object)."""

from typing import Any

from rest_framework import serializers

from accounts.serializers import RepresentationSerializer
from calls.models import Incident
from calls.serializers import CallSerializer, IncidentSummarySerializer
from dispatch.models import ACTIVE_STATUSES, Assignment
from fleet.models import Unit
from fleet.serializers import StationSerializer, UnitBriefSerializer
from geo.points import LocationField


class HospitalBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class IncidentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    priority = serializers.IntegerField()


class AssignmentSerializer(RepresentationSerializer):
    incident = IncidentSummarySerializer(read_only=True)
    unit = UnitBriefSerializer(read_only=True)
    hospital = HospitalBriefSerializer(read_only=True, allow_null=True)
    # Only a pre-empting assignment has one (read then, by its own query: rare).
    diverted_from = IncidentRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Assignment
        fields = [
            "id", "incident", "unit", "status", "eta_seconds", "distance_m", "source", "hospital", "assigned_at",
            "acknowledged_at", "en_route_at", "on_scene_at", "transporting_at", "at_hospital_at", "cleared_at",
            "ended_at", "ended_reason", "automatic", "diverted_from",
        ]  # fmt: skip
        read_only_fields = fields


class AssignmentWithRouteSerializer(AssignmentSerializer):
    """The crew's view: the same assignment plus the road route to the scene."""

    route = serializers.JSONField(read_only=True)

    class Meta(AssignmentSerializer.Meta):
        fields = [*AssignmentSerializer.Meta.fields, "route"]
        read_only_fields = fields


class ActiveAssignmentBriefSerializer(RepresentationSerializer):
    incident = IncidentRefSerializer(read_only=True)

    class Meta:
        model = Assignment
        fields = ["id", "status", "incident"]


class UnitSerializer(RepresentationSerializer):
    location = LocationField(source="*", read_only=True)
    station = StationSerializer(read_only=True, allow_null=True)
    active_assignment = serializers.SerializerMethodField()

    class Meta:
        model = Unit
        fields = [
            "id", "call_sign", "kind", "owner", "status", "status_reason", "status_at", "location", "location_at",
            "heading", "speed", "accuracy", "capacity", "station", "active_assignment",
        ]  # fmt: skip
        read_only_fields = fields

    def get_active_assignment(self, obj: Unit) -> dict[str, Any] | None:
        active = getattr(obj, "active_assignments", None)
        if active is None:
            active = [
                a for a in obj.assignments.select_related("incident").filter(status__in=ACTIVE_STATUSES)
            ]
        return ActiveAssignmentBriefSerializer(active[0]).data if active else None


class IncidentSerializer(IncidentSummarySerializer):
    calls = CallSerializer(many=True, read_only=True)
    assignments = AssignmentSerializer(many=True, read_only=True)

    class Meta(IncidentSummarySerializer.Meta):
        model = Incident
        fields = [
            *IncidentSummarySerializer.Meta.fields, "geocoding", "notes", "calls", "assignments", "created_at",
            "updated_at", "closed_at", "cancel_reason",
        ]  # fmt: skip
        read_only_fields = fields
