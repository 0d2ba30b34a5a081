"""The catalog's rules and the commands behind the GraphQL mutations for projects, providers, models,
datasets (with item imports), prompts (with immutable versions) and experiments, and the registration of an
experiment spec's entities (`register_experiment`).

Every command takes an asyncpg connection, runs in one transaction (a failed command leaves the database
as it was) and returns the stored row as a frozen record (records live with their repositories in
`benchlab.stores`, which hold every statement). Errors are written for the user: InvalidInputError (every
problem with its field path), SpecError (experiment specs), NotFoundError (also for ids of other projects),
ConflictError (taken names, archived entities, immutable versions).
"""

from benchlab.catalog.common import UNSET, Unset
from benchlab.catalog.dataset_import import DatasetImportResult, import_dataset_items
from benchlab.catalog.datasets import archive_dataset, create_dataset
from benchlab.catalog.experiments import (
    CreatesCatalogEntries,
    archive_experiment,
    create_experiment,
    update_experiment,
)
from benchlab.catalog.models import archive_model, create_model, update_model
from benchlab.catalog.projects import archive_project, create_project, unarchive_project, update_project
from benchlab.catalog.prompts import archive_prompt, create_prompt, create_prompt_version
from benchlab.catalog.providers import archive_provider, create_provider, update_provider
from benchlab.catalog.registration import Created, RegisteredExperiment, register_experiment

__all__ = [
    "UNSET", "Created", "CreatesCatalogEntries", "DatasetImportResult", "RegisteredExperiment", "Unset",
    "archive_dataset", "archive_experiment", "archive_model", "archive_project", "archive_prompt",
    "archive_provider", "create_dataset", "create_experiment", "create_model", "create_project", "create_prompt",
    "create_prompt_version", "create_provider", "import_dataset_items", "register_experiment", "unarchive_project",
    "update_experiment", "update_model", "update_project", "update_provider",
]
