"""Faults around the tracking store: HTTP retry defaults, one typed error for an outage, store-creation lock."""

from __future__ import annotations

import fcntl
import functools
import inspect
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

from lstm_pipeline.errors import TrackingStoreError, TrackingUnavailableError

P = ParamSpec("P")
R = TypeVar("R")

# MLflow's own defaults (7 retries, backoff factor 2, 120 s timeout) wait minutes on a dead server.
# These give up after about 30 s of retries (urllib3 sleeps 0, 2, 4, 8, 16 s); the environment wins.
HTTP_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}

# What MLflow's HTTP client says once its retries are spent, or when nothing answers at all.
_UNREACHABLE_MARKERS = (
    "max retries exceeded",
    "connection refused",
    "connection aborted",
    "connection reset",
    "remote end closed connection",
    "read timed out",
    "failed to establish a new connection",
)


def use_http_retry_defaults() -> None:
    """Set bounded retry/backoff/timeout defaults for MLflow's HTTP client unless already set."""
    for key, value in HTTP_RETRY_DEFAULTS.items():
        os.environ.setdefault(key, value)


def is_unreachable(exc: BaseException) -> bool:
    """True if `exc` (or what caused it) says the tracking server did not answer."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionError) or any(m in str(seen).lower() for m in _UNREACHABLE_MARKERS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def unavailable_error(exc: BaseException, uri: str) -> TrackingUnavailableError:
    """The typed error for an outage, saying what was tried and how to wait longer."""
    retries = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", HTTP_RETRY_DEFAULTS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"])
    first_line = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    return TrackingUnavailableError(
        f"the MLflow tracking server at {uri} did not answer after {retries} retries with backoff "
        f"({first_line}). Check that it runs; MLFLOW_HTTP_REQUEST_MAX_RETRIES and "
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR make the client wait longer."
    )


def tracking_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a function so an unreachable tracking server surfaces as `TrackingUnavailableError`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except TrackingUnavailableError:
            raise
        except Exception as exc:
            if is_unreachable(exc):
                import mlflow  # already imported by whatever failed to reach the server

                raise unavailable_error(exc, mlflow.get_tracking_uri()) from exc
            raise

    # Prefect builds a flow's parameter model from its signature, resolving names in the wrapper's
    # module (this one): hand it the types already resolved in `fn`'s own module.
    wrapper.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
    return wrapper


def retry_on(
    fn: Callable[[], R], *, matches: Callable[[Exception], bool], attempts: int = 8, first_delay: float = 0.05
) -> R:
    """Call `fn`, retrying with exponential backoff while the error `matches` (last one re-raised)."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts or not matches(exc):
                raise
            time.sleep(first_delay * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created if absent): one process at a time in the block.

    A lock that cannot be created (a read-only folder, a file in the way) is a TrackingStoreError.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
    except OSError as exc:
        raise TrackingStoreError(
            f"cannot write the MLflow store's lock file {path} ({exc.strerror}); make {path.parent} writable, "
            "or point LSTM_PIPELINE_HOME or MLFLOW_TRACKING_URI at a store you can write"
        ) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
