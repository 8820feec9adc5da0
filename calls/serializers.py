from accounts.serializers import RepresentationSerializer
from calls.models import Call, Incident
from geo.points import LocationField


class CallSerializer(RepresentationSerializer):
    location = LocationField(source="*", read_only=True)

    class Meta:
        model = Call
        fields = [
            "id", "incident", "caller_phone", "caller_name", "location", "address", "complaint", "priority",
            "patient_count", "notes", "received_at", "client_id",
        ]  # fmt: skip
        read_only_fields = fields


class IncidentSummarySerializer(RepresentationSerializer):
    """What a crew needs of the incident it is sent to, and what nests inside an assignment."""

    location = LocationField(source="*", read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id", "number", "status", "priority", "complaint", "location", "address", "kecamatan", "kelurahan",
            "patient_count", "outside_service_area", "received_at", "nearest_place",
        ]  # fmt: skip
        read_only_fields = fields
