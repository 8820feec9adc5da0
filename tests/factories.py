"""factory_boy factories for the domain; build what a test needs and nothing more."""

import factory
from django.utils import timezone

from accounts.models import Role, User
from calls.models import Call, Incident
from fleet.models import Station, Unit
from geo.models import Facility

# Kota Malang, around the Alun-alun: realistic points for every test.
CENTRE = (-7.9826, 112.6308)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.VIEWER
    password = factory.django.Password("pass-1234")


class StationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Station

    name = factory.Sequence(lambda n: f"Pos {n}")
    lat = CENTRE[0]
    lon = CENTRE[1]


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Unit

    call_sign = factory.Sequence(lambda n: f"U-{n:02d}")
    kind = Unit.Kind.ALS
    owner = Unit.Owner.PSC
    station = factory.SubFactory(StationFactory)
    lat = factory.LazyAttribute(lambda u: u.station.lat if u.station else CENTRE[0])
    lon = factory.LazyAttribute(lambda u: u.station.lon if u.station else CENTRE[1])
    location_at = factory.LazyFunction(timezone.now)


class HospitalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Facility

    kind = Facility.Kind.HOSPITAL
    category = "RSU"
    name = factory.Sequence(lambda n: f"RS Contoh {n}")
    lat = -7.972567
    lon = 112.631546
    has_emergency_department = True


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    priority = 2
    complaint = "sesak napas"
    lat = CENTRE[0]
    lon = CENTRE[1]
    address = "Alun-alun Malang"
    received_at = factory.LazyFunction(timezone.now)
    number = factory.Sequence(lambda n: f"T-{n:05d}")


class CallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Call

    incident = factory.SubFactory(IncidentFactory)
    caller_phone = "+6281234567890"
    complaint = factory.SelfAttribute("incident.complaint")
    priority = factory.SelfAttribute("incident.priority")
    lat = factory.SelfAttribute("incident.lat")
    lon = factory.SelfAttribute("incident.lon")
    received_at = factory.LazyFunction(timezone.now)


class AssignmentFactory(factory.django.DjangoModelFactory):
    """A bare assignment row with the timestamps a test gives it (services build real ones)."""

    class Meta:
        model = "dispatch.Assignment"

    incident = factory.SubFactory(IncidentFactory)
    unit = factory.SubFactory(UnitFactory)
    status = "assigned"
    assigned_at = factory.LazyFunction(timezone.now)
