"""What a run records about where it came from: seed, commit, lock hash, package versions, pins."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from lstm_pipeline.config import PipelineConfig

# What the logged model needs at load time; versions come from the installed (locked) environment.
ENVIRONMENT_ARTIFACT = "environment/requirements.txt"
MODEL_REQUIREMENTS = ("mlflow", "tensorflow", "keras", "numpy", "pandas", "pydantic", "pyyaml", "statsmodels")
BASELINE_REQUIREMENTS = ("mlflow", "numpy", "pandas", "pydantic", "pyyaml", "statsforecast")  # no TensorFlow
VERSION_TAGS = ("tensorflow", "keras", "mlflow", "prefect", "great-expectations", "pandas", "numpy")


def run_tags(cfg: PipelineConfig) -> dict[str, str]:
    """Tags that let a run be reproduced: seed, git commit, Python, platform, lock hash, package versions.

    The full list of installed packages goes beside them as the `environment/requirements.txt` artifact.
    """
    tags = {"seed": str(cfg.train.seed), "python": platform.python_version(), "platform": platform.platform()}
    tags |= {f"version.{name}": _version(name) for name in VERSION_TAGS}
    if commit := _git_commit():
        tags["mlflow.source.git.commit"] = commit
    if (lock := checkout_lock()) is not None:
        tags["uv.lock.sha256"] = hashlib.sha256((lock / "uv.lock").read_bytes()).hexdigest()
    return tags


def environment_requirements() -> str:
    """Every installed distribution as `name==version`, sorted: the environment a run ran in.

    Read from the installed packages' metadata (milliseconds), so it holds even without a lock
    file; `uv.lock.sha256` ties it to the checkout's lock when there is one.
    """
    pins: dict[str, str] = {}
    for dist in metadata.distributions():
        name, version = _name_and_version(dist)
        if name:  # first on sys.path wins, as at import
            pins.setdefault(name.lower().replace("_", "-").replace(".", "-"), f"{name}=={version}")
    return "".join(f"{pins[key]}\n" for key in sorted(pins))


def _name_and_version(dist: metadata.Distribution) -> tuple[str | None, str | None]:
    """Name and version from the header of a METADATA file: parsing all of it (`dist.metadata`) is 6x slower."""
    header = (dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "").partition("\n\n")[0]
    fields = dict(line.split(": ", 1) for line in header.splitlines() if line.startswith(("Name: ", "Version: ")))
    return fields.get("Name"), fields.get("Version")


def pip_requirements(packages: Sequence[str] = MODEL_REQUIREMENTS) -> list[str]:
    """Exact pins for the model's environment (the LSTM's by default), taken from the installed packages."""
    return [f"{name}=={_version(name)}" for name in packages]


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not-installed"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def checkout_lock() -> Path | None:
    """The checkout holding this package's uv.lock, which MLflow copies into the model; else None."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "uv.lock").is_file() else None
