"""Start-up: `lstm-pipeline --help`, and what importing the flow modules (as `prefect deploy` does) costs.

1. `.venv/bin/lstm-pipeline --help` wall time, median of 5, vs `python -c pass` (median of 5,
   interleaved). Target: under 1.5 s.
2. `import flows.train, flows.batch_forecast` in a fresh process: which heavy modules it pulls in
   (target: none of tensorflow, mlflow, great_expectations) and its in-process import time vs
   `import prefect` alone (medians of 3, interleaved; ratio reported, no target).
"""

from __future__ import annotations

import json

from _common import CLI, PYTHON, command_of, median, result, run

HEAVY = ("tensorflow", "keras", "mlflow", "great_expectations", "matplotlib", "scipy", "sklearn", "pandas")
FORBIDDEN = ("tensorflow", "mlflow", "great_expectations")
PROBE = """
import json, sys, time
t = time.perf_counter()
import {modules}
seconds = time.perf_counter() - t
print(json.dumps({{"seconds": seconds, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def probe(modules: str) -> dict:
    _, out, _ = run([PYTHON, "-c", PROBE.format(modules=modules, heavy=HEAVY)])
    return json.loads(out.strip().splitlines()[-1])


def cli_help() -> tuple[float, float]:
    helps, bare = [], []
    for _ in range(5):
        helps.append(run([CLI, "--help"])[0])
        bare.append(run([PYTHON, "-c", "pass"])[0])
    return median(helps), median(bare)


def flows_import() -> tuple[float, float, list[str]]:
    flows, prefect, heavy = [], [], set()
    for _ in range(3):
        found = probe("flows.train, flows.batch_forecast")
        flows.append(found["seconds"])
        heavy |= set(found["heavy"])
        prefect.append(probe("prefect")["seconds"])
    return median(flows), median(prefect), sorted(heavy)


def main() -> None:
    help_s, bare_s = cli_help()
    print(f"lstm-pipeline --help: {help_s:.2f} s (python -c pass {bare_s:.2f} s); target < 1.5 s")
    result(
        "lstm-pipeline --help",
        f"{help_s:.2f} s (python -c pass {bare_s:.2f} s)",
        help_s / bare_s,
        "< 1.5 s",
        help_s < 1.5,
        command_of("startup.py"),
    )
    flows_s, prefect_s, heavy = flows_import()
    bad = [m for m in heavy if m in FORBIDDEN]
    print(
        f"import flows.train, flows.batch_forecast: {flows_s:.2f} s vs import prefect {prefect_s:.2f} s "
        f"(x{flows_s / prefect_s:.2f}); heavy modules loaded: {', '.join(heavy) or 'none'}"
    )
    result(
        "import flows (prefect deploy) vs import prefect",
        f"{flows_s:.2f} s vs {prefect_s:.2f} s; heavy: {', '.join(heavy) or 'none'}",
        flows_s / prefect_s,
        "no tensorflow/mlflow/great_expectations",
        not bad,
        command_of("startup.py"),
    )


if __name__ == "__main__":
    main()
