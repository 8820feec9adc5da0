from typing import Any

from rest_framework import serializers

from accounts.serializers import RepresentationSerializer
from geo.models import Facility
from geo.points import LocationField, finite_coordinate


class HospitalSerializer(RepresentationSerializer):
    location = LocationField(source="*", read_only=True)

    class Meta:
        model = Facility
        fields = [
            "id",
            "name",
            "kind",
            "category",
            "address",
            "location",
            "ed_status",
            "has_emergency_department",
        ]


PLACE_KINDS = ["hospital", "puskesmas", "landmark", "street", "kelurahan", "kecamatan"]


class PlaceSerializer(serializers.Serializer):
    """One candidate for a caller's words (geo.gazetteer.Place)."""

    name = serializers.CharField(help_text="As imported, e.g. 'Malang Town Square' or 'Jalan Kawi'.")
    kind = serializers.ChoiceField(choices=PLACE_KINDS)
    category = serializers.CharField(help_text="RSU, PKM, mall, pasar, kampus, jalan, alamat, ... or ''.")
    location = LocationField(
        help_text="For a street: its middle, or its part in the kelurahan named with it."
    )
    kelurahan = serializers.CharField(help_text="'' outside every kelurahan, and for a kecamatan.")
    kecamatan = serializers.CharField()
    score = serializers.FloatField(min_value=0, max_value=100, help_text="How well the words match, 0-100.")
    matched = serializers.CharField(help_text="The name or alias that matched, normalised.")


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        max_length=200, help_text="What the caller said: 'depan Matos', 'Jl. Ijen dekat gereja', 'RSSA'."
    )
    limit = serializers.IntegerField(min_value=1, max_value=50, required=False, default=10)


class ReverseQuerySerializer(serializers.Serializer):
    lat = serializers.CharField(max_length=40, help_text="WGS84 latitude, -90..90.")
    lon = serializers.CharField(max_length=40, help_text="WGS84 longitude, -180..180.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {
            "lat": finite_coordinate(attrs["lat"], "lat", 90.0),
            "lon": finite_coordinate(attrs["lon"], "lon", 180.0),
        }


class NearbySerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=PLACE_KINDS)
    distance_m = serializers.FloatField(min_value=0)
    location = LocationField(
        help_text="The nearest point of that place (on a street: the foot of the point)."
    )


class ReverseSerializer(serializers.Serializer):
    location = LocationField()
    kelurahan = serializers.CharField(help_text="'' when the point is in no imported kelurahan.")
    kecamatan = serializers.CharField()
    nearest = NearbySerializer(allow_null=True, help_text="The nearest named place within 5 km, of any kind.")
    nearest_landmark = NearbySerializer(allow_null=True, help_text="The nearest facility or landmark.")
    nearest_street = NearbySerializer(allow_null=True, help_text="The nearest street with line data.")
    inside_service_area = serializers.BooleanField(
        help_text="Inside the service area grown by SERVICE_AREA_BUFFER_M; true when no area is configured."
    )
