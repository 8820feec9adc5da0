from accounts.serializers import RepresentationSerializer
from fleet.models import Station, Unit
from geo.points import LocationField


class StationSerializer(RepresentationSerializer):
    location = LocationField(source="*", read_only=True)

    class Meta:
        model = Station
        fields = ["id", "name", "location"]
        read_only_fields = fields


class UnitBriefSerializer(RepresentationSerializer):
    class Meta:
        model = Unit
        fields = ["id", "call_sign", "kind", "owner"]
        read_only_fields = fields
