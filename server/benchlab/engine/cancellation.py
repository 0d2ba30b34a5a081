"""Finishing work that must not stop half-way, and telling a task's own cancellation from an awaited one's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


async def even_if_cancelled(work: Awaitable[None]) -> None:
    """Run `work` to its end even when this task is cancelled meanwhile, then let the cancellation through.

    Closing down must not stop half-way: a cancel that lands while rows are being flushed (a process stopping,
    a server shutting down) would otherwise leave them to a writer nobody waits for, and a resume that starts
    right after would not see them and send those requests again.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()


def cancelling() -> bool:
    """Whether the current task itself is being cancelled (as opposed to a task it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
