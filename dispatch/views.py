"""REST interfaces: parse, call one service or selector, render. Paths and fields follow docs/api.md."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role, User
from accounts.permissions import ALL_ROLES, CONSOLE_ROLES, role_permission
from accounts.text import PlainTextField
from audit.models import What
from audit.views import read_record
from calls.models import IncidentStatus
from calls.phones import InvalidPhone, phone_to_e164
from dispatch import policies, reports, selectors, services
from dispatch.models import CREW_STATUSES, DISPATCHER_STATUSES, Assignment
from dispatch.positions import PositionsInput, positions_parsed
from dispatch.ranking import units_free_for
from dispatch.serializers import (
    AssignmentSerializer,
    AssignmentWithRouteSerializer,
    IncidentSerializer,
    UnitSerializer,
)
from fleet.models import MANUAL_STATUSES, Unit
from geo.points import LocationField


def _run(fn: Any, **kwargs: Any) -> Any:
    """Call a service, turning its domain errors into the contract's 4xx answers."""
    try:
        return fn(**kwargs)
    except services.NotFound as exc:
        raise NotFound(f"No such {exc.what}.") from None
    except services.Invalid as exc:
        raise ValidationError(exc.fields) from None


def _user(request: Request) -> User:
    """The authenticated user (every view here requires one, through its role permission)."""
    return cast(User, request.user)


def _is_crew(request: Request) -> bool:
    return _user(request).role == Role.CREW


def _shown_to(request: Request, data: Any) -> Any:
    """The read-only role (viewer) never gets callers' personal data, here as on the WebSocket streams."""
    from dispatch.events import redact

    return redact(data) if _user(request).role == Role.VIEWER else data


def _require_own_unit(request: Request, unit_id: int) -> None:
    if _is_crew(request) and _user(request).unit_id != unit_id:
        raise PermissionDenied("A crew acts for its own unit only.")


# --- Calls and incidents -----------------------------------------------------------------------


class CallInput(serializers.Serializer):
    caller_phone = serializers.CharField(max_length=32)
    caller_name = PlainTextField(max_length=120, required=False, allow_blank=True, default="")
    location = LocationField(required=False, allow_null=True, default=None)
    address = PlainTextField(max_length=500, required=False, allow_blank=True, default="")
    complaint = PlainTextField(max_length=500)
    priority = serializers.IntegerField(min_value=1, max_value=3)
    patient_count = serializers.IntegerField(min_value=0, max_value=200, required=False, default=1)
    notes = PlainTextField(max_length=4000, required=False, allow_blank=True, default="")
    incident = serializers.IntegerField(
        min_value=1, max_value=2**62, required=False, allow_null=True, default=None
    )
    client_id = serializers.UUIDField(required=False, allow_null=True, default=None)

    def validate_caller_phone(self, value: str) -> str:
        try:
            return phone_to_e164(value)
        except InvalidPhone as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (
            attrs.get("location") is None
            and not attrs.get("address", "").strip()
            and attrs.get("incident") is None
        ):
            raise serializers.ValidationError({"location": "A location or an address is required."})
        return attrs


class CallsView(APIView):
    permission_classes = [role_permission(Role.CALL_TAKER, Role.DISPATCHER)]

    @extend_schema(request=CallInput, responses={201: dict})
    def post(self, request: Request) -> Response:
        body = CallInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = _run(
            services.call_record,
            user=request.user,
            caller_phone=data["caller_phone"],
            caller_name=data["caller_name"],
            complaint=data["complaint"],
            priority=data["priority"],
            location=data["location"],
            address=data["address"].strip(),
            patient_count=data["patient_count"],
            notes=data["notes"],
            incident_id=data["incident"],
            client_id=data["client_id"],
        )
        from calls.serializers import CallSerializer

        answer = {
            "call": CallSerializer.represent(result.call),
            # A new call's incident was read fresh with its calls and assignments; a replayed one is read here.
            "incident": IncidentSerializer.represent(
                result.incident
                if result.created
                else selectors.incidents_with_detail().get(pk=result.incident.pk)
            ),
            "possible_duplicates": [IncidentSerializer.represent(i) for i in result.possible_duplicates],
        }
        # Other callers' data: the possible duplicates, and the incident when this call joined or replayed one.
        joined = data["incident"] is not None or not result.created
        read_record(
            request,
            what=What.CALL_ANSWER,
            incident_ids=[
                *([result.incident.pk] if joined else []),
                *(i.pk for i in result.possible_duplicates),
            ],
            note="The call itself was saved: send it again with the same client_id for this answer.",
        )
        return Response(answer, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class IncidentListView(APIView):
    permission_classes = [role_permission(*CONSOLE_ROLES)]

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=["open", *IncidentStatus.values])],
        responses=IncidentSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        wanted = request.query_params.get("status")
        incidents = selectors.incidents_with_detail().order_by("-received_at", "-id")
        if wanted == "open":
            incidents = selectors.incidents_open().order_by("-received_at", "-id")
        elif wanted:
            if wanted not in IncidentStatus.values:
                raise ValidationError({"status": "Unknown status."})
            incidents = incidents.filter(status=wanted)
        try:
            limit = min(int(request.query_params.get("limit", 200)), 1000)
        except ValueError:
            raise ValidationError({"limit": "A whole number is required."}) from None
        shown = IncidentSerializer(incidents[: max(limit, 1)], many=True).data
        read_record(request, what=What.INCIDENT_LIST, incident_ids=[i["id"] for i in shown])
        return Response(_shown_to(request, shown))


class IncidentDetailView(APIView):
    permission_classes = [role_permission(*ALL_ROLES)]

    @extend_schema(responses=IncidentSerializer)
    def get(self, request: Request, pk: int) -> Response:
        incident = selectors.incidents_with_detail().filter(pk=pk).first()
        if incident is None:
            raise NotFound("No such incident.")
        if (
            _is_crew(request)
            and not incident.assignments.filter(unit_id=_user(request).unit_id or 0).exists()
        ):
            raise PermissionDenied("A crew sees only the incidents its unit was sent to.")
        read_record(request, what=What.INCIDENT, incident_ids=[incident.pk])
        return Response(_shown_to(request, IncidentSerializer(incident).data))


class RecommendationsView(APIView):
    permission_classes = [role_permission(Role.DISPATCHER, Role.SUPERVISOR)]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, pk: int) -> Response:
        from calls.models import Incident

        incident = Incident.objects.filter(pk=pk).first()
        if incident is None:
            raise NotFound("No such incident.")
        # Ranked by the active policy (issue 7), so `reason` explains what auto-dispatch would do.
        ranked = list(policies.units_ranked(incident, list(selectors.units_with_assignment().filter(
            pk__in=units_free_for(incident).values("pk")))))  # fmt: skip
        return Response(
            {
                "incident": incident.pk,
                "units": [
                    {
                        "unit": UnitSerializer(c.unit).data,
                        "eta_seconds": round(c.leg.duration_s, 1),
                        "distance_m": round(c.leg.distance_m, 1),
                        "source": c.leg.source,
                        "score": round(c.score, 1),
                        "from_station": c.from_station,
                        "reason": c.reason,
                    }
                    for c in ranked
                ],
            }
        )


class AssignmentInput(serializers.Serializer):
    unit = serializers.IntegerField(min_value=1, max_value=2**62)
    replace = serializers.IntegerField(
        min_value=1, max_value=2**62, required=False, allow_null=True, default=None
    )


class IncidentAssignmentsView(APIView):
    permission_classes = [role_permission(Role.DISPATCHER)]

    @extend_schema(request=AssignmentInput, responses={201: AssignmentSerializer})
    def post(self, request: Request, pk: int) -> Response:
        body = AssignmentInput(data=request.data)
        body.is_valid(raise_exception=True)
        assignment = _run(
            services.assignment_create,
            incident_id=pk,
            unit_id=body.validated_data["unit"],
            replace_id=body.validated_data["replace"],
            by=request.user,
        )
        return Response(AssignmentSerializer.represent(assignment), status=status.HTTP_201_CREATED)


class CancelInput(serializers.Serializer):
    reason = PlainTextField(max_length=500)


class IncidentCancelView(APIView):
    permission_classes = [role_permission(Role.DISPATCHER)]

    @extend_schema(request=CancelInput, responses=IncidentSerializer)
    def post(self, request: Request, pk: int) -> Response:
        body = CancelInput(data=request.data)
        body.is_valid(raise_exception=True)
        incident = _run(
            services.incident_cancel, incident_id=pk, reason=body.validated_data["reason"], by=request.user
        )
        return Response(IncidentSerializer.represent(incident))


# --- Units -------------------------------------------------------------------------------------


class UnitListView(APIView):
    permission_classes = [role_permission(*ALL_ROLES)]

    @extend_schema(responses=UnitSerializer(many=True))
    def get(self, request: Request) -> Response:
        units = selectors.units_with_assignment()
        if _is_crew(request):
            units = units.filter(pk=_user(request).unit_id or 0)
        return Response(UnitSerializer(units, many=True).data)


class UnitDetailView(APIView):
    permission_classes = [role_permission(*ALL_ROLES)]

    @extend_schema(responses=UnitSerializer)
    def get(self, request: Request, pk: int) -> Response:
        unit = selectors.units_with_assignment().filter(pk=pk).first()
        if unit is None:
            raise NotFound("No such unit.")
        _require_own_unit(request, unit.pk)
        return Response(UnitSerializer(unit).data)


class UnitPositionsView(APIView):
    permission_classes = [role_permission(Role.CREW)]

    @extend_schema(request=PositionsInput, responses={202: dict})
    def post(self, request: Request, pk: int) -> Response:
        # A crew's own unit exists (the service says so otherwise); another unit: 404 before 403.
        if _user(request).unit_id != pk and not Unit.objects.filter(pk=pk).exists():
            raise NotFound("No such unit.")
        _require_own_unit(request, pk)
        positions = positions_parsed(request.data)
        accepted = _run(services.unit_positions_record, unit_id=pk, positions=positions, by=request.user)
        return Response({"accepted": accepted}, status=status.HTTP_202_ACCEPTED)


class UnitStatusInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=[str(s) for s in MANUAL_STATUSES])


class UnitStatusView(APIView):
    permission_classes = [role_permission(Role.CREW, Role.DISPATCHER)]

    @extend_schema(request=UnitStatusInput, responses=UnitSerializer)
    def post(self, request: Request, pk: int) -> Response:
        if not Unit.objects.filter(pk=pk).exists():
            raise NotFound("No such unit.")
        _require_own_unit(request, pk)
        body = UnitStatusInput(data=request.data)
        body.is_valid(raise_exception=True)
        unit = _run(
            services.unit_set_status, unit_id=pk, status=body.validated_data["status"], by=request.user
        )
        return Response(UnitSerializer(unit).data)


class AssignmentStatusInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=sorted(str(s) for s in DISPATCHER_STATUSES))
    at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    hospital = serializers.IntegerField(
        min_value=1, max_value=2**62, required=False, allow_null=True, default=None
    )
    client_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    reason = PlainTextField(max_length=200, required=False, allow_blank=True, default="")


class AssignmentStatusView(APIView):
    permission_classes = [role_permission(Role.CREW, Role.DISPATCHER)]

    @extend_schema(request=AssignmentStatusInput, responses=AssignmentSerializer)
    def post(self, request: Request, pk: int) -> Response:
        assignment = Assignment.objects.filter(pk=pk).only("id", "unit_id").first()
        if assignment is None:
            raise NotFound("No such assignment.")
        _require_own_unit(request, assignment.unit_id)
        body = AssignmentStatusInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if _is_crew(request) and data["status"] not in CREW_STATUSES:
            raise PermissionDenied("Only a dispatcher can cancel an assignment.")
        result = _run(
            services.assignment_transition,
            assignment_id=pk,
            status=data["status"],
            by=request.user,
            at=data["at"],
            hospital_id=data["hospital"],
            client_id=data["client_id"],
            reason=data["reason"],
        )
        return Response(AssignmentSerializer.represent(result))


class AssignmentDetailView(APIView):
    permission_classes = [role_permission(*ALL_ROLES)]

    @extend_schema(responses=AssignmentWithRouteSerializer)
    def get(self, request: Request, pk: int) -> Response:
        assignment = selectors.assignments_with_detail().filter(pk=pk).first()
        if assignment is None:
            raise NotFound("No such assignment.")
        _require_own_unit(request, assignment.unit_id)
        read_record(request, what=What.ASSIGNMENT, incident_ids=[assignment.incident_id])
        return Response(AssignmentWithRouteSerializer(assignment).data)


# --- Me, reports, health -----------------------------------------------------------------------


class MeView(APIView):
    permission_classes = [role_permission(*ALL_ROLES)]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        user = _user(request)
        unit = selectors.units_with_assignment().filter(pk=user.unit_id).first() if user.unit_id else None
        return Response(
            {
                "username": user.get_username(),
                "role": user.role,
                "unit": UnitSerializer(unit).data if unit else None,
                "language": request.LANGUAGE_CODE
                if hasattr(request, "LANGUAGE_CODE")
                else settings.LANGUAGE_CODE,
            }
        )


class ReportInput(serializers.Serializer):
    since = serializers.DateTimeField(required=False, allow_null=True, default=None)
    until = serializers.DateTimeField(required=False, allow_null=True, default=None)
    priority = serializers.IntegerField(
        min_value=1, max_value=3, required=False, allow_null=True, default=None
    )
    kecamatan = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")


class ResponseTimesView(APIView):
    permission_classes = [role_permission(Role.SUPERVISOR, Role.DISPATCHER)]

    @extend_schema(parameters=[ReportInput], responses={200: dict})
    def get(self, request: Request) -> Response:
        params = ReportInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(reports.response_time_report(**params.validated_data))
