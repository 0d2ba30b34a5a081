"""The judge verdict cache (PostgreSQL `judge_verdicts`): a judge call asked once per project.

The key is a hash of the judge model, its params and the exact messages sent (evaluation.judges builds it),
so only an identical call reuses an answer. The raw answer is kept, not the parsed verdict: a pass with
another threshold reads the same answer its own way.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from benchlab.stores.postgres import PgConnection


@dataclass(frozen=True)
class CachedVerdict:
    answer: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_ms: float


async def cached_verdict(conn: PgConnection, project_id: UUID, cache_key: str) -> CachedVerdict | None:
    row = await conn.fetchrow(
        "SELECT answer, prompt_tokens, completion_tokens, cost_usd, latency_ms FROM judge_verdicts "
        "WHERE project_id = $1 AND cache_key = $2", project_id, cache_key)
    return CachedVerdict(*row) if row else None


async def store_verdict(conn: PgConnection, project_id: UUID, cache_key: str, judge_model: str,
                        verdict: CachedVerdict) -> None:
    """Keep a judge's answer; a concurrent identical call that stored first wins (same answer or not)."""
    await conn.execute(
        "INSERT INTO judge_verdicts (project_id, cache_key, judge_model, answer, prompt_tokens, completion_tokens, "
        "cost_usd, latency_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        project_id, cache_key, judge_model, verdict.answer, verdict.prompt_tokens, verdict.completion_tokens,
        verdict.cost_usd, verdict.latency_ms)
