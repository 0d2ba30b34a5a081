"""`benchlab baseline set RUN_ID [--name main]`: make a run its experiment's baseline from a CI job.

On the configured stores (commands/configured_postgres.py: also while `benchlab serve` runs), audited as
`cli:<os user>`; or in a server through `setBaseline` (`--server URL` / BENCHLAB_SERVER_URL and
BENCHLAB_API_KEY). A typical job: on the main branch, `benchlab run SPEC` then `benchlab baseline set RUN_ID`;
on a pull request, `benchlab run SPEC --gate --baseline main`.
"""

from __future__ import annotations

import asyncio
import socket
from uuid import UUID

from benchlab.commands.keys import cli_actor
from benchlab.config import Settings
from benchlab.stores.postgres import PgConnection

SET_BASELINE = """mutation($id: ID!, $name: String!) { setBaseline(input: {runId: $id, name: $name}) {
  baseline { name experiment { name } } replacedRun { id } } }"""


def baseline_set_command(settings: Settings, run_id: UUID, name: str) -> int:
    from benchlab.auth.audit import record
    from benchlab.commands.configured_postgres import on_configured_postgres
    from benchlab.stores.baselines import set_baseline

    actor = cli_actor()

    async def job(conn: PgConnection) -> tuple[str, UUID | None]:
        async with conn.transaction():
            change = await set_baseline(conn, run_id, name, actor)
            project_id = await conn.fetchval("SELECT project_id FROM runs WHERE id = $1", run_id)
            await record(conn, actor=actor, action="baseline.set", target=str(run_id), project_id=project_id,
                         name=name, replaced=str(change.replaced_run_id) if change.replaced_run_id else None,
                         host=socket.gethostname())
        return name, change.replaced_run_id

    _, replaced = on_configured_postgres(settings, job)[0]
    print(f"run {run_id} is now baseline {name!r}" + (f" (replacing run {replaced})" if replaced else ""))
    return 0


def remote_baseline_set_command(url: str, credential: str, run_id: UUID, name: str) -> int:
    from benchlab.client.graphql import GraphQLClient

    async def send() -> dict[str, object]:
        async with GraphQLClient(url, credential) as client:
            return await client.execute(SET_BASELINE, {"id": str(run_id), "name": name})

    payload = asyncio.run(send())["setBaseline"]
    assert isinstance(payload, dict)
    replaced = payload.get("replacedRun")
    print(f"run {run_id} is now baseline {name!r}" + (f" (replacing run {replaced['id']})" if replaced else ""))
    return 0
