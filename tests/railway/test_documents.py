"""Every GraphQL document the client can send is valid against Railway's real schema."""

from __future__ import annotations

import pytest
from graphql import parse, validate

import kars_actions.railway.backup
import kars_actions.railway.environment_config
import kars_actions.railway.metrics
import kars_actions.railway.previews  # noqa: F401 - registers the watch window's and the previews' documents
from kars_actions.railway.api import DOCUMENTS
from tests.fakes.railway_sim import load_schema


@pytest.fixture(scope="module")
def schema():  # type: ignore[no-untyped-def]
    return load_schema()


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_validates_against_railway_schema(schema, name: str) -> None:  # type: ignore[no-untyped-def]
    errors = validate(schema, parse(DOCUMENTS[name]))
    assert errors == [], [e.message for e in errors]


def test_the_registry_holds_every_operation_the_client_uses() -> None:
    assert {"ServiceInstanceDeployV2", "DeploymentRollback", "Deployment", "Deployments", "Variables"} <= set(DOCUMENTS)
    settings = {"EnvironmentSettings", "EnvironmentConfig", "EnvironmentEtag", "EnvironmentPatchCommit"}
    settings.add("ServiceInstanceClearConfigFile")
    assert settings <= set(DOCUMENTS)
    backups = {"EnvironmentVolumes", "VolumeInstanceBackupCreate", "WorkflowStatus", "VolumeInstanceBackupList"}
    assert backups | {"VolumeInstanceBackupRestore", "WatchStatusExecutionsHttpLatencyResources"} <= set(DOCUMENTS)
    looks = {"WatchStatusExecutionsServingLogsHttpLatencyResources", "WatchStatusExecutionsServingLogsResources"}
    assert looks | {"WatchErrorLines"} <= set(DOCUMENTS)
    assert {"PreviewProject", "EnvironmentCreate", "EnvironmentDelete"} <= set(DOCUMENTS)


def test_rollback_with_a_selection_set_is_rejected_by_the_schema(schema) -> None:  # type: ignore[no-untyped-def]
    bad = 'mutation { deploymentRollback(id: "x") { id status } }'
    assert validate(schema, parse(bad)), "the docs' selection set on a Boolean must be invalid"
