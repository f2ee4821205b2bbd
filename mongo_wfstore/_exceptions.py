"""Every error the store raises, under one root.

```
WorkflowStoreError
├── InvalidInputError (ValueError)     bad id, wrong type, a value that cannot be stored
├── RunNotFoundError (LookupError)     the operation needs a run that does not exist
├── WaitNotFoundError (LookupError)    no waiting step has this wait_task_id
├── WaitAlreadyCompletedError          the wait was completed already (compare-and-set lost)
├── RevisionConflictError              the run moved past the expected revision
├── PayloadTooLargeError               the write would push a run past 16 MiB
├── ContentionError                    a write lost too many races in a row and gave up
├── SchemaVersionError                 a document was written by a newer, unknown layout
└── DatabaseError                      the driver or the server failed
    └── DatabaseUnavailableError       network error or timeout: the write may have been applied
```

Driver errors never reach the caller bare: `translate_driver_errors` maps them
here and keeps the original as `__cause__`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ContentionError",
    "DatabaseError",
    "DatabaseUnavailableError",
    "InvalidInputError",
    "PayloadTooLargeError",
    "RevisionConflictError",
    "RunNotFoundError",
    "SchemaVersionError",
    "WaitAlreadyCompletedError",
    "WaitNotFoundError",
    "WorkflowStoreError",
]

MAX_DOCUMENT_SIZE = 16 * 1024 * 1024
"""The server's limit on one BSON document, in bytes (16 MiB)."""


class WorkflowStoreError(Exception):
    """Base class of every error raised by `mongo_wfstore`."""


class InvalidInputError(WorkflowStoreError, ValueError):
    """An argument is unusable: an empty or non-string id, an object of the wrong
    type, or a value that is not JSON or cannot be stored faithfully.

    Raised before any database call; nothing has been written.
    """

    def __init__(
        self,
        message: str,
        *,
        run_task_id: object = None,
        step_id: object = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.run_task_id = run_task_id
        self.step_id = step_id
        self.path = path


class RunNotFoundError(WorkflowStoreError, LookupError):
    """The operation needs an existing run and there is none under this id."""

    def __init__(self, run_task_id: str, message: str | None = None) -> None:
        super().__init__(message or f"workflow run not found: {run_task_id!r}")
        self.run_task_id = run_task_id


class WaitNotFoundError(WorkflowStoreError, LookupError):
    """No step of any visible run has this `wait_task_id`."""

    def __init__(self, wait_task_id: str) -> None:
        super().__init__(f"no waiting step has wait_task_id {wait_task_id!r}")
        self.wait_task_id = wait_task_id


class WaitAlreadyCompletedError(WorkflowStoreError):
    """The waiting step is no longer `input_required`: someone completed it first.

    `status` is the step's status now and `step` the step as stored (a
    `WorkflowStepState`). Nothing was written by this call.
    """

    def __init__(
        self, wait_task_id: str, run_task_id: str, step_id: str, status: str, step: Any = None
    ) -> None:
        super().__init__(
            f"wait {wait_task_id!r} (step {step_id!r} of run {run_task_id!r}) "
            f"was already completed: its status is {status!r}; nothing was written"
        )
        self.wait_task_id = wait_task_id
        self.run_task_id = run_task_id
        self.step_id = step_id
        self.status = status
        self.step = step


class RevisionConflictError(WorkflowStoreError):
    """The run's revision is not the one the caller expected; nothing was written."""

    def __init__(self, run_task_id: str, *, expected: int, actual: int) -> None:
        super().__init__(
            f"run {run_task_id!r} is at revision {actual}, not the expected {expected}; "
            "nothing was written"
        )
        self.run_task_id = run_task_id
        self.expected = expected
        self.actual = actual


class SchemaVersionError(WorkflowStoreError):
    """A run document has a layout newer than this version of the library reads."""

    def __init__(self, run_task_id: object, version: object, supported: int) -> None:
        super().__init__(
            f"run {run_task_id!r} was stored with schema_version {version!r}; this "
            f"mongo_wfstore reads versions up to {supported}: upgrade the library"
        )
        self.run_task_id = run_task_id
        self.version = version
        self.supported = supported


class PayloadTooLargeError(WorkflowStoreError):
    """The write would make the run's document larger than 16 MiB.

    The run is left exactly as it was. `size` is the size of the value being
    written, `run_size` the size of the stored run before the write (None when
    unknown), `limit` the server's maximum, all in bytes.
    """

    def __init__(
        self,
        run_task_id: str,
        *,
        step_id: str | None,
        size: int,
        run_size: int | None,
        limit: int = MAX_DOCUMENT_SIZE,
    ) -> None:
        what = f"step {step_id!r} of run {run_task_id!r}" if step_id else f"run {run_task_id!r}"
        stored = f"; the stored run is {run_size:,} bytes" if run_size is not None else ""
        super().__init__(
            f"writing {what} would exceed the {limit:,}-byte document limit: "
            f"the value written is {size:,} bytes{stored}; nothing was written"
        )
        self.run_task_id = run_task_id
        self.step_id = step_id
        self.size = size
        self.run_size = run_size
        self.limit = limit


class ContentionError(WorkflowStoreError):
    """A write kept losing races with concurrent writers and gave up.

    Each attempt that lost was refused by the server as a whole, so nothing of
    this call was written; the call can be retried.
    """

    def __init__(self, run_task_id: str, step_id: str | None, attempts: int) -> None:
        what = f"step {step_id!r} of run {run_task_id!r}" if step_id else f"run {run_task_id!r}"
        super().__init__(
            f"gave up writing {what} after {attempts} attempts lost to concurrent writers"
        )
        self.run_task_id = run_task_id
        self.step_id = step_id
        self.attempts = attempts


class DatabaseError(WorkflowStoreError):
    """The driver or the server reported an error the store cannot handle.

    `code` and `details` carry the server's error code and reply when there is
    one; the driver's exception is the `__cause__`.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


class DatabaseUnavailableError(DatabaseError):
    """The server could not be reached or did not answer in time.

    For a write this is the ambiguous case: it may or may not have been applied.
    Each write method's docstring says whether retrying it as it is is safe.
    """
