"""prefect.yaml points at real flows with parameters they accept (running it is an e2e concern)."""

import ast
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = yaml.safe_load((PROJECT / "prefect.yaml").read_text())["deployments"]


def flow_definition(entrypoint: str) -> ast.FunctionDef:
    """Find the decorated function without importing Prefect (unit tests stay fast)."""
    path, name = entrypoint.split(":")
    tree = ast.parse((PROJECT / path).read_text())
    return next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name)


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_deployment_targets_a_flow_with_matching_parameters(deployment):
    function = flow_definition(deployment["entrypoint"])
    decorators = [d for d in function.decorator_list if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "flow"]
    assert decorators, f"{deployment['entrypoint']} is not a @flow"
    accepted = {arg.arg for arg in function.args.args}
    assert set(deployment.get("parameters", {})) <= accepted
    assert deployment["schedules"][0]["cron"]
    assert deployment["work_pool"]["name"] == "lstm-pipeline"


def test_configs_named_by_deployments_exist():
    for deployment in DEPLOYMENTS:
        if path := deployment.get("parameters", {}).get("config_path"):
            assert (PROJECT / path).is_file()


def test_deployment_names_are_the_documented_ones():
    names = {
        (flow_definition(d["entrypoint"]).decorator_list[0].keywords[0].value.value, d["name"]) for d in DEPLOYMENTS
    }
    assert names == {("train", "weekly"), ("batch-forecast", "daily"), ("sweep", "monthly"), ("monitor", "daily")}


def test_the_triggers_are_valid_and_answer_the_events_the_flows_emit():
    """Retrain on a degraded champion, forecast on a new one: the specs `prefect deploy` turns into automations."""
    from prefect.cli.deploy._triggers import _initialize_deployment_triggers  # what `prefect deploy` calls

    from flows.events import CHAMPION_CHANGED, DEGRADED, model_resource

    by_name = {d["entrypoint"]: d for d in DEPLOYMENTS}
    resource = model_resource("lstm-forecaster", "1")["prefect.resource.id"]
    for entrypoint, event in [
        ("flows/train.py:train", DEGRADED),
        ("flows/batch_forecast.py:batch_forecast", CHAMPION_CHANGED),
    ]:
        (trigger,) = _initialize_deployment_triggers(entrypoint, by_name[entrypoint]["triggers"])
        assert trigger.expect == {event} and trigger.enabled
        assert trigger.match.get("prefect.resource.id") == [resource]


FLOWS = [("flows.train", "train"), ("flows.sweep", "sweep"), ("flows.backtest", "backtest")]
FLOWS += [("flows.batch_forecast", "batch_forecast")]


@pytest.mark.parametrize(("module", "name"), FLOWS, ids=[name for _, name in FLOWS])
def test_a_flow_takes_its_config_as_a_typed_parameter_prefect_validates(module, name):
    """The schema behind the UI's run form, built the way `prefect deploy` builds it; bad values are refused."""
    import importlib

    from prefect.exceptions import ParameterTypeError
    from prefect.utilities.callables import parameter_schema

    flow = getattr(importlib.import_module(module), name)
    schema = parameter_schema(flow).model_dump_for_openapi()
    assert schema["properties"]["config"]["anyOf"][0] == {"$ref": "#/definitions/PipelineConfig"}
    assert "laid over the file" in schema["properties"]["config"]["description"]
    learning_rate = schema["definitions"]["TrainConfig"]["properties"]["learning_rate"]
    assert learning_rate["exclusiveMinimum"] == 0
    assert schema["definitions"]["TrainConfig"]["properties"]["optimizer"]["enum"] == ["adam", "rmsprop", "sgd"]
    given = flow.validate_parameters({"config": {"train": {"epochs": 3}}})["config"]
    assert given.train.epochs == 3 and given.model_fields_set == {"train"}
    with pytest.raises(ParameterTypeError, match="epochs"):
        flow.validate_parameters({"config": {"train": {"epochs": 0}}})
