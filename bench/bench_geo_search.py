"""Gazetteer search and reverse-lookup latency (and search accuracy) on the real Kota Malang data.

    python -m bench geo_search [--data DIR] [--repeat N] [--database-url URL]

By default it needs no database server: a child process sets DATABASE_URL to a throwaway SQLite file in a
temporary directory, migrates it, imports DIR (default ../shared/data/malang, as `load_demo --data` does, with
the landmarks and aliases in geo/data/) and measures in-process calls of geo.gazetteer.search/reverse, each
including its cache-version query. --database-url measures against another database instead (it is migrated
and the places are imported into it: use a scratch database). Target: search p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "malang"
MARKER = "BENCH-RESULT "


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {
        "n": len(ordered),
        "mean_ms": round(statistics.fmean(ordered), 3),
        "p50_ms": at(0.50),
        "p90_ms": at(0.90),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1], 3),
    }


def _typo(query: str, rng: random.Random) -> str:
    """The query with one slip of the finger (drop, double, swap or replace a letter) in one longer word."""
    words = query.split()
    long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long_words:
        return query
    i = rng.choice(long_words)
    word, k = words[i], rng.randrange(1, len(words[i]) - 1)
    edit = rng.choice(["drop", "double", "swap", "replace"])
    if edit == "drop":
        word = word[:k] + word[k + 1 :]
    elif edit == "double":
        word = word[:k] + word[k] + word[k:]
    elif edit == "swap":
        word = word[: k - 1] + word[k] + word[k - 1] + word[k + 1 :]
    else:
        word = word[:k] + rng.choice("aiueokmnrst") + word[k + 1 :]
    words[i] = word
    return " ".join(words)


def _accuracy(cases: list, search) -> dict:
    top1 = top3 = 0
    for case in cases:
        found = search(case.query, limit=3)
        right = [case.is_right(kind=p.kind, kelurahan=p.kelurahan, kecamatan=p.kecamatan) for p in found]
        top1 += bool(right and right[0])
        top3 += any(right)
    return {"queries": len(cases), "top1": round(top1 / len(cases), 4), "top3": round(top3 / len(cases), 4)}


def _measure(data: Path, repeat: int) -> dict:
    """Runs inside the child process, with DATABASE_URL already pointing at the database to use."""
    import django

    django.setup()
    from django.core.management import call_command

    from dispatch.demo import demo_import_data
    from geo import gazetteer
    from geo.models import Region
    from geo.points import LatLon
    from tests.geo.malang_queries import ALL

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    imported = demo_import_data(data)
    import_s = time.perf_counter() - started
    started = time.perf_counter()
    index = gazetteer.gazetteer_index()
    build_s = time.perf_counter() - started

    accuracy = _accuracy(ALL, gazetteer.search)
    rng = random.Random(119)
    with_typo = [replace(case, query=_typo(case.query, rng)) for case in ALL]
    accuracy_typo = _accuracy(with_typo, gazetteer.search)

    search_ms, search_cpu_ms = [], []
    for _ in range(repeat):
        for case in ALL:
            t, c = time.perf_counter(), time.thread_time()
            gazetteer.search(case.query, limit=10)
            search_cpu_ms.append((time.thread_time() - c) * 1000)
            search_ms.append((time.perf_counter() - t) * 1000)

    # Reverse: every kelurahan's inner point, every facility, and random points over the city and beyond.
    from shapely.geometry import shape

    points = [
        LatLon(p.y, p.x)
        for p in (shape(r.geometry).representative_point() for r in Region.objects.filter(kind="kelurahan"))
    ]
    points += [t.location for t in index.targets if t.kind in gazetteer.POINT_KINDS]
    points += [LatLon(rng.uniform(-8.07, -7.89), rng.uniform(112.55, 112.71)) for _ in range(300)]
    reverse_ms, reverse_cpu_ms = [], []
    for _ in range(repeat):
        for point in points:
            t, c = time.perf_counter(), time.thread_time()
            gazetteer.reverse(point)
            reverse_cpu_ms.append((time.thread_time() - c) * 1000)
            reverse_ms.append((time.perf_counter() - t) * 1000)

    return {
        "database": django.conf.settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "imported": imported,
        "import_s": round(import_s, 2),
        "index": {
            "build_s": round(build_s, 3),
            "places": len(index.targets),
            "names": len(index.names),
            "words": len(index.vocab),
        },
        "accuracy": accuracy,
        "accuracy_one_typo": accuracy_typo,
        "search": _percentiles(search_ms),
        "search_cpu": _percentiles(search_cpu_ms),
        "reverse": _percentiles(reverse_ms),
        "reverse_cpu": _percentiles(reverse_cpu_ms),
        "load_average": os.getloadavg(),
    }


def _print(results: dict) -> None:
    acc, idx = results["accuracy"], results["index"]
    print(f"database: {results['database']}; imported {results['imported']} in {results['import_s']} s")
    print(
        f"index: {idx['places']} places, {idx['names']} names, {idx['words']} words, built in {idx['build_s']} s"
    )
    print(f"accuracy over {acc['queries']} Malang queries: top-1 {acc['top1']:.1%}, top-3 {acc['top3']:.1%}")
    typo = results["accuracy_one_typo"]
    print(
        f"the same queries with one random typing error each: top-1 {typo['top1']:.1%}, top-3 {typo['top3']:.1%}"
    )
    print(f"load average during the run: {', '.join(f'{x:.1f}' for x in results['load_average'])}")
    print("wall-clock per call (the target), and CPU time per call (what the code costs, whatever the load):")
    print(f"{'operation':<12}{'calls':>8}{'mean ms':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name in ("search", "search_cpu", "reverse", "reverse_cpu"):
        r = results[name]
        print(
            f"{name:<12}{r['n']:>8}{r['mean_ms']:>10.3f}{r['p50_ms']:>9.3f}{r['p90_ms']:>9.3f}"
            f"{r['p99_ms']:>9.3f}{r['max_ms']:>9.3f}"
        )
    verdict = "OK" if results["search"]["p99_ms"] < 20 else "OVER TARGET"
    print(f"search p99 target < 20 ms: {verdict}")


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench geo_search", description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="a city folder like shared/data/malang"
    )
    parser.add_argument("--repeat", type=int, default=5, help="passes over the query set (default 5)")
    parser.add_argument("--database-url", default="", help="measure on this (scratch) database instead")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)
    if args.worker:
        return _measure(args.data, args.repeat)
    if not (args.data / "malang_kelurahan_big2021.geojson").exists():
        print(f"skipped: no Malang data at {args.data} (give --data DIR)")
        return {"skipped": f"no data at {args.data}"}
    with tempfile.TemporaryDirectory(prefix="bench-geo-") as scratch:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DATABASE_URL": args.database_url or f"sqlite:///{scratch}/bench.sqlite3",
            "PSC_VAR_DIR": scratch,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
        }
        command = [sys.executable, "-m", "bench.bench_geo_search", "--worker", "--data", str(args.data)]
        child = subprocess.run(
            [*command, "--repeat", str(args.repeat)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if child.returncode != 0:
        raise SystemExit(f"benchmark worker failed:\n{child.stderr[-4000:]}")
    line = next(ln for ln in reversed(child.stdout.splitlines()) if ln.startswith(MARKER))
    results = json.loads(line.removeprefix(MARKER))
    _print(results)
    return results


if __name__ == "__main__":
    if "--worker" in sys.argv:
        print(MARKER + json.dumps(main(sys.argv[1:])))
    else:
        main(sys.argv[1:])
