from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from geopy.distance import geodesic
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import ALL_ROLES, CONSOLE_ROLES, role_permission
from geo import gazetteer
from geo.models import Facility
from geo.points import LatLon, finite_coordinate
from geo.regions import locate
from geo.serializers import HospitalSerializer


class SearchInput(serializers.Serializer):
    q = serializers.CharField(max_length=200)
    limit = serializers.IntegerField(min_value=1, max_value=50, required=False, default=10)


class GeoSearchView(APIView):
    permission_classes = [role_permission(*CONSOLE_ROLES)]

    @extend_schema(parameters=[SearchInput], responses={200: dict})
    def get(self, request: Request) -> Response:
        params = SearchInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        answers = []
        for place in gazetteer.search(params.validated_data["q"], limit=params.validated_data["limit"]):
            placement = locate(place.location)
            answers.append(
                {
                    "name": place.name,
                    "kind": place.kind,
                    "location": place.location.as_dict(),
                    "kelurahan": placement.kelurahan,
                    "kecamatan": placement.kecamatan,
                    "score": place.score,
                }
            )
        return Response(answers)


class ReverseInput(serializers.Serializer):
    lat = serializers.CharField(max_length=40)
    lon = serializers.CharField(max_length=40)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {
            "lat": finite_coordinate(attrs["lat"], "lat", 90.0),
            "lon": finite_coordinate(attrs["lon"], "lon", 180.0),
        }


class GeoReverseView(APIView):
    permission_classes = [role_permission(*ALL_ROLES)]

    @extend_schema(
        parameters=[OpenApiParameter("lat", float), OpenApiParameter("lon", float)], responses={200: dict}
    )
    def get(self, request: Request) -> Response:
        params = ReverseInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        point = LatLon(**params.validated_data)
        placement = locate(point)
        nearest = None
        box = 0.05
        nearby = Facility.objects.filter(
            lat__range=(point.lat - box, point.lat + box), lon__range=(point.lon - box, point.lon + box)
        )
        best = min(
            ((geodesic((f.lat, f.lon), (point.lat, point.lon)).meters, f) for f in nearby),
            key=lambda pair: pair[0],
            default=None,
        )
        if best is not None:
            nearest = {"name": best[1].name, "kind": best[1].kind, "distance_m": round(best[0], 1)}
        return Response(
            {
                "location": point.as_dict(),
                "kelurahan": placement.kelurahan,
                "kecamatan": placement.kecamatan,
                "nearest": nearest,
                "inside_service_area": placement.inside_service_area is not False,
            }
        )


class HospitalListView(APIView):
    permission_classes = [role_permission(*ALL_ROLES)]

    @extend_schema(responses=HospitalSerializer(many=True))
    def get(self, request: Request) -> Response:
        hospitals = Facility.objects.filter(kind=Facility.Kind.HOSPITAL)
        return Response(HospitalSerializer(hospitals, many=True).data)
