"""Record an experiment spec's entities in PostgreSQL, in one transaction, before a run refers to them.

Providers and models are upserted by name (credentials encrypted, never stored in plain text), and the ones
created are reported so that the API can audit them like createProvider/createModel; the dataset becomes a
version identified by its content (an unchanged dataset reuses its version, a changed item gets a new
append-only revision); prompt versions are immutable (same name and version with other content is an error
asking for a new version); the experiment keeps the full spec, secrets removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from benchlab.catalog.datasets import register_dataset_version
from benchlab.catalog.prompts import register_prompt_version
from benchlab.secrets import SecretBox
from benchlab.spec import ExperimentSpec
from benchlab.stores import experiments as experiment_store
from benchlab.stores import models as model_store
from benchlab.stores import projects as project_store
from benchlab.stores import providers as provider_store
from benchlab.stores.postgres import PgConnection


@dataclass(frozen=True)
class Created:
    """A provider or model that registering a spec created (rather than found stored)."""

    kind: str          # "provider" | "model"
    name: str
    credentials_set: bool = False


@dataclass(frozen=True)
class RegisteredExperiment:
    project_id: UUID
    experiment_id: UUID
    dataset_version_id: UUID
    created: tuple[Created, ...] = ()


async def register_experiment(conn: PgConnection, spec: ExperimentSpec, box: SecretBox) -> RegisteredExperiment:
    """Store the spec's project, providers, models, prompt versions, dataset version and experiment."""
    async with conn.transaction():
        project_id = await project_store.ensure_project(conn, spec.project)
        provider_ids = {}
        created = []
        for provider in spec.providers:
            key = provider.resolve_api_key()
            provider_id, inserted = await provider_store.upsert_provider(
                conn, project_id, provider, box.encrypt(key) if key else None)
            provider_ids[provider.name] = provider_id
            if inserted:
                created.append(Created("provider", provider.name, credentials_set=bool(key)))
        for model in spec.models:
            if await model_store.upsert_model(conn, project_id, provider_ids[model.provider], model):
                created.append(Created("model", model.name))
        for prompt in spec.prompts:
            await register_prompt_version(conn, project_id, prompt)
        version_id = await register_dataset_version(conn, project_id, spec.dataset)
        experiment_id = await experiment_store.upsert_experiment(
            conn, project_id, spec.name, spec.description or "", spec.to_dict(), version_id)
    return RegisteredExperiment(project_id, experiment_id, version_id, tuple(created))
