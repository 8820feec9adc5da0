"""The record of reads over REST: how a view records the read it is about to answer, and the supervisors' list."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from accounts.permissions import role_permission
from audit.models import Channel, PersonalDataRead
from audit.selectors import personal_data_reads
from audit.services import ReadNotRecorded, personal_data_read_record


class ReadNotRecordedError(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "audit_unavailable"
    default_detail = (
        "This answer holds personal data, and who reads it cannot be recorded right now, so it is not given. "
        "Try again shortly."
    )


def read_record(request: Request, *, what: str, incident_ids: Iterable[int], note: str = "") -> None:
    """Record the personal data this request is about to be sent (see `personal_data_read_record`).

    Raises a 503 in the contract's error shape when the record cannot be written; `note` is added to its
    message (e.g. that a write in the same request was kept)."""
    try:
        personal_data_read_record(
            user=request.user,
            channel=Channel.REST,
            what=what,
            incident_ids=incident_ids,
            path=request.path,  # never the query string, which may hold a caller's number
            remote_addr=request.META.get("REMOTE_ADDR"),
        )
    except ReadNotRecorded:
        raise ReadNotRecordedError(f"{ReadNotRecordedError.default_detail} {note}".strip()) from None


class PersonalDataReadSerializer(serializers.ModelSerializer):
    incident_ids = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = PersonalDataRead
        fields = [
            "id", "at", "user", "username", "role", "channel", "what", "incident_ids", "path", "remote_addr",
            "closed_at",
        ]  # fmt: skip
        read_only_fields = fields


class ReadsInput(serializers.Serializer):
    incident = serializers.IntegerField(
        min_value=1, max_value=2**62, required=False, allow_null=True, default=None
    )
    user = serializers.IntegerField(
        min_value=1, max_value=2**62, required=False, allow_null=True, default=None
    )
    since = serializers.DateTimeField(required=False, allow_null=True, default=None)
    until = serializers.DateTimeField(required=False, allow_null=True, default=None)
    before = serializers.IntegerField(
        min_value=1, max_value=2**62, required=False, allow_null=True, default=None,
        help_text="only rows with a smaller id: the next page is ?before=<the last id of this one>",
    )  # fmt: skip
    limit = serializers.IntegerField(min_value=1, max_value=1000, required=False, default=200)


class PersonalDataReadsView(APIView):
    """GET /api/v1/audit/reads/: who read personal data, newest first (supervisors only)."""

    permission_classes = [role_permission(Role.SUPERVISOR)]

    @extend_schema(parameters=[ReadsInput], responses=PersonalDataReadSerializer(many=True))
    def get(self, request: Request) -> Response:
        params = ReadsInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        p: dict[str, Any] = params.validated_data
        reads = personal_data_reads(
            incident_id=p["incident"],
            user_id=p["user"],
            since=p["since"],
            until=p["until"],
            before_id=p["before"],
        )
        return Response(PersonalDataReadSerializer(reads[: p["limit"]], many=True).data)
