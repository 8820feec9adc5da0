from rest_framework import serializers

from geo.models import Facility
from geo.points import LocationField


class HospitalSerializer(serializers.ModelSerializer):
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
