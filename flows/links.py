"""Links between a Prefect flow run and the MLflow runs it makes: tags one way, an artifact the other."""

from __future__ import annotations

from prefect.runtime import deployment, flow_run


def flow_run_tags() -> dict[str, str]:
    """MLflow tags naming the Prefect flow run (and deployment) a run was made in; {} outside a flow run."""
    if not flow_run.id:
        return {}
    tags = {"prefect.flow_run_id": str(flow_run.id), "prefect.flow_run_name": str(flow_run.name)}
    if flow_run.ui_url:  # only with PREFECT_UI_URL (team mode), not with the temporary local server
        tags["prefect.flow_run_url"] = str(flow_run.ui_url)
    if deployment.id:
        tags["prefect.deployment"] = str(deployment.name)
    return tags
