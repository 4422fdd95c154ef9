"""Time ``import covidimg`` in fresh processes, beside the imports it used to pull in.

Each figure is the median wall time of a fresh ``python -c`` running the statement, minus the
median of a bare ``python -c pass`` measured in the same run (the interpreter's own start):

- ``import covidimg`` (target < 150 ms; only the package's errors load),
- ``import covidimg; covidimg.Cohort`` (the first use: pandas and pyarrow come with it),
- baselines ``import pandas`` and ``import pandas, pyarrow, pydicom``.

Run: ``python benchmarks/import_time.py [--repeats 15]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from _common import median

STATEMENTS = {
    "import covidimg": "import covidimg",
    "import covidimg; covidimg.Cohort": "import covidimg; covidimg.Cohort",
    "baseline: import pandas": "import pandas",
    "baseline: import pandas, pyarrow, pydicom": "import pandas, pyarrow, pydicom",
}
TARGET_MS = 150


def wall(statement: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    names = ["python -c pass", *STATEMENTS]
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits all alike
        times["python -c pass"].append(wall("pass"))
        for name, statement in STATEMENTS.items():
            times[name].append(wall(statement))
    start_ms = median(times["python -c pass"]) * 1000
    print(f"interpreter start (python -c pass): {start_ms:.0f} ms (subtracted below)")
    pandas_ms = median(times["baseline: import pandas"]) * 1000 - start_ms
    for name in STATEMENTS:
        ms = median(times[name]) * 1000 - start_ms
        line = f"{name:45s} {ms:7.0f} ms   {ms / pandas_ms:5.2f}x import pandas"
        if name == "import covidimg":
            line += f"   target < {TARGET_MS} ms: {'met' if ms < TARGET_MS else 'MISSED'}"
        print(line)


if __name__ == "__main__":
    main()
