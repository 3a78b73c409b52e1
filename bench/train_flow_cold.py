"""The whole train flow, cold, vs the bare seed script; then where the flow's time goes.

Reference: the seed example as a script (numpy + tensorflow.keras, 95 windows, LSTM(50, relu),
fit(epochs=200), predict), written to a temp dir and run in a fresh `python` process; run once
before and once after the flows, the mean is the reference.
Candidate: `.venv/bin/lstm-pipeline train --config configs/seed.yaml` in a fresh process with
LSTM_PIPELINE_HOME (MLflow store, outputs) and PREFECT_HOME in temporary folders:
  A  first run on a machine : both homes new (Prefect database and MLflow store are created)
  B  stores exist           : the same command again in the same homes
  C  cold                   : a new LSTM_PIPELINE_HOME (new MLflow SQLite store), Prefect home from A
Target: flow wall time / seed wall time <= 1.0.
Breakdown: from the timestamps of Prefect's INFO log lines (server start, flow start, each task's
"Finished in state", the fit-model task's "trained N steps in X s") and the process's start and
end; with --imports, also `import X` wall time for the heavy libraries, each in a fresh process
(about 20 s more, so `make bench` leaves it out).
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path

from _common import CLI, PYTHON, command_of, result, run

SEED_SCRIPT = textwrap.dedent(
    """\
    import numpy as np
    from tensorflow.keras.models import Sequential
    from tensorflow.keras.layers import LSTM, Dense

    data = np.array([np.sin(x/10) + np.random.normal(0, 0.1, 1)[0] for x in range(100)])
    X, y = [], []
    for i in range(len(data)-5):
        X.append(data[i:i+5])
        y.append(data[i+5])
    X, y = np.array(X), np.array(y)
    X = np.reshape(X, (X.shape[0], X.shape[1], 1))
    model = Sequential()
    model.add(LSTM(50, activation='relu', input_shape=(5, 1)))
    model.add(Dense(1))
    model.compile(optimizer='adam', loss='mse')
    model.fit(X, y, epochs=200, verbose=0)
    test_input = np.reshape(np.array([data[-6:-1]]), (1, 5, 1))
    print(f'Predicted value: {model.predict(test_input)}')
    """
)
TRAIN = ["train", "--config", "configs/seed.yaml"]
IMPORTS = ("keras", "tensorflow", "mlflow", "great_expectations", "prefect", "pandas")
LOG = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) \| \w+\s*\| (.*)$")


def run_seed(tmp: Path) -> float:
    script = tmp / "seed.py"
    script.write_text(SEED_SCRIPT, encoding="utf-8")
    seconds, _, _ = run([PYTHON, script], cwd=tmp)
    return seconds


def run_flow(home: Path, prefect_home: Path, cmd: list) -> tuple[float, list[tuple[float, str]]]:
    """Wall seconds of one flow process and its Prefect log lines as (seconds since start, message)."""
    env = {"LSTM_PIPELINE_HOME": str(home), "PREFECT_HOME": str(prefect_home), "PREFECT_LOGGING_LEVEL": "INFO"}
    started = time.time()
    seconds, _, stderr = run(cmd, env=env)
    day = datetime.fromtimestamp(started).date()
    events = []
    for line in stderr.splitlines():
        if m := LOG.match(line):
            stamp = datetime.combine(day, datetime.strptime(m[1], "%H:%M:%S.%f").time()).timestamp()
            events.append((stamp - started if stamp >= started - 1 else stamp + 86400 - started, m[2]))
    return seconds, events


def breakdown(total: float, events: list[tuple[float, str]]) -> list[tuple[str, float]]:
    """Phases between consecutive landmarks of the log; they add up to the wall time."""

    def at(pattern: str) -> float | None:
        return next((t for t, msg in events if re.search(pattern, msg)), None)

    phases, server, flow = [], at("Starting temporary server"), at("Beginning flow run")
    if server is None:  # the CLI starts Prefect's server itself and imports while it boots (flows/early_server.py)
        phases += [("python + CLI + imports (server booting meanwhile) + flow run creation", flow)]
    else:  # PREFECT_API_URL unset but Prefect started its own temporary server
        phases += [("python + CLI + config check + import prefect (to server launch)", server)]
        phases += [("Prefect temporary server start-up", flow - server)]
    last = flow
    fit_seconds = float(next(re.search(r"in ([\d.]+) s", m)[1] for _, m in events if "trained" in m))
    for t, msg in events:
        if m := re.match(r"Task run '(.+)-[0-9a-f]{3}' - Finished in state", msg):
            if m[1] == "fit-model":
                phases += [("fit-model: Keras fit (logged by the task)", fit_seconds)]
                phases += [("fit-model: rest (import TensorFlow, build, save)", t - last - fit_seconds)]
            else:
                phases += [(f"task {m[1]} (and flow code before it)", t - last)]
            last = t
    end = at(r"Flow run '.*' - Finished in state")
    phases += [("flow end (after the last task)", end - last)]
    phases += [("CLI output, stop server, interpreter exit", total - end)]
    return phases


def import_times() -> dict[str, float]:
    """`python -c "import X"` wall seconds minus `python -c pass`, each in a fresh process."""
    bare, _, _ = run([PYTHON, "-c", "pass"])
    return {mod: run([PYTHON, "-c", f"import {mod}"])[0] - bare for mod in IMPORTS}


def print_table(title: str, rows: list[tuple[str, float]], total: float) -> None:
    print(f"\n{title}")
    for name, seconds in rows:
        print(f"  {seconds:6.2f} s  {seconds / total:4.0%}  {name}")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-flow-"))
    try:
        seed = [run_seed(tmp)]
        print(f"seed script (fresh process): {seed[0]:.2f} s", flush=True)
        prefect_home, home_ab = tmp / "prefect", tmp / "home-ab"
        runs = {}
        for key, home, cmd in (
            ("A first run on a machine", home_ab, [CLI, *TRAIN]),
            ("B stores exist", home_ab, [CLI, *TRAIN]),
            ("C cold (new MLflow store)", tmp / "home-c", [CLI, *TRAIN]),
        ):
            runs[key] = run_flow(home, prefect_home, cmd)
            print(f"flow {key}: {runs[key][0]:.2f} s", flush=True)
        seed.append(run_seed(tmp))
        print(f"seed script again: {seed[1]:.2f} s", flush=True)
        imports = import_times() if "--imports" in sys.argv else {}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(sum(seed) / len(seed), runs, imports)


def report(seed: float, runs: dict, imports: dict[str, float]) -> None:
    print(f"\nreference: seed script {seed:.2f} s (mean of 2)")
    for key, (seconds, _) in runs.items():
        print(f"  flow {key:52s} {seconds:6.2f} s  ratio {seconds / seed:.2f} (target <= 1.0)")
    for key, (total, events) in runs.items():
        print_table(f"breakdown, flow {key} ({total:.2f} s):", breakdown(total, events), total)
    c, b, a = (runs[k][0] for k in ("C cold (new MLflow store)", "B stores exist", "A first run on a machine"))
    log_run = {k: dict(breakdown(*runs[k])).get("task log-run (and flow code before it)", 0.0) for k in runs}
    store = log_run["C cold (new MLflow store)"] - log_run["B stores exist"]
    print(
        f"\nnew MLflow store: C - B = {c - b:.2f} s in total, {store:.2f} s in the log-run task (where it is created)"
    )
    print(f"new Prefect home: A - C = {a - c:.2f} s")
    listed = ", ".join(f"{module} {seconds:.2f} s" for module, seconds in imports.items()) or "(run with --imports)"
    print(f"import in a fresh process (minus `python -c pass`): {listed}")
    for key, label in (
        ("C cold (new MLflow store)", "cold"),
        ("B stores exist", "store exists"),
        ("A first run on a machine", "first run on a machine"),
    ):
        seconds = runs[key][0]
        result(
            f"train flow {label} vs seed script",
            f"{seconds:.1f} s vs {seed:.1f} s",
            seconds / seed,
            "<= 1.0",
            seconds / seed <= 1.0,
            command_of("train_flow_cold.py"),
        )


if __name__ == "__main__":
    main()
