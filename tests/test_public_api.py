"""The public surface: exactly these names, each documented, errors in one tree."""

from __future__ import annotations

import inspect
from importlib.resources import files

import mongo_wfstore
from mongo_wfstore import (
    ContentionError,
    DatabaseError,
    DatabaseUnavailableError,
    InvalidInputError,
    PayloadTooLargeError,
    RunNotFoundError,
    WorkflowStoreError,
)

PUBLIC = {
    "WaitNotFoundError",
    "WaitAlreadyCompletedError",
    "SchemaVersionError",
    "RunPage",
    "RevisionConflictError",
    "AgentRunKind",
    "ApiCallKind",
    "CheckpointKind",
    "ConditionKind",
    "ContentionError",
    "DatabaseError",
    "DatabaseUnavailableError",
    "ExternalCheckpoint",
    "InMemoryWorkflowStore",
    "IndexAction",
    "IndexEntry",
    "IndexReport",
    "InternalCheckpoint",
    "InvalidInputError",
    "MongoWorkflowStore",
    "PayloadTooLargeError",
    "PurgeResult",
    "ReplyKind",
    "RunNotFoundError",
    "ScriptKind",
    "StepKind",
    "TaskStatus",
    "ToolCallKind",
    "UnknownCheckpoint",
    "UnknownStepKind",
    "WaitForInputKind",
    "WorkflowDefinition",
    "WorkflowExecutionState",
    "WorkflowStep",
    "WorkflowStepState",
    "WorkflowStore",
    "WorkflowStoreError",
    "ensure_indexes",
    "purge_runs",
    "utc_now",
}


def test_the_public_names_are_exactly_these() -> None:
    assert set(mongo_wfstore.__all__) == PUBLIC
    assert mongo_wfstore.__all__ == sorted(mongo_wfstore.__all__)
    for name in PUBLIC:
        assert getattr(mongo_wfstore, name) is not None


def test_every_public_class_and_method_has_a_docstring() -> None:
    for name in PUBLIC:
        obj = getattr(mongo_wfstore, name)
        if not inspect.isclass(obj):
            continue
        assert obj.__doc__ and obj.__doc__.strip(), name
        for attr, member in vars(obj).items():
            if attr.startswith("_") or not callable(member):
                continue
            assert inspect.getdoc(getattr(obj, attr)), f"{name}.{attr}"


def test_every_error_is_a_workflow_store_error() -> None:
    for error in (
        ContentionError,
        DatabaseError,
        DatabaseUnavailableError,
        InvalidInputError,
        PayloadTooLargeError,
        RunNotFoundError,
    ):
        assert issubclass(error, WorkflowStoreError)
    assert issubclass(RunNotFoundError, LookupError)
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(DatabaseUnavailableError, DatabaseError)


def test_the_package_ships_py_typed() -> None:
    assert files("mongo_wfstore").joinpath("py.typed").is_file()
