"""The `mongo-wfstore` command line, through its real entry points.

Most tests run the typer app with `CliRunner` on the in-memory database
(`--uri mock://<unique name>`, a mongomock-motor client the tests seed
directly); a few run the installed `mongo-wfstore` script and
`scripts/setup_indexes.py` as subprocesses. An unreachable server is
`mongodb://127.0.0.1:9` (nothing listens on the discard port): every command
must exit 2 with one line on stderr and no traceback. With `MONGODB_URI` set,
`init-indexes` also runs against the real server.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from importlib.metadata import requires
from pathlib import Path
from typing import Any

import pytest
from pymongo.errors import NetworkTimeout, OperationFailure
from typer.testing import CliRunner

from mongo_wfstore import (
    MongoWorkflowStore,
    TaskStatus,
    WorkflowStepState,
    ensure_indexes,
    utc_now,
)
from mongo_wfstore._cli.app import app
from mongo_wfstore._cli.clients import mock_client
from mongo_wfstore._driver import list_indexes

from .conftest import MONGODB_URI, needs_server
from .test_contract import new_state

ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE = ["--uri", "mongodb://127.0.0.1:9", "--timeout", "200"]


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2
    except TypeError:
        return CliRunner()


RUNNER = _runner()


class Cli:
    """Runs `mongo-wfstore` commands on one fresh in-memory database."""

    def __init__(self) -> None:
        self.uri = f"mock://{uuid.uuid4().hex}"
        self.collection: Any = mock_client(self.uri)["mongo_wfstore"]["workflow_runs"]
        self.store = MongoWorkflowStore(self.collection)

    def __call__(self, *args: str, input: str | None = None, on_db: bool = True) -> Any:
        extra = ["--uri", self.uri] if on_db else []
        result = RUNNER.invoke(app, [*args, *extra], input=input, env={"COLUMNS": "200"})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a bug, not an expected failure
        return result

    def do(self, work: Callable[[], Awaitable[Any]]) -> Any:
        """Run `work()` (seeding, checking) in its own event loop."""
        return asyncio.run(work())

    def indexes(self) -> dict[str, dict[str, Any]]:
        return {index["name"]: index for index in self.do(lambda: list_indexes(self.collection))}


@pytest.fixture
def cli() -> Cli:
    return Cli()


def one_error_line(result: Any) -> str:
    """The single line the command printed on stderr; fails on more, or a traceback."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert lines[0].startswith("mongo-wfstore: error: "), lines[0]
    return lines[0]


# ── init-indexes ──────────────────────────────────────────────────────────


def test_init_indexes_creates_the_indexes_then_has_nothing_to_do(cli: Cli) -> None:
    first = cli("init-indexes")
    assert first.exit_code == 0, first.output
    assert "wf_thread_recent" in first.stdout and "create" in first.stdout
    assert first.stdout.rstrip().endswith("done: 10 create")  # 7 on the runs, 3 on the blobs
    assert set(cli.indexes()) == {
        "_id_",
        "wf_wait_task_id",
        "wf_thread_recent",
        "wf_agent_recent",
        "wf_tenant_recent",
        "wf_user_recent",
        "wf_workspace_recent",
        "wf_recent",
    }
    assert "blobs.chunks/files_id_1_n_1" in first.stdout
    second = cli("init-indexes")
    assert second.exit_code == 0
    assert second.stdout.rstrip().endswith("nothing to do: 10 unchanged")
    assert second.stderr == ""


def test_init_indexes_json_is_the_report(cli: Cli) -> None:
    result = cli("init-indexes", "--retention", "30", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["changed"] is True and report["dry_run"] is False
    assert report["namespace"] == "mongo_wfstore.workflow_runs"
    retention = next(index for index in report["indexes"] if index["name"] == "wf_retention")
    assert retention["action"] == "create"
    assert retention["desired"]["expireAfterSeconds"] == 30 * 86400


def test_init_indexes_dry_run_changes_nothing(cli: Cli) -> None:
    result = cli("init-indexes", "--dry-run", "--retention", "7")
    assert result.exit_code == 0
    assert result.stdout.rstrip().endswith("dry run, nothing changed: 11 create")
    assert set(cli.indexes()) == set()  # the collection was not even created


def test_init_indexes_conflict_exits_1_and_changes_nothing(cli: Cli) -> None:
    cli.do(lambda: cli.collection.create_index([("created_at", 1), ("_id", 1)], name="wf_recent"))
    before = cli.indexes()
    result = cli("init-indexes")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "1 index(es) differ from their declaration (wf_recent); nothing was changed" in line
    assert "conflict" in result.stdout
    assert "key pattern is {created_at: 1, _id: 1}" in result.stdout
    assert cli.indexes() == before
    as_json = cli("init-indexes", "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["ok"] is False


def test_init_indexes_force_rebuilds_the_conflicting_index(cli: Cli) -> None:
    cli.do(lambda: cli.collection.create_index([("created_at", 1), ("_id", 1)], name="wf_recent"))
    result = cli("init-indexes", "--force")
    assert result.exit_code == 0, result.output
    assert "rebuild" in result.stdout
    assert list(cli.indexes()["wf_recent"]["key"].items()) == [("created_at", -1), ("_id", -1)]
    assert cli("init-indexes").stdout.rstrip().endswith("nothing to do: 10 unchanged")


def test_init_indexes_keeps_then_drops_the_retention_index(cli: Cli) -> None:
    assert cli("init-indexes", "--retention", "30").exit_code == 0
    kept = cli("init-indexes")
    assert kept.exit_code == 0 and "keep" in kept.stdout
    assert "wf_retention" in cli.indexes()
    dropped = cli("init-indexes", "--no-retention")
    assert dropped.exit_code == 0 and "drop" in dropped.stdout
    assert "wf_retention" not in cli.indexes()


def test_a_ttl_change_on_the_in_memory_database_is_one_clear_line(cli: Cli) -> None:
    # mongomock has no collMod; the library test proves the collMod on a double.
    assert cli("init-indexes", "--retention", "30").exit_code == 0
    result = cli("init-indexes", "--retention", "7")
    assert result.exit_code == 2
    assert "the in-memory mock cannot do this" in one_error_line(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["init-indexes", "--retention", "0"], "retention must be a positive number of days"),
        (["init-indexes", "--retention", "-3"], "retention must be a positive number of days"),
        (["init-indexes", "--retention", "nan"], "retention must be a positive number of days"),
        (["init-indexes", "--retention", "1e9"], "the server accepts 1 to 2147483647 s"),
        (["init-indexes", "--retention", "3", "--no-retention"], "cannot be used together"),
        (["init-indexes", "--timeout", "0"], "--timeout must be a positive number"),
        (["purge", "--older-than", "0"], "--older-than must be more than 0"),
        (["purge", "--older-than", "inf"], "--older-than must be more than 0"),
        (["purge", "--older-than", "1", "--batch-size", "0"], "--batch-size must be 1 to"),
        (["runs", "show", "x", "--db", ""], "--db and --collection must not be empty"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(cli: Cli, args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert message in one_error_line(result)


def test_an_unparsable_number_is_a_usage_error(cli: Cli) -> None:
    result = cli("init-indexes", "--retention", "thirty")
    assert result.exit_code == 2
    assert "--retention" in result.stderr and "Traceback" not in result.stderr


# ── runs show / runs delete ───────────────────────────────────────────────


def seed_run(cli: Cli, run_id: str = "run-1") -> None:
    async def work() -> None:
        start = utc_now()
        state = new_state(run_id).with_input({"question": "why?"}).with_workspace_id("ws-1")
        await cli.store.create_run(state)
        await cli.store.upsert_step(
            run_id,
            WorkflowStepState(
                step_id="fetch",
                status=TaskStatus.COMPLETED,
                result={"answer": "Rayleigh scattering", "n": 3},
                started_at=start,
                completed_at=start + timedelta(seconds=1.5),
            ),
        )
        await cli.store.upsert_step(
            run_id,
            WorkflowStepState(
                step_id="[bold]ask", status=TaskStatus.INPUT_REQUIRED, wait_task_id="w-9"
            ),
        )
        await cli.store.upsert_step(
            run_id, WorkflowStepState(step_id="boom", status=TaskStatus.FAILED, error="timeout")
        )

    cli.do(work)


def test_runs_show_prints_the_run_its_definition_and_its_steps(cli: Cli) -> None:
    seed_run(cli)
    result = cli("runs", "show", "run-1")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in (
        "Run run-1",
        "agent-1",
        "thread-test",
        "user-test",
        "ws-1",
        '{"question":"why?"}',
        "Definition ",
        "Steps of run-1 (3)",
        "fetch",
        "completed",
        "1.500 s",
        '{"answer":"Rayleigh scattering","n":3}',
        "[bold]ask",  # user text is printed, not read as rich markup
        "input_required",
        "w-9",
        "error: timeout",
    ):
        assert expected in out, expected
    assert result.stderr == ""


def test_runs_show_json_is_the_reference_json_of_the_run_and_its_steps(cli: Cli) -> None:
    seed_run(cli)
    result = cli("runs", "show", "run-1", "--json")
    assert result.exit_code == 0
    shown = json.loads(result.stdout)

    async def expected() -> dict[str, Any]:
        state = await cli.store.get_run("run-1")
        steps = await cli.store.list_steps("run-1")
        assert state is not None
        return {
            "run": json.loads(state.model_dump_json()),
            "steps": [json.loads(step.model_dump_json()) for step in steps],
        }

    assert shown == cli.do(expected)
    assert [step["step_id"] for step in shown["steps"]] == ["fetch", "[bold]ask", "boom"]


def test_runs_show_of_a_missing_run_exits_1(cli: Cli) -> None:
    result = cli("runs", "show", "nope")
    assert result.exit_code == 1
    assert one_error_line(result) == (
        "mongo-wfstore: error: no run 'nope' in mongo_wfstore.workflow_runs"
    )
    assert result.stdout == ""


def test_runs_show_of_steps_without_a_run_shows_the_steps_and_says_so(cli: Cli) -> None:
    cli.do(lambda: cli.store.upsert_step("early", WorkflowStepState(step_id="s")))
    result = cli("runs", "show", "early")
    assert result.exit_code == 0
    assert "no run-level state" in result.stderr
    assert "Steps of early (1)" in result.stdout
    assert json.loads(cli("runs", "show", "early", "--json").stdout)["run"] is None


def test_runs_delete_with_yes_deletes_the_run_and_its_steps(cli: Cli) -> None:
    seed_run(cli)
    result = cli("runs", "delete", "run-1", "--yes")
    assert result.exit_code == 0
    assert result.stdout.strip() == (
        "deleted run 'run-1' and its 3 step(s) from mongo_wfstore.workflow_runs"
    )
    assert cli.do(lambda: cli.collection.find_one({"_id": "run-1"})) is None


def test_runs_delete_asks_first_and_keeps_the_run_unless_confirmed(cli: Cli) -> None:
    seed_run(cli)
    declined = cli("runs", "delete", "run-1", input="n\n")
    assert declined.exit_code == 1
    assert "Delete run 'run-1' (agent 'agent-1', user 'user-test')" in declined.stderr
    assert "not deleted" in declined.stderr.splitlines()[-1]
    assert cli.do(lambda: cli.store.get_run("run-1")) is not None
    no_answer = cli("runs", "delete", "run-1", input="")
    assert no_answer.exit_code == 1
    assert cli.do(lambda: cli.store.get_run("run-1")) is not None
    confirmed = cli("runs", "delete", "run-1", "--json", input="y\n")
    assert confirmed.exit_code == 0
    # CliRunner echoes the typed answer on stdout, where a terminal would show it.
    printed = confirmed.stdout[confirmed.stdout.index("{") :]
    assert json.loads(printed) == {"run_task_id": "run-1", "deleted": True, "steps": 3}
    assert cli.do(lambda: cli.store.get_run("run-1")) is None


def test_runs_delete_of_a_missing_run_exits_1(cli: Cli) -> None:
    result = cli("runs", "delete", "nope", "--yes")
    assert result.exit_code == 1
    assert "no run 'nope'" in one_error_line(result)


# ── purge ─────────────────────────────────────────────────────────────────


def seed_ages(cli: Cli, ages_in_days: dict[str, float]) -> None:
    async def work() -> None:
        for run_id, age in ages_in_days.items():
            when = utc_now() - timedelta(days=age)
            state = new_state(run_id).model_copy(update={"created_at": when, "updated_at": when})
            await cli.store.create_run(state)

    cli.do(work)


def test_purge_dry_run_counts_and_purge_deletes(cli: Cli) -> None:
    seed_ages(cli, {"old-1": 100, "old-2": 95, "new": 1})
    dry = cli("purge", "--older-than", "90", "--dry-run")
    assert dry.exit_code == 0
    assert dry.stdout.startswith("dry run: 2 document(s) last updated before ")
    assert cli.do(lambda: cli.collection.count_documents({})) == 3
    done = cli("purge", "--older-than", "90", "--batch-size", "1")
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("deleted 2 document(s) last updated before ")
    assert "in 2 batch(es) (mongo_wfstore.workflow_runs, older than 90 days)" in done.stdout
    assert cli.do(lambda: cli.collection.count_documents({})) == 1


def test_purge_on_a_terminal_draws_a_progress_bar_on_stderr(cli: Cli) -> None:
    seed_ages(cli, {f"old-{i}": 100 for i in range(5)})
    args = ["purge", "--older-than", "90", "--batch-size", "2", "--uri", cli.uri]
    result = RUNNER.invoke(app, args, env={"FORCE_COLOR": "1", "COLUMNS": "120"})
    assert result.exit_code == 0
    assert "deleting" in result.stderr and "5/5" in result.stderr
    assert result.stdout.startswith("deleted 5 document(s)")  # stdout has no bar


def test_purge_json_is_the_result(cli: Cli) -> None:
    seed_ages(cli, {"old": 10})
    result = cli("purge", "--older-than", "5", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["matched"], data["deleted"], data["batches"], data["dry_run"]) == (1, 1, 1, False)
    assert data["cutoff"].endswith("Z")


# ── failures that are not bugs ────────────────────────────────────────────

COMMANDS = [
    ["init-indexes"],
    ["init-indexes", "--dry-run", "--json"],
    ["runs", "show", "run-1"],
    ["runs", "delete", "run-1", "--yes"],
    ["purge", "--older-than", "30"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args))
def test_an_unreachable_server_exits_2_with_one_line(cli: Cli, args: list[str]) -> None:
    result = cli(*args, *UNREACHABLE, on_db=False)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith(
        "mongo-wfstore: error: cannot reach MongoDB at mongodb://127.0.0.1:9 within 200 ms"
    )
    assert result.stdout == ""


def test_the_error_line_never_shows_the_password(cli: Cli) -> None:
    uri = "mongodb://admin:s3cret@127.0.0.1:9/?authSource=admin&appname=x"
    result = cli("runs", "show", "x", "--uri", uri, "--timeout", "200", on_db=False)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "s3cret" not in line and "admin:" not in line
    assert "cannot reach MongoDB at mongodb://127.0.0.1:9/ within 200 ms" in line


def test_an_unusable_uri_exits_2_with_one_line(cli: Cli) -> None:
    result = cli("init-indexes", "--uri", "postgres://localhost", on_db=False)
    assert result.exit_code == 2
    assert "unusable --uri" in one_error_line(result)


class _Failing:
    """A collection whose every index command raises `error`."""

    name = "workflow_runs"
    database = type("Db", (), {"name": "mongo_wfstore"})()

    def __init__(self, error: Exception) -> None:
        self.error = error

    def list_indexes(self) -> Any:
        raise self.error


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (NetworkTimeout("timed out"), 2, "did not answer (listing the indexes of"),
        (OperationFailure("Authentication failed.", code=18), 2, "refused the login"),
        (OperationFailure("not authorized", code=13), 1, "database error: listing the indexes"),
    ],
)
def test_server_failures_exit_with_one_line(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, error: Exception, code: int, message: str
) -> None:
    @asynccontextmanager
    async def failing(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        yield _Failing(error)

    monkeypatch.setattr("mongo_wfstore._cli.common.open_collection", failing)
    result = cli("init-indexes", "--uri", "mongodb://db.example:27017", on_db=False)
    assert result.exit_code == code
    assert message in one_error_line(result)


def test_help_lists_the_commands(cli: Cli) -> None:
    result = cli("--help", on_db=False)
    assert result.exit_code == 0
    for command in ("init-indexes", "purge", "runs"):
        assert command in result.stdout
    runs = cli("runs", "--help", on_db=False)
    assert "show" in runs.stdout and "delete" in runs.stdout


# ── the installed script, the wrapper script, and the extra ───────────────


def installed_script() -> str:
    script = Path(sys.executable).with_name("mongo-wfstore")
    found = str(script) if script.exists() else shutil.which("mongo-wfstore")
    if found is None:
        pytest.fail("the mongo-wfstore script is not installed (pip install -e '.[test]')")
    return found


def run_process(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("MONGODB_URI", None)
    return subprocess.run(
        list(args), capture_output=True, text=True, timeout=60, env=env, cwd=ROOT, check=False
    )


def test_the_installed_script_exits_2_with_one_line_when_the_server_is_unreachable() -> None:
    done = run_process(installed_script(), "init-indexes", *UNREACHABLE)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("mongo-wfstore: error: cannot reach MongoDB at ")


def test_the_installed_script_runs_a_command() -> None:
    done = run_process(installed_script(), "init-indexes", "--uri", "mock://", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changed"] is True


def test_the_setup_indexes_script_is_init_indexes() -> None:
    script = str(ROOT / "scripts" / "setup_indexes.py")
    done = run_process(sys.executable, script, "--uri", "mock://", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("dry run, nothing changed: 10 create")
    refused = run_process(sys.executable, script, "--retention", "-1", "--uri", "mock://")
    assert refused.returncode == 2
    assert refused.stderr.startswith("mongo-wfstore: error: retention must be a positive")


def test_without_the_cli_extra_the_entry_point_says_so_in_one_line() -> None:
    code = (
        "import sys; sys.modules['typer'] = None\n"
        "from mongo_wfstore._cli import main\n"
        "main(['--help'])\n"
    )
    done = run_process(sys.executable, "-c", code)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "mongo-wfstore: the command-line tool needs the 'cli' extra (typer is not installed): "
        "pip install 'mongo-wfstore[cli]'"
    ]


def test_the_library_does_not_import_or_require_the_cli_or_the_mock() -> None:
    code = (
        "import sys, mongo_wfstore\n"
        "print(sorted(m for m in ('typer', 'rich', 'mongomock', 'mongomock_motor', 'motor')"
        " if m in sys.modules))\n"
    )
    done = run_process(sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    base = [req for req in requires("mongo-wfstore") or [] if "extra ==" not in req]
    assert base and not any(
        name in req.lower() for req in base for name in ("typer", "rich", "mongomock", "motor")
    ), base
    cli_extra = [
        req for req in requires("mongo-wfstore") or [] if re.search(r"extra == .cli.$", req)
    ]
    assert any(req.startswith("typer") for req in cli_extra), cli_extra


# ── a real server ─────────────────────────────────────────────────────────


@pytest.fixture
def server_db() -> Iterator[str]:
    from pymongo import MongoClient

    name = f"wfstore_cli_{uuid.uuid4().hex[:12]}"
    yield name
    client: Any = MongoClient(MONGODB_URI, serverSelectionTimeoutMS=5000)
    client.drop_database(name)
    client.close()


@needs_server
def test_on_a_server_init_indexes_is_idempotent_and_changes_a_ttl_in_place(
    server_db: str,
) -> None:
    assert MONGODB_URI
    target = ["--uri", MONGODB_URI, "--db", server_db]
    first = RUNNER.invoke(app, ["init-indexes", "--retention", "30", "--json", *target])
    assert first.exit_code == 0, first.output
    assert {index["action"] for index in json.loads(first.stdout)["indexes"]} == {"create"}
    second = RUNNER.invoke(app, ["init-indexes", "--retention", "30", "--json", *target])
    assert {index["action"] for index in json.loads(second.stdout)["indexes"]} == {"unchanged"}
    changed = RUNNER.invoke(app, ["init-indexes", "--retention", "7", "--json", *target])
    assert changed.exit_code == 0, changed.output
    actions = {index["name"]: index["action"] for index in json.loads(changed.stdout)["indexes"]}
    assert actions["wf_retention"] == "update_ttl"


@needs_server
def test_on_a_server_ensure_indexes_and_the_cli_agree(server_db: str) -> None:
    from pymongo import AsyncMongoClient

    async def work() -> Any:
        client: Any = AsyncMongoClient(MONGODB_URI, serverSelectionTimeoutMS=5000)
        try:
            return await ensure_indexes(client[server_db]["workflow_runs"], dry_run=True)
        finally:
            await client.close()

    report = asyncio.run(work())
    assert MONGODB_URI
    shown = RUNNER.invoke(
        app, ["init-indexes", "--dry-run", "--json", "--uri", MONGODB_URI, "--db", server_db]
    )
    assert json.loads(shown.stdout) == json.loads(report.to_json())


# ── demo ──────────────────────────────────────────────────────────────────


def test_demo_runs_on_the_embedded_database_without_a_uri() -> None:
    done = run_process(installed_script(), "demo", "--run-id", "demo-test")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "embedded in-memory database (mongomock-motor)" in out
    for call in ("create_run", "commit_step('fetch'", "find_wait(", "complete_wait(", "done:"):
        assert call in out, call
    assert "Steps of demo-test (4)" in out
    for step in ("fetch", "summarize", "approve", "publish"):
        assert step in out
    assert out.count("completed") >= 4
    assert done.stderr == ""


def test_demo_json_is_the_run_and_its_steps() -> None:
    done = run_process(installed_script(), "demo", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["backend"] == "embedded mongomock-motor"
    assert [s["step_id"] for s in report["steps"]] == ["fetch", "summarize", "approve", "publish"]
    assert {s["status"] for s in report["steps"]} == {"completed"}
    assert sorted(report["run"]["context"]["steps"]) == [
        "approve",
        "fetch",
        "publish",
        "summarize",
    ]
    assert report["run"]["revision"] == 9
    assert any(call.startswith("complete_wait") for call in report["calls"])


def test_demo_on_a_uri_leaves_the_run_there(cli: Cli) -> None:
    result = cli("demo", "--run-id", "kept")
    assert result.exit_code == 0, result.output
    assert "The run is still in" in result.stdout
    shown = cli("runs", "show", "kept", "--json")
    assert shown.exit_code == 0
    assert len(json.loads(shown.stdout)["steps"]) == 4
    again = cli("demo", "--run-id", "kept")
    assert again.exit_code == 1
    assert "exists already" in one_error_line(again)


def test_demo_against_an_unreachable_server_is_one_line() -> None:
    done = run_process(installed_script(), "demo", *UNREACHABLE)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert "cannot reach MongoDB" in done.stderr


# ── runs list ─────────────────────────────────────────────────────────────


def test_runs_list_pages_newest_first_with_filters(cli: Cli) -> None:
    for i in range(5):
        at = datetime(2026, 1, 1, 0, i, tzinfo=timezone.utc)
        state = new_state(f"r{i}").model_copy(
            update={
                "created_at": at,
                "updated_at": at,
                "thread_id": "t-even" if i % 2 == 0 else "t-odd",
            }
        )
        cli.do(lambda state=state: cli.store.create_run(state))
    first = cli("runs", "list", "--limit", "2")
    assert first.exit_code == 0, first.output
    assert first.stdout.index("r4") < first.stdout.index("r3")
    assert "r2" not in first.stdout
    cursor = first.stdout.split("--cursor ", 1)[1].split()[0]
    rest = cli("runs", "list", "--limit", "10", "--cursor", cursor, "--json")
    assert [r["run_task_id"] for r in json.loads(rest.stdout)["items"]] == ["r2", "r1", "r0"]
    assert json.loads(rest.stdout)["next_cursor"] is None
    even = cli("runs", "list", "--thread", "t-even", "--json")
    assert [r["run_task_id"] for r in json.loads(even.stdout)["items"]] == ["r4", "r2", "r0"]
    bad = cli("runs", "list", "--limit", "0")
    assert bad.exit_code == 2
    assert "limit" in one_error_line(bad)


# ── gc and bench ──────────────────────────────────────────────────────────


def test_gc_deletes_unreferenced_blobs(cli: Cli) -> None:
    store = MongoWorkflowStore(cli.collection, offload_threshold=1024)
    cli.do(lambda: store.create_run(new_state("a").with_input({"big": "x" * 5000})))
    cli.do(lambda: store.create_run(new_state("b").with_input({"big": "y" * 5000})))
    cli.do(lambda: cli.collection.delete_one({"_id": "b"}))  # as a TTL index would
    kept = cli("gc", "--json")
    assert json.loads(kept.stdout)["blobs"] == 0  # younger than the grace period
    counted = cli("gc", "--grace", "0", "--dry-run")
    assert counted.exit_code == 0 and "would delete 1 unreferenced blob(s)" in counted.stdout
    done = cli("gc", "--grace", "0")
    assert "deleted 1 unreferenced blob(s)" in done.stdout
    got = cli.do(lambda: store.get_run("a"))
    assert got.input == {"big": "x" * 5000}
    assert cli("gc", "--grace", "-1").exit_code == 2


def test_bench_runs_the_benchmark_with_its_own_options(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = run_process(
        installed_script(),
        "bench",
        "--runs", "2", "--steps", "3", "--concurrency", "2", "--no-encoding",
        "--scaling-steps", "10", "--scaling-samples", "2", "--writers", "2",
        "--writer-steps", "2", "--isolation-others", "0,2", "--no-progress",
        "--strict", "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "embedded mongomock-motor" in done.stdout
    assert json.loads(out.read_text())["config"]["runs"] == 2
    helped = run_process(installed_script(), "bench", "--help")
    assert helped.returncode == 0 and "mongo-wfstore bench" in helped.stdout
