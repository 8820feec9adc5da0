"""`python manage.py posting_plan --units N [--json out.json]`: the best posting of N units against today's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.errors import Conflict
from dispatch.posting import MAX_UNITS, posting_current, posting_data, posting_plan


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


class Command(BaseCommand):
    help = (
        "Which posts (posts, puskesmas, hospitals) cover the city best with N units (maximal expected coverage "
        "within the response target, by kelurahan demand), compared with today's posting."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--units", type=int, default=0, help="units to post (default: today's in service)"
        )
        parser.add_argument("--json", type=Path, default=None, help="also write the result to this file")

    def handle(self, *args: Any, **options: Any) -> None:
        units = options["units"] or sum(n for _, n in posting_current())
        if not 1 <= units <= MAX_UNITS:
            raise CommandError(
                f"--units must be between 1 and {MAX_UNITS} (no units in service to default to)"
            )
        try:
            data = posting_data(posting_plan(units=units))
        except Conflict as exc:
            raise CommandError(str(exc.detail)) from None
        out = self.stdout.write
        out(f"Posting plan for {units} units, target {data['target_seconds']:.0f} s (road times in min:s)")
        out("")
        plan = {(p["site"]["kind"], p["site"]["id"]): p for p in data["plan"]["posts"]}
        current = {(p["site"]["kind"], p["site"]["id"]): p for p in data["current"]["posts"]}
        out(f"{'site':<44}{'kind':<11}{'today':>7}{'plan':>7}")
        for key in [*current, *(k for k in plan if k not in current)]:
            site = (plan.get(key) or current[key])["site"]
            today = current.get(key, {}).get("units", 0)
            planned = plan.get(key, {}).get("units", 0)
            out(f"{site['name'][:43]:<44}{site['kind']:<11}{today:>7}{planned:>7}")
        out("")
        out(f"{'':<44}{'today':>12}{'plan':>12}")
        for label, figure, fmt in (
            ("expected coverage", "expected_coverage", lambda v: f"{v * 100:.1f} %"),
            ("demand within the target", "covered_share", lambda v: f"{v * 100:.1f} %"),
            ("nearest post by road, median", "median_s", _minutes),
            ("nearest post by road, p90", "p90_s", _minutes),
        ):
            out(f"{label:<44}{fmt(data['current'][figure]):>12}{fmt(data['plan'][figure]):>12}")
        out("")
        out(f"{'kecamatan: demand within the target':<44}{'today':>12}{'plan':>12}")
        for row in data["kecamatan"]:
            out(
                f"{row['name']:<44}{row['current_covered_share'] * 100:>10.1f} %"
                f"{row['plan_covered_share'] * 100:>10.1f} %"
            )
        if options["json"] is not None:
            options["json"].write_text(json.dumps(data, indent=2))
            out(f"written {options['json']}")
