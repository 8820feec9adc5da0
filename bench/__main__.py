"""Run benchmarks. Each bench/bench_<name>.py has `main(argv: list[str]) -> dict` that prints its own table and
returns its results; they are written to bench/results/<name>.json with the machine and the time."""

import argparse
import importlib
import json
import os
import pkgutil
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(HERE)])
        if m.name.startswith("bench_")
    )


def python_speed_ms() -> float:
    """Milliseconds for `sum(range(10**6))`, best of five: how fast this machine runs Python today, so that runs
    on different (shared, virtual) machines can be set side by side. A few hundred ms to take."""
    import timeit

    return round(min(timeit.repeat("sum(range(10**6))", number=1, repeat=5)) * 1000, 1)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {', '.join(available())}")
    args, rest = parser.parse_known_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    speed = python_speed_ms()
    print(f"machine: {os.cpu_count()} CPUs, sum(range(10**6)) in {speed} ms", flush=True)
    for name in args.names or available():
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"\n== {name} ==", flush=True)
        results = module.main(rest)
        record = {
            "benchmark": name,
            "at": datetime.now(UTC).isoformat(),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "python_speed_ms": speed,
            },
            "results": results,
        }
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(record, indent=2, default=str))
        print(f"written {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
