"""`python manage.py simulate`: simulated days of 119 calls through the real dispatch code, one policy or several.

It never touches the configured database: it runs on a throwaway in-memory SQLite database that it migrates
and fills itself (the Malang demo posts and hospitals, the regions from --data or, failing that, copied from
the configured database), and every run is rolled back on it besides.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from dispatch import simulation as sim
from dispatch.policies import policies_available, policy_get
from dispatch.reports import INTERVALS, figures_summary
from geo.models import Region

SHARED_MALANG = Path(settings.BASE_DIR).parent / "shared" / "data" / "malang"


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _value(cell: dict[str, Any], digits: int = 1) -> str:
    if cell.get("mean") is None:
        return "-"
    half = cell.get("ci95")
    return f"{cell['mean']:.{digits}f}" + ("" if half is None else f" ± {half:.{digits}f}")


class Command(BaseCommand):
    help = (
        "Simulate 119 calls in Malang through the project's own dispatch services on a simulated clock, and "
        "report response times by priority (one policy, or --compare several on the same calls)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=float, default=0.0, help="simulated hours (added to --days)")
        parser.add_argument(
            "--days", type=float, default=0.0, help="simulated days (default 1; 30 with --compare)"
        )
        parser.add_argument("--calls-per-day", type=float, default=2.5, help="mean calls a day (2021: ~2.5)")
        parser.add_argument("--units", type=int, default=25, help="ambulances, spread over the 8 demo posts")
        parser.add_argument(
            "--standby-puskesmas", action="store_true",
            help="make every puskesmas a post without units of its own, where move-up may station units",
        )  # fmt: skip
        parser.add_argument(
            "--posting", choices=("demo", "plan"), default="demo",
            help="where the units wait: the demo posts, or where the posting plan (posting_plan) puts them",
        )  # fmt: skip
        parser.add_argument(
            "--policy", default="road", help=f"dispatch policy: {', '.join(policies_available())}"
        )
        parser.add_argument("--compare", default="", help="comma-separated policies to run on the same calls")
        parser.add_argument("--seed", type=int, default=1, help="first random seed")
        parser.add_argument(
            "--seeds", type=int, default=0, help="number of seeds (default 1; 4 with --compare)"
        )
        parser.add_argument(
            "--data", type=Path, default=None, help="city data folder (default ../shared/data/malang)"
        )
        parser.add_argument(
            "--validate", action="store_true", help="run the validation gate first (always with --compare)"
        )
        parser.add_argument("--json", type=Path, default=None, help="write the results to this file")
        parser.add_argument(
            "--merge", type=Path, nargs="+", default=None,
            help="compare the runs of these --json files (e.g. seeds run in parallel) instead of simulating",
        )  # fmt: skip
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["merge"]:
            self._merge(options["merge"], options["json"])
            return
        policies = [p.strip() for p in options["compare"].split(",") if p.strip()] or [options["policy"]]
        comparing = bool(options["compare"])
        try:
            for name in policies:
                policy_get(name)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        hours = options["days"] * 24 + options["hours"] or (
            sim.MINIMUM_COMPARISON_DAYS * 24 if comparing else 24.0
        )
        n_seeds = options["seeds"] or (sim.MINIMUM_COMPARISON_SEEDS if comparing else 1)
        seeds = list(range(options["seed"], options["seed"] + n_seeds))
        if options["units"] < 1 or options["calls_per_day"] <= 0 or hours <= 0:
            raise CommandError("--units, --calls-per-day and the duration must be positive")
        data_dir = options["data"] or (SHARED_MALANG if SHARED_MALANG.exists() else None)
        if data_dir is not None and not data_dir.exists():
            raise CommandError(f"no such folder: {data_dir}")
        copied_regions = (
            None
            if data_dir
            else list(Region.objects.values("kind", "name", "code", "geometry", "population"))
        )

        _use_throwaway_database()
        call_command("migrate", verbosity=0, interactive=False)
        if copied_regions:
            Region.objects.bulk_create(Region(**r) for r in copied_regions)
        world = sim.world_build(
            units=options["units"], data_dir=data_dir, standby_puskesmas=options["standby_puskesmas"],
            planned=options["posting"] == "plan",
        )  # fmt: skip
        areas = sim.demand_areas(data_dir=data_dir)
        assumptions = sim.Assumptions()
        out = self.stdout.write
        engine_note = (
            "geodesic estimate (no road network in service: build_road_network; 'road' and 'straight' then "
            "rank alike)"
            if world.engine == "geodesic"
            else f"road engine {world.engine}"
        )
        out(
            f"Database: throwaway in-memory SQLite (migrated here; every run rolled back). Travel times: {engine_note}."
        )
        out(
            f"{hours:g} simulated hours, {options['calls_per_day']:g} calls/day, {options['units']} units at "
            f"{len(world.posts)} posts"
            f"{' (every puskesmas a standby post)' if options['standby_puskesmas'] else ''}"
            f"{', placed by the posting plan' if options['posting'] == 'plan' else ''}, calls by kelurahan {sim.demand_basis(areas)}, seeds {seeds}, "
            f"policies {', '.join(policies)}."
        )
        record: dict[str, Any] = {
            "hours": hours, "calls_per_day": options["calls_per_day"], "units": options["units"], "seeds": seeds,
            "policies": policies, "standby_puskesmas": options["standby_puskesmas"], "posting": options["posting"],
            "engine": world.engine, "database": "throwaway in-memory SQLite",
            "demand": sim.demand_basis(areas), "assumptions": assumptions.describe(),
        }  # fmt: skip

        if comparing or options["validate"]:
            gate = sim.validation_gate(world=world, areas=areas)
            out(
                f"Validation gate ({gate.samples} calls, units idle at posts, no turnout): "
                f"{'PASSED' if gate.passed else 'FAILED'}; largest difference from a direct geo query "
                f"{gate.max_difference_s:.6f} s; nearest post sent {gate.nearest_post_taken}/{gate.samples}."
            )
            record["validation_gate"] = {k: v for k, v in vars(gate).items()}
            if not gate.passed:
                self._write(options["json"], record)
                raise CommandError("the validation gate failed: comparisons would not count")
        if comparing and (hours < sim.MINIMUM_COMPARISON_DAYS * 24 or n_seeds < sim.MINIMUM_COMPARISON_SEEDS):
            out(self.style.WARNING(
                f"Below {sim.MINIMUM_COMPARISON_DAYS} days x {sim.MINIMUM_COMPARISON_SEEDS} seeds: indicative only."
            ))  # fmt: skip

        results = self._run_all(world, areas, assumptions, policies, seeds, hours, options)
        record["runs"] = [
            {"policy": r.policy, "seed": r.seed, "calls": r.calls, "wall_s": round(r.wall_s, 2),
             "invariants": r.invariants, "metrics": sim.run_metrics(r), "report": r.summary()}
            for r in results
        ]  # fmt: skip
        for policy in policies:
            rows = [row for r in results if r.policy == policy for row in r.rows]
            pooled = figures_summary(rows)
            record.setdefault("pooled", {})[policy] = pooled
            self._print_pooled(policy, pooled, len(seeds))
        if len(results) > 1:
            comp = sim.comparison(results, policies)
            record["comparison"] = comp
            self._print_comparison(comp, policies, len(seeds))
        broken = [
            r
            for r in results
            if r.invariants["open_incidents_at_end"] or r.invariants["active_assignments_at_end"]
        ]
        if broken:
            raise CommandError(
                f"runs ended with open incidents or active assignments: {[vars(r) for r in broken][:1]}"
            )
        self._write(options["json"], record)

    def _run_all(self, world: sim.World, areas: list[sim.DemandArea], assumptions: sim.Assumptions,
                 policies: list[str], seeds: list[int], hours: float, options: dict[str, Any]) -> list[sim.RunResult]:  # fmt: skip
        from tqdm import tqdm

        tqdm.monitor_interval = 0  # its monitor thread would read the simulated clock
        bar = tqdm(
            total=round(hours * len(seeds) * len(policies), 1),
            unit="sim-h",
            disable=options["no_progress"] or None,
            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} simulated h [{elapsed}<{remaining}]",
        )
        results = []
        for seed in seeds:
            calls = sim.calls_draw(
                areas=areas,
                assumptions=assumptions,
                calls_per_day=options["calls_per_day"],
                hours=hours,
                seed=seed,
            )
            for policy in policies:
                bar.set_description(f"{policy} seed {seed}")
                done = [0.0]

                def progress(at_s: float, done: list[float] = done) -> None:
                    now_h = hours if math.isinf(at_s) else min(at_s / 3600, hours)
                    bar.update(now_h - done[0])
                    done[0] = now_h

                results.append(
                    sim.simulation_run(world=world, calls=calls, policy=policy, seed=seed, assumptions=assumptions,
                                       progress=progress)
                )  # fmt: skip
        bar.close()
        return results

    def _print_pooled(self, policy: str, pooled: dict[str, Any], n_seeds: int) -> None:
        out = self.stdout.write
        out("")
        out(f"Policy {policy}: {pooled['incidents']} incidents over {n_seeds} seed(s) (times in min:s)")
        out(f"{'interval':<17}{'priority':>9}{'count':>7}{'mean':>9}{'median':>9}{'p90':>9}")
        for interval in INTERVALS:
            for priority, table in pooled["by_priority"].items():
                f = table[interval]
                out(f"{interval:<17}{priority:>9}{f['count']:>7}{_minutes(f['mean']):>9}"
                    f"{_minutes(f['median']):>9}{_minutes(f['p90']):>9}")  # fmt: skip
        within = pooled["priority_1_within"]
        parts = [
            f"within {m} min {w['share'] * 100:.1f} % ({w['reached']}/{w['of']})" if w["share"] is not None else f"within {m} min -"
            for m, w in within.items()
        ]  # fmt: skip
        out("Priority 1 reached " + "; ".join(parts))

    def _merge(self, paths: list[Path], out_path: Path | None) -> None:
        """Print the comparison of runs saved by earlier --json runs with the same scenario and policies."""
        records = [json.loads(p.read_text()) for p in paths]
        scenario = ("hours", "calls_per_day", "units", "policies", "engine", "standby_puskesmas", "posting")
        for record, p in zip(records[1:], paths[1:], strict=True):
            different = [k for k in scenario if record.get(k) != records[0].get(k)]
            if different:
                raise CommandError(f"{p} differs from {paths[0]} in {', '.join(different)}")
        policies = records[0]["policies"]
        per_run = {(r["policy"], r["seed"]): r["metrics"] for record in records for r in record["runs"]}
        seeds = sorted({seed for _, seed in per_run})
        if len(per_run) != len(seeds) * len(policies):
            raise CommandError("every policy must have run on every seed (the comparison is paired)")
        self.stdout.write(
            f"Merged {len(paths)} file(s): {records[0]['hours']:g} simulated hours, "
            f"{records[0]['calls_per_day']:g} calls/day, {records[0]['units']} units, seeds {seeds}, "
            f"engine {records[0]['engine']}."
        )
        comp = sim.comparison_of_metrics(per_run, policies)
        self._print_comparison(comp, policies, len(seeds))
        merged = {k: records[0].get(k) for k in (*scenario, "demand", "assumptions")}
        merged |= {
            "seeds": seeds,
            "runs": [r for record in records for r in record["runs"]],
            "comparison": comp,
        }
        self._write(out_path, merged)

    def _print_comparison(self, comp: dict[str, Any], policies: list[str], n_seeds: int) -> None:
        out = self.stdout.write
        base = policies[0]
        out("")
        out(
            f"Comparison: mean over {n_seeds} seed(s) ± 95 % CI half-width; Δ = paired difference from {base}"
        )
        header = (
            f"{'metric':<32}"
            + "".join(f"{p:>18}" for p in policies)
            + "".join(f"{'Δ ' + p:>18}" for p in policies[1:])
        )
        out(header)
        for key, label in sim.METRICS:
            row = comp[key]
            cells = "".join(f"{_value(row[p]):>18}" for p in policies)
            deltas = "".join(f"{_value(row[p]['difference_from_' + base]):>18}" for p in policies[1:])
            out(f"{label:<32}{cells}{deltas}")
        if len(policies) > 1:
            out("")
            out(f"Relative to {base} (paired, per seed; mean ± 95 % CI half-width, %):")
            for key, label in (("all_late_8_pct", "late arrivals (> 8 min)"),
                               ("all_response_mean_min", "mean response"),
                               ("p1_response_mean_min", "P1 mean response")):  # fmt: skip
                cells = "".join(f"{_value(comp[key][p]['relative_to_' + base]):>18}" for p in policies[1:])
                out(f"{label:<32}{cells}")

    def _write(self, path: Path | None, record: dict[str, Any]) -> None:
        if path is None:
            return
        path.write_text(json.dumps(record, indent=2, default=_json_default))
        self.stdout.write(f"written {path}")


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    return str(value)


def _use_throwaway_database() -> None:
    """Point the default connection at a fresh in-memory SQLite database for the rest of this process."""
    connections["default"].close()
    if hasattr(connections["default"], "close_pool"):
        connections["default"].close_pool()  # a PostgreSQL pool is kept per alias: never serve it again here
    config = dict(connections.settings["default"])
    config.update(
        ENGINE="django.db.backends.sqlite3", NAME=":memory:", USER="", PASSWORD="", HOST="", PORT="",
        CONN_MAX_AGE=0, CONN_HEALTH_CHECKS=False, OPTIONS={"transaction_mode": "IMMEDIATE"},
    )  # fmt: skip
    connections.settings["default"] = config
    del connections["default"]
