"""Hospitals' emergency department status, set by dispatchers: `POST /api/v1/hospitals/{id}/status/`."""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from accounts.permissions import role_permission
from dispatch import events
from geo.models import Facility
from geo.serializers import HospitalSerializer


def hospital_ed_status_set(*, hospital_id: int, ed_status: str, by: Any) -> Facility | None:
    """Set a hospital's ED status (None: no such hospital); locks the facility; records `hospital.updated`
    when it changed (a repeated status is a no-op). Hospital recommendations read it at once."""
    with events.atomic():
        hospital = (
            Facility.objects.select_for_update().filter(pk=hospital_id, kind=Facility.Kind.HOSPITAL).first()
        )
        if hospital is None:
            return None
        if hospital.ed_status != ed_status:
            hospital.ed_status = ed_status
            hospital.save(update_fields=["ed_status", "updated_at"])
            events.hospital_updated(hospital, actor=by)
        return hospital


class HospitalStatusInput(serializers.Serializer):
    ed_status = serializers.ChoiceField(choices=Facility.EdStatus.values)


class HospitalStatusView(APIView):
    permission_classes = [role_permission(Role.DISPATCHER)]

    @extend_schema(request=HospitalStatusInput, responses=HospitalSerializer)
    def post(self, request: Request, pk: int) -> Response:
        body = HospitalStatusInput(data=request.data)
        body.is_valid(raise_exception=True)
        hospital = hospital_ed_status_set(
            hospital_id=pk, ed_status=body.validated_data["ed_status"], by=request.user
        )
        if hospital is None:
            raise NotFound("No such hospital.")
        return Response(HospitalSerializer(hospital).data)


urlpatterns = [path("hospitals/<int:pk>/status/", HospitalStatusView.as_view(), name="hospital-status")]
