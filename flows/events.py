"""The Prefect events the pipeline emits, on a resource per registered model; prefect.yaml's triggers match them."""

from __future__ import annotations

from typing import Any

from prefect.events import emit_event

DEGRADED = "lstm-pipeline.model.degraded"
CHAMPION_CHANGED = "lstm-pipeline.model.champion-changed"


def model_resource(name: str, version: str) -> dict[str, str]:
    """A registered model as an event resource: `lstm-pipeline.model.<name>`, the version as a label."""
    return {
        "prefect.resource.id": f"lstm-pipeline.model.{name}",
        "prefect.resource.name": name,
        "lstm-pipeline.version": str(version),
    }


def emit(event: str, name: str, version: str, payload: dict[str, Any]) -> None:
    """Emit `event` about version `version` of model `name`, the evidence in `payload`."""
    emit_event(event=event, resource=model_resource(name, version), payload=payload)
