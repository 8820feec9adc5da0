"""Places for the call-taker screen: search by a caller's words, reverse lookup of a point, hospitals."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import ALL_ROLES, CONSOLE_ROLES, role_permission
from geo import gazetteer
from geo.models import Facility
from geo.points import LatLon
from geo.serializers import (
    HospitalSerializer,
    PlaceSerializer,
    ReverseQuerySerializer,
    ReverseSerializer,
    SearchQuerySerializer,
)

# The contract's error body (accounts.errors), described once for the schema.
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": True},
            },
            "required": ["code", "message", "fields"],
        }
    },
    "required": ["error"],
}
_ERRORS = {
    400: OpenApiResponse(ERROR_SCHEMA, description="Invalid parameters; `error.fields` says which."),
    401: OpenApiResponse(ERROR_SCHEMA, description="No credentials."),
    403: OpenApiResponse(ERROR_SCHEMA, description="A role that may not call this."),
}


class GeoSearchView(APIView):
    permission_classes = [role_permission(*CONSOLE_ROLES)]

    @extend_schema(
        summary="Find a place from a caller's words",
        description=(
            "Offline gazetteer search over kelurahan, kecamatan, hospitals, puskesmas, landmarks and streets, "
            "tolerant of typos and Indonesian abbreviations (Jl., RS, RSUD, Pkm, Kel., Kec., alun2) and of "
            "words such as 'depan', 'dekat', 'samping'. Best first; never calls a remote service."
        ),
        parameters=[
            OpenApiParameter(
                "q",
                str,
                required=True,
                description="What the caller said: 'depan Matos', 'RSSA', 'Kel. Sukun'.",
            ),
            OpenApiParameter("limit", int, required=False, description="1-50, default 10."),
        ],
        responses={
            200: OpenApiResponse(
                PlaceSerializer(many=True),
                examples=[
                    OpenApiExample(
                        "depan Matos",
                        value={
                            "name": "Malang Town Square",
                            "kind": "landmark",
                            "category": "mall",
                            "location": {"lat": -7.9568, "lon": 112.6186},
                            "kelurahan": "Penanggungan",
                            "kecamatan": "Klojen",
                            "score": 100.0,
                            "matched": "matos",
                        },
                    )
                ],
            ),
            **_ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        params = SearchQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        places = gazetteer.search(params.validated_data["q"], limit=params.validated_data["limit"])
        return Response(PlaceSerializer(places, many=True).data)


class GeoReverseView(APIView):
    permission_classes = [role_permission(*ALL_ROLES)]

    @extend_schema(
        summary="What is at a point",
        description=(
            "Kelurahan and kecamatan containing the point, the nearest landmark and street (within 5 km), and "
            "whether the point is inside the service area grown by SERVICE_AREA_BUFFER_M."
        ),
        parameters=[
            OpenApiParameter("lat", float, required=True, description="WGS84 latitude, -90..90."),
            OpenApiParameter("lon", float, required=True, description="WGS84 longitude, -180..180."),
        ],
        responses={200: ReverseSerializer, **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        params = ReverseQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        point = LatLon(**params.validated_data)
        found = gazetteer.reverse(point)
        return Response(
            ReverseSerializer(
                {
                    "location": point,
                    "kelurahan": found.placement.kelurahan,
                    "kecamatan": found.placement.kecamatan,
                    "nearest": found.nearest,
                    "nearest_landmark": found.nearest_landmark,
                    "nearest_street": found.nearest_street,
                    "inside_service_area": found.placement.inside_service_area is not False,
                }
            ).data
        )


class HospitalListView(APIView):
    permission_classes = [role_permission(*ALL_ROLES)]

    @extend_schema(responses={200: HospitalSerializer(many=True), 401: _ERRORS[401], 403: _ERRORS[403]})
    def get(self, request: Request) -> Response:
        hospitals = Facility.objects.filter(kind=Facility.Kind.HOSPITAL)
        return Response(HospitalSerializer(hospitals, many=True).data)
