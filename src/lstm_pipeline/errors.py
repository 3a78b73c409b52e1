"""Typed errors: each names the rule broken so a user can fix the input, not read a traceback."""


class LstmPipelineError(Exception):
    """Base class for every error this package raises on purpose."""


class ConfigError(LstmPipelineError, ValueError):
    """A config file or override is unknown, mistyped or inconsistent."""


class DataSourceError(LstmPipelineError, ValueError):
    """A data file cannot be read or mapped onto the long series frame."""


class DataValidationError(LstmPipelineError, ValueError):
    """A series frame breaks the data contract (columns, NaN/inf, order, length)."""


class ModelLoadError(LstmPipelineError, RuntimeError):
    """A registered model cannot be found or loaded."""


class TrackingUnavailableError(LstmPipelineError, RuntimeError):
    """The MLflow tracking server did not answer, even after retries with backoff."""


class IncompleteModelError(LstmPipelineError, RuntimeError):
    """A logged model's files are missing or differ from what was logged: it is not registered."""


class TrainingDivergedError(LstmPipelineError, RuntimeError):
    """A fit ended with non-finite weights or forecasts: nothing from it is registered or written."""


class OutputConflictError(LstmPipelineError, FileExistsError):
    """An output slot already holds another model's results: it is not replaced."""


class TrackingStoreError(LstmPipelineError, RuntimeError):
    """The local MLflow store cannot be opened or written (permissions, a file in the way)."""
