"""Workflow execution state on MongoDB: one document per run, atomic step updates.

>>> from pymongo import AsyncMongoClient
>>> from mongo_wfstore import MongoWorkflowStore, WorkflowExecutionState
>>> store = MongoWorkflowStore(AsyncMongoClient()["app"]["workflow_runs"])
>>> await store.create_run(WorkflowExecutionState.new("run-1", "agent", "thread", "user", d))

At deploy time, `await ensure_indexes(collection)` creates the indexes the
queries need (`mongo-wfstore init-indexes` does the same from a shell).

The public names are re-exported here; the modules behind them are private.
"""

from ._exceptions import (
    ContentionError,
    DatabaseError,
    DatabaseUnavailableError,
    InvalidInputError,
    PayloadTooLargeError,
    RevisionConflictError,
    RunNotFoundError,
    SchemaVersionError,
    WaitAlreadyCompletedError,
    WaitNotFoundError,
    WorkflowStoreError,
)
from ._indexes import IndexAction, IndexEntry, IndexReport, ensure_indexes
from ._maintenance import PurgeResult, purge_runs
from ._memory import InMemoryWorkflowStore
from ._models import (
    AgentRunKind,
    ApiCallKind,
    CheckpointKind,
    ConditionKind,
    ExternalCheckpoint,
    InternalCheckpoint,
    ReplyKind,
    RunPage,
    ScriptKind,
    StepKind,
    TaskStatus,
    ToolCallKind,
    UnknownCheckpoint,
    UnknownStepKind,
    WaitForInputKind,
    WorkflowDefinition,
    WorkflowExecutionState,
    WorkflowStep,
    WorkflowStepState,
    utc_now,
)
from ._mongo import MongoWorkflowStore
from ._store import WorkflowStore

__version__ = "0.1.0"

__all__ = [
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
    "RevisionConflictError",
    "RunNotFoundError",
    "RunPage",
    "SchemaVersionError",
    "ScriptKind",
    "StepKind",
    "TaskStatus",
    "ToolCallKind",
    "UnknownCheckpoint",
    "UnknownStepKind",
    "WaitAlreadyCompletedError",
    "WaitForInputKind",
    "WaitNotFoundError",
    "WorkflowDefinition",
    "WorkflowExecutionState",
    "WorkflowStep",
    "WorkflowStepState",
    "WorkflowStore",
    "WorkflowStoreError",
    "ensure_indexes",
    "purge_runs",
    "utc_now",
]
