"""Experiments and runs through the API: submit a spec, start, resume, cancel and follow runs, score them.

What `benchlab run --server` and `benchlab eval --server` do, as functions of a `GraphQLClient`, so other
commands (a CI gate reading a finished run) reuse them.

Submitting a spec file: it is validated here first (every problem, with line numbers, before anything is
sent), and a `dataset.file` is read here and sent inline (the server never reads a client's files). The
project is the spec's `project`; with an API key, which opens one project, a spec without `project` runs in the
key's project, and a spec naming another project is refused before anything is sent. A signed-in user (the
local admin) gets the project created if it does not exist, as a local `benchlab run` does. The experiment is
found by name in the project and updated with the spec, or created.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from benchlab.client.graphql import GraphQLClient, ServerError, SubscriptionLost
from benchlab.client.ids import run_uuid
from benchlab.spec import load_spec
from benchlab.spec.load import read_yaml_file
from benchlab.spec.model import to_plain

ENDED = ("completed", "failed", "cancelled", "interrupted")
WAITING = ("pending", "queued")
RUN_FIELDS = ("id status error summary clientSaturated selfMeasurement cancelRequested "
              "progress { planned completed failed }")
PROGRESS_FIELDS = ("sequence status done total failed requestsPerSecond ttftP50Ms ttftP99Ms errors elapsedSeconds "
                   "snapshot gap phase scored scoringTotal")
PASS_FIELDS = "id status error totalRequests scoredRequests summary"
PAGE = 100


@dataclass(frozen=True)
class SpecDocument:
    """A spec ready to send: the document as written, with a dataset file inlined; and its names."""

    document: dict[str, Any]
    name: str
    project: str | None  # None: the spec names no project


@dataclass(frozen=True)
class RemoteRun:
    """A run as the API returns it, in the terms of the local CLI (lower-case statuses, snake_case counters)."""

    id: UUID
    global_id: str
    status: str
    error: str | None
    summary: dict[str, Any] | None
    self_measurement: dict[str, Any] | None
    client_saturated: bool
    completed_requests: int
    failed_requests: int
    planned_requests: int
    cancel_requested: bool

    @classmethod
    def of(cls, run: Mapping[str, Any]) -> RemoteRun:
        progress = run.get("progress") or {}
        return cls(id=run_uuid(run["id"]), global_id=run["id"], status=str(run["status"]).lower(),
                   error=run.get("error"), summary=run.get("summary"), self_measurement=run.get("selfMeasurement"),
                   client_saturated=bool(run.get("clientSaturated")),
                   completed_requests=int(progress.get("completed") or 0),
                   failed_requests=int(progress.get("failed") or 0), planned_requests=int(progress.get("planned") or 0),
                   cancel_requested=bool(run.get("cancelRequested")))

    @property
    def ended(self) -> bool:
        return self.status in ENDED


def read_spec_file(path: Path) -> SpecDocument:
    """The spec file as the server must receive it; SpecError (exit 2) listing every problem, as a local run."""
    spec = load_spec(path)
    document = read_yaml_file(path)
    assert isinstance(document, dict)  # load_spec accepted it
    document = copy.deepcopy(document)
    dataset = document.get("dataset")
    if isinstance(dataset, dict) and dataset.get("file") is not None:
        document["dataset"] = {"name": spec.dataset.name, "items": to_plain(list(spec.dataset.items))}
    return SpecDocument(document, spec.name, document.get("project"))


async def project_id_for(client: GraphQLClient, project: str | None) -> str:
    """The global id of the project a spec runs in (see the module's docstring)."""
    viewer = (await client.execute("{ viewer { kind } }"))["viewer"]
    if viewer["kind"] == "api_key":
        nodes = (await client.execute("{ projects(first: 1) { nodes { id slug } } }"))["projects"]["nodes"]
        if not nodes:
            raise ServerError(f"the API key opens no active project on {client.base_url} (archived?)")
        if project is not None and nodes[0]["slug"] != project:
            raise ServerError(f"the API key is for project '{nodes[0]['slug']}', but the spec's project is "
                              f"'{project}': use a key of project '{project}', or change `project:` in the spec",
                              "FORBIDDEN")
        return str(nodes[0]["id"])
    slug = project or "default"
    try:
        found = await client.execute("query($slug: String!) { project(slug: $slug) { id } }", {"slug": slug})
        return str(found["project"]["id"])
    except ServerError as exc:
        if exc.code != "NOT_FOUND":
            raise
    created = await client.execute(
        "mutation($slug: String!) { createProject(input: {slug: $slug, name: $slug}) { project { id } } }",
        {"slug": slug})
    return str(created["createProject"]["project"]["id"])


async def find_experiment(client: GraphQLClient, project_id: str, name: str) -> str | None:
    """The global id of the project's experiment called `name` (archived ones too), or None."""
    after: str | None = None
    while True:
        page = (await client.execute(
            "query($id: ID!, $first: Int!, $after: String) { project(id: $id) { experiments(first: $first, "
            "after: $after, includeArchived: true) { nodes { id name } pageInfo { hasNextPage endCursor } } } }",
            {"id": project_id, "first": PAGE, "after": after}))["project"]["experiments"]
        for node in page["nodes"]:
            if node["name"] == name:
                return str(node["id"])
        if not page["pageInfo"]["hasNextPage"]:
            return None
        after = page["pageInfo"]["endCursor"]


async def store_experiment(client: GraphQLClient, project_id: str, spec: SpecDocument) -> str:
    """Update the project's experiment of the spec's name with the spec, or create it; its global id."""
    for _ in range(2):  # a create that lost a race with another client's becomes an update
        existing = await find_experiment(client, project_id, spec.name)
        if existing is not None:
            updated = await client.execute(
                "mutation($id: ID!, $spec: JSON!) { updateExperiment(input: {id: $id, spec: $spec}) "
                "{ experiment { id } } }", {"id": existing, "spec": spec.document})
            return str(updated["updateExperiment"]["experiment"]["id"])
        try:
            created = await client.execute(
                "mutation($project: ID!, $spec: JSON!) { createExperiment(input: {projectId: $project, spec: $spec}) "
                "{ experiment { id } } }", {"project": project_id, "spec": spec.document})
            return str(created["createExperiment"]["experiment"]["id"])
        except ServerError as exc:
            if exc.code != "CONFLICT":
                raise
    raise ServerError(f"experiment '{spec.name}' could not be stored: it was created and removed meanwhile; try again")


async def start_run(client: GraphQLClient, experiment_id: str) -> RemoteRun:
    data = await client.execute(
        f"mutation($id: ID!) {{ startRun(input: {{experimentId: $id}}) {{ run {{ {RUN_FIELDS} }} }} }}",
        {"id": experiment_id})
    return RemoteRun.of(data["startRun"]["run"])


async def resume_run(client: GraphQLClient, run_id: UUID) -> RemoteRun:
    data = await client.execute(f"mutation($id: ID!) {{ resumeRun(id: $id) {{ run {{ {RUN_FIELDS} }} }} }}",
                                {"id": str(run_id)})
    return RemoteRun.of(data["resumeRun"]["run"])


async def cancel_run(client: GraphQLClient, run_id: UUID) -> RemoteRun:
    data = await client.execute(f"mutation($id: ID!) {{ cancelRun(id: $id) {{ run {{ {RUN_FIELDS} }} }} }}",
                                {"id": str(run_id)})
    return RemoteRun.of(data["cancelRun"]["run"])


async def get_run(client: GraphQLClient, run_id: UUID) -> RemoteRun:
    data = await client.execute(f"query($id: ID!) {{ run(id: $id) {{ {RUN_FIELDS} }} }}", {"id": str(run_id)})
    return RemoteRun.of(data["run"])


def progress_message(event: Mapping[str, Any]) -> dict[str, Any]:
    """A `runProgress` event in the shape of the engine's progress messages (what ProgressLine shows)."""
    status = str(event["status"]).lower()
    phase = event.get("phase") or "measuring"
    return {"type": "progress", "runId": "", "sequence": event.get("sequence", 0),
            "status": phase if status == "running" and phase in ("finishing", "scoring") else status,
            "done": event["done"], "total": event.get("total"), "failed": event["failed"],
            "errors": event.get("errors") or {}, "requestsPerSecond": event.get("requestsPerSecond") or 0.0,
            "ttftP50Ms": event.get("ttftP50Ms") or 0.0, "ttftP99Ms": event.get("ttftP99Ms") or 0.0,
            "elapsedSeconds": event.get("elapsedSeconds") or 0.0, "phase": phase, "scored": event.get("scored") or 0,
            "scoringTotal": event.get("scoringTotal")}


async def follow_run(client: GraphQLClient, run_id: UUID, poll_interval: float = 1.0,
                     ) -> AsyncIterator[dict[str, Any]]:
    """Progress messages of a run until it ends: the `runProgress` subscription, or polling `run(id)` when the
    subscription's connection is lost (then only the counters are known)."""
    try:
        async for data in client.subscribe(
                f"subscription($id: ID!) {{ runProgress(runId: $id) {{ {PROGRESS_FIELDS} }} }}", {"id": str(run_id)}):
            message = progress_message(data["runProgress"])
            if message["status"] not in WAITING:
                yield message
            if message["status"] in ENDED:
                return
    except SubscriptionLost:
        pass
    # The subscription ended before the run did (its connection was lost, the server is stopping): poll.
    while True:
        run = await get_run(client, run_id)
        if run.status not in WAITING:
            yield {"type": "progress", "runId": "", "sequence": 0, "status": run.status, "done": run.completed_requests,
                   "total": run.planned_requests or None, "failed": run.failed_requests, "errors": {},
                   "requestsPerSecond": 0.0, "ttftP50Ms": 0.0, "ttftP99Ms": 0.0, "elapsedSeconds": 0.0,
                   "phase": "ended" if run.ended else "measuring", "scored": 0, "scoringTotal": None}
        if run.ended:
            return
        await asyncio.sleep(poll_interval)


async def score_run(client: GraphQLClient, run_id: UUID, evaluators: Mapping[str, Any] | None) -> str:
    """Start a scoring pass of an ended run (with the spec's evaluators, or these); the pass id."""
    data = await client.execute(
        "mutation($id: ID!, $evaluators: JSON) { scoreRun(input: {runId: $id, evaluators: $evaluators}) "
        "{ scoringPass { id } } }", {"id": str(run_id), "evaluators": dict(evaluators) if evaluators else None})
    return str(data["scoreRun"]["scoringPass"]["id"])


async def get_scoring_pass(client: GraphQLClient, run_id: UUID, pass_id: str | None = None) -> dict[str, Any] | None:
    """A scoring pass of the run (the current one without `pass_id`): its status, counters and stored summary."""
    data = await client.execute(f"query($id: ID!, $pass: String) {{ run(id: $id) {{ scoring(passId: $pass) "
                                f"{{ {PASS_FIELDS} }} }} }}", {"id": str(run_id), "pass": pass_id})
    scoring: dict[str, Any] | None = data["run"]["scoring"]
    return scoring


async def wait_for_pass(client: GraphQLClient, run_id: UUID, pass_id: str,
                        on_progress: Callable[[int, int], Awaitable[None]] | None = None,
                        interval: float = 0.5) -> dict[str, Any]:
    """Poll a scoring pass until it is completed or failed; returns it."""
    seen: tuple[int, int] | None = None
    while True:
        scoring = await get_scoring_pass(client, run_id, pass_id)
        if scoring is None:
            raise ServerError(f"scoring pass {pass_id} of run {run_id} is not on {client.base_url}")
        counters = (int(scoring["scoredRequests"]), int(scoring["totalRequests"]))
        if on_progress is not None and counters != seen and counters[1]:
            seen = counters
            await on_progress(*counters)
        if scoring["status"] in ("completed", "failed"):
            return scoring
        await asyncio.sleep(interval)
