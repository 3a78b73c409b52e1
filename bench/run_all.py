"""Run every benchmark in sequence (each in its own process), then print one summary table.

Usage: .venv/bin/python bench/run_all.py [--all] [--json results.json] [script.py ...]
By default the four scripts of the Speed issue, the AirPassengers accuracy benchmark (about 9-11
minutes on 2 busy cores) and the Dask sweep (about 4 more); --all adds every other bench/*.py.
Each script prints `RESULT {json}` lines (see _common.result); this collects them.
Exits 1 only if a script crashed; a missed target is a result, not an error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import PYTHON, ROOT

SCRIPTS = (
    "startup.py",
    "trainer_vs_seed.py",
    "large_data.py",
    "train_flow_cold.py",
    "accuracy.py",
    "sweep_dask.py",
)
NOISE = ("I0000 ", "E0000 ", "W0000 ", "WARNING: All log messages", "To enable the following instructions")


def run_script(name: str) -> tuple[float, int, list[dict]]:
    """Stream one script's output (minus TensorFlow's start-up chatter); return seconds, exit code, results."""
    print(f"== {name}  (load average before: {os.getloadavg()[0]:.2f})", flush=True)
    started = time.perf_counter()
    proc = subprocess.Popen([PYTHON, ROOT / "bench" / name], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    results = []
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("RESULT "):
            results.append(json.loads(line[len("RESULT ") :]))
        elif not line.startswith(NOISE):
            print(f"  {line}", end="", flush=True)
    code, seconds = proc.wait(), time.perf_counter() - started
    print(f"== {name} done in {seconds:.1f} s (load average over the last minute: {os.getloadavg()[0]:.2f})")
    return seconds, code, results


def others() -> list[str]:
    """The other benchmark scripts in bench/ (not helpers, not this runner)."""
    found = sorted(p.name for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_"))
    return [name for name in found if name not in (*SCRIPTS, "run_all.py")]


def summary(rows: list[dict], timings: dict[str, tuple[float, int]]) -> None:
    """The results as a Markdown table (pastes into BENCHMARKS.md), then the time each script took."""
    print("\n| measure | figure | ratio | target | met |\n|---|---|---:|---|---|")
    for row in rows:
        met = ("yes" if row["met"] else "**no**") if row["target"] else "-"
        print(f"| {row['measure']} | {row['figure']} | {row['ratio']:.2f} | {row['target']} | {met} |")
    print()
    for name, (seconds, code) in timings.items():
        print(f"{name:24s} {seconds:6.1f} s  exit {code}")
    print(f"{'total':24s} {sum(s for s, _ in timings.values()):6.1f} s")


def main() -> int:
    args = sys.argv[1:]
    out = Path(args.pop(args.index("--json") + 1)) if "--json" in args else None
    names = [a for a in args if a.endswith(".py")] or [*SCRIPTS, *(others() if "--all" in args else [])]
    rows, timings = [], {}
    for name in names:
        seconds, code, results = run_script(name)
        timings[name] = (seconds, code)
        rows += results or [
            {
                "measure": name,
                "figure": "(no RESULT line: see its output)",
                "ratio": float("nan"),
                "target": "",
                "met": True,
            }
        ]
    summary(rows, timings)
    if skipped := [n for n in others() if n not in names]:
        print(f"not run (use --all): {', '.join(skipped)}")
    if out:
        out.write_text(json.dumps({"results": rows, "seconds": timings}, indent=2), encoding="utf-8")
    return 1 if any(code for _, code in timings.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
