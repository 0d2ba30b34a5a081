"""Audit entries for providers and models, however they come to exist: createProvider, createModel, or an
experiment spec that defines them (createExperiment/updateExperiment, admins only). One function, so every
way in leaves the same trail: `provider.create` (with whether a key was stored) and `model.create`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from strawberry.types import Info

from benchlab.api.auditing import audit
from benchlab.catalog import Created


async def audit_created(info: Info, project_id: UUID, created: Iterable[Created], **details: Any) -> None:
    for item in created:
        credentials = {"credentials_set": item.credentials_set} if item.kind == "provider" else {}
        await audit(info, f"{item.kind}.create", item.name, project_id, **credentials, **details)
