"""Where to take the patient: emergency departments ranked for one case, from where the ambulance is."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from geopy.distance import geodesic

from geo.models import Facility
from geo.points import LatLon
from geo.routing import Leg, travel_times_to


class Case(StrEnum):
    GENERAL = "general"
    MATERNITY = "maternity"  # mother and child: pregnancy, birth, babies and small children


# Words callers and call-takers use for a mother-and-child case (Bahasa Indonesia first, then English).
_MATERNITY = re.compile(
    r"\b(hamil\w*|melahirkan|lahiran|persalinan|bersalin|ketuban|kontraksi|nifas|keguguran|bayi|"
    r"balita|anak|pregnan\w*|labou?r|childbirth|miscarriage|newborn|infant|baby|child)\b",
    re.IGNORECASE,
)
# A mother-and-child hospital (RSIA) takes only those cases; specialist hospitals (RSK) take none from us.
MATERNITY_CATEGORIES = frozenset({"RSIA", "RSAB", "RSB"})
SPECIALIST_CATEGORIES = frozenset({"RSK"})
_ED_ORDER: dict[str, int] = {Facility.EdStatus.OPEN.value: 0, Facility.EdStatus.DIVERSION.value: 1}
# Road times are asked for only the nearest few of each group, so a province's hundreds of hospitals stay cheap.
NEAREST_PER_GROUP = 6


def case_for(*, complaint: str, notes: str = "") -> Case:
    """A mother-and-child case when the complaint (or notes) says so; a general one otherwise."""
    return Case.MATERNITY if _MATERNITY.search(f"{complaint} {notes}") else Case.GENERAL


@dataclass(frozen=True, slots=True)
class RankedHospital:
    hospital: Facility
    leg: Leg
    preferred: bool  # open and of the case's own kind: what the crew should pick first


def _tier(hospital: Facility, case: Case) -> int | None:
    """0 = the case's own kind of hospital, 1 = also suitable, None = not for this case."""
    category = hospital.category.strip().upper()
    kind = category.split("/")[0]  # "RSIA/RSAB" reads as RSIA
    if kind in SPECIALIST_CATEGORIES:
        return None
    if kind in MATERNITY_CATEGORIES:
        return 0 if case == Case.MATERNITY else None
    return 1 if case == Case.MATERNITY else 0


def hospitals_ranked_for(*, origin: LatLon, case: Case, limit: int = 8) -> list[RankedHospital]:
    """Emergency departments for `case` from `origin`: open before diversion, the case's own kind first,
    then by travel time (road where routable); closed ones never. Reads only."""
    groups: dict[tuple[int, int], list[Facility]] = {}
    hospitals = Facility.objects.filter(kind=Facility.Kind.HOSPITAL, has_emergency_department=True).exclude(
        ed_status=Facility.EdStatus.CLOSED
    )
    for hospital in hospitals:
        tier = _tier(hospital, case)
        if tier is not None:
            groups.setdefault((_ED_ORDER.get(hospital.ed_status, 2), tier), []).append(hospital)
    ranked: list[tuple[tuple[int, int, float], RankedHospital]] = []
    for (ed_order, tier), members in groups.items():
        members.sort(key=lambda h: geodesic((origin.lat, origin.lon), (h.lat, h.lon)).meters)
        for hospital in members[:NEAREST_PER_GROUP]:
            leg = travel_times_to(destination=LatLon(hospital.lat, hospital.lon), origins=[origin])[0]
            ranked.append(
                ((ed_order, tier, leg.duration_s), RankedHospital(hospital, leg, ed_order == 0 and tier == 0))
            )
    ranked.sort(key=lambda pair: pair[0])
    return [r for _, r in ranked[:limit]]
