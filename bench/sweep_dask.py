"""Sweep: 8 trials on 2 local Dask worker processes vs the same 8 trials one after another in one process.

Both are `lstm-pipeline sweep` against one Prefect server started here (loopback, free port) and a
temporary MLflow store. Dask workers get 1 TensorFlow intra-op thread each (2 workers, 2 cores);
the sequential reference gets SEQUENTIAL_THREADS (pass --threads N to try another; `all` = TF's
default, measured no slower than 1 for one process here). The ratio (target >= 1.7x) is that of
the trial phases: first trial start to last trial end, read from the child runs in MLflow; it
includes the workers' TensorFlow import. The command times are printed too: both pay the same
fixed costs (process start, Prefect, data contract, registration, gate) besides the trials.
Each worker's start-up per trial shows TensorFlow imported by a worker's first trial only.
Usage: .venv/bin/python bench/sweep_dask.py [--threads N|all]
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import CLI, QUIET, ROOT, command_of, result

TRIALS = 8
SEQUENTIAL_THREADS = "all"
# A panel big enough that a trial takes seconds, so the parallel part dominates the fixed costs.
SETTINGS = {
    "source.kind": "synthetic",
    "source.n_series": 4,
    "source.n_points": 400,
    "source.season_length": 24,
    "evaluate.season_length": 24,
    "train.epochs": 30,
    "train.epochs_per_check": 10,
    "train.early_stopping_patience": None,
    "promotion.max_vs_seasonal_naive": 1000,
    "tracking.experiment": "bench-sweep",
    "tracking.model_name": "bench-sweep",
    "sweep.method": "grid",
    "sweep.space": {"window.lookback": [24, 48], "model.units": [[16], [32]], "train.learning_rate": [0.01, 0.003]},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_prefect_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A Prefect server on a free loopback port, in its own process group; its API URL once healthy."""
    port = free_port()
    env = {**os.environ, **QUIET, "PREFECT_HOME": str(home / "prefect")}
    env.pop("PREFECT_API_URL", None)
    log = (home / "prefect-server.log").open("wb")
    argv = [str(CLI.parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with opener.open(f"{url}/health", timeout=3) as answer:
                if answer.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError(f"the Prefect server did not start; see {home / 'prefect-server.log'}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def sweep(env: dict[str, str], workers: int, threads: str) -> tuple[float, str]:
    """Run one sweep command; wall seconds and the parent run id it printed."""
    settings = {**SETTINGS, "sweep.threads_per_trial": None if threads == "all" else int(threads)}
    argv = [str(CLI), "sweep", "--workers", str(workers), "--trials", str(TRIALS)]
    argv += [arg for key, value in settings.items() for arg in ("--set", f"{key}={json.dumps(value)}")]
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise RuntimeError(f"sweep with {workers} workers exited {proc.returncode}")
    return seconds, proc.stdout.split("MLflow run")[1].split()[0]


def trial_runs(tracking_uri: str, parent: str) -> list[object]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_run(parent).info.experiment_id
    return client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent}'")


def span(runs: list[object]) -> float:
    """Seconds from the first trial's start to the last trial's end."""
    return (max(r.info.end_time for r in runs) - min(r.info.start_time for r in runs)) / 1000  # type: ignore[attr-defined]


def startups(runs: list[object]) -> dict[str, list[float]]:
    """Start-up seconds of each worker's trials, in the order the worker ran them."""
    by_worker: dict[str, list[tuple[int, float]]] = {}
    for r in runs:
        worker = r.data.tags["sweep.worker"]  # type: ignore[attr-defined]
        by_worker.setdefault(worker, []).append((r.info.start_time, r.data.metrics["trial_startup_seconds"]))  # type: ignore[attr-defined]
    return {w: [round(s, 2) for _, s in sorted(items)] for w, items in by_worker.items()}


def main() -> int:
    args = sys.argv[1:]
    threads = args[args.index("--threads") + 1] if "--threads" in args else SEQUENTIAL_THREADS
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as folder:
        home = Path(folder)
        server, api_url = start_prefect_server(home)
        try:
            tracking = f"sqlite:///{home / 'mlruns' / 'mlflow.db'}"
            env = {**os.environ, **QUIET, "PREFECT_HOME": str(home / "prefect"), "PREFECT_API_URL": api_url}
            env |= {"MLFLOW_TRACKING_URI": tracking, "LSTM_PIPELINE_HOME": str(home)}
            print(f"Prefect server {api_url}; {TRIALS} trials; cores: {os.cpu_count()}", flush=True)
            parallel_s, parallel_parent = sweep(env, 2, "1")
            print(f"2 Dask workers, 1 TF thread each:  {parallel_s:6.1f} s", flush=True)
            sequential_s, sequential_parent = sweep(env, 1, threads)
            print(f"sequential, {threads} TF thread(s):       {sequential_s:6.1f} s", flush=True)
            parallel_runs = trial_runs(tracking, parallel_parent)
            sequential_runs = trial_runs(tracking, sequential_parent)
        finally:
            stop(server)
    spans = span(parallel_runs), span(sequential_runs)
    print(f"trial spans: parallel {spans[0]:.1f} s, sequential {spans[1]:.1f} s ({spans[1] / spans[0]:.2f}x)")
    fits = [sum(r.data.metrics["train_seconds"] for r in runs) / len(runs) for runs in (parallel_runs, sequential_runs)]  # type: ignore[attr-defined]
    print(f"mean fit per trial: parallel {fits[0]:.1f} s, sequential {fits[1]:.1f} s (2 workers share 2 cores)")
    per_worker = startups(parallel_runs)
    print(f"start-up per trial, by worker: {per_worker}")
    warm = [s for seconds in per_worker.values() for s in seconds[1:]]
    print(f"later trials on a warm worker: max start-up {max(warm, default=float('nan')):.2f} s")
    print(f"commands: {sequential_s / parallel_s:.2f}x")
    ratio = spans[1] / spans[0]
    figure = f"{parallel_s:.1f} s vs {sequential_s:.1f} s sequential ({threads} TF threads)"
    figure += f"; trial spans {spans[0]:.1f} s vs {spans[1]:.1f} s ({spans[1] / spans[0]:.2f}x)"
    result(
        "sweep: 8 trials on 2 Dask workers vs sequential (trial phase)",
        figure,
        ratio,
        ">= 1.7x",
        ratio >= 1.7,
        command_of("sweep_dask.py"),
    )
    return 0


if __name__ == "__main__":  # Dask starts its worker processes by spawning: guard the entry point
    sys.exit(main())
