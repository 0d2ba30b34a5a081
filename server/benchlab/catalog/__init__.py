"""The write side of the catalog: commands behind the GraphQL mutations for projects, providers, models,
datasets (with item imports), prompts (with immutable versions) and experiments.

Every command takes an asyncpg connection, runs in one transaction (a failed command leaves the database
as it was) and returns the stored row as a frozen record. Errors are written for the user:
InvalidInputError (every problem with its field path), SpecError (experiment specs), NotFoundError (also for
ids of other projects), ConflictError (taken names, archived entities, immutable versions).
"""

from benchlab.catalog.common import UNSET, Unset
from benchlab.catalog.dataset_import import import_dataset_items
from benchlab.catalog.datasets import archive_dataset, create_dataset, unarchive_dataset
from benchlab.catalog.experiments import (
    archive_experiment,
    create_experiment,
    unarchive_experiment,
    update_experiment,
)
from benchlab.catalog.models import archive_model, create_model, unarchive_model, update_model
from benchlab.catalog.projects import archive_project, create_project, unarchive_project, update_project
from benchlab.catalog.prompts import archive_prompt, create_prompt, create_prompt_version, unarchive_prompt
from benchlab.catalog.providers import archive_provider, create_provider, unarchive_provider, update_provider
from benchlab.catalog.records import (
    DatasetImportResult,
    DatasetRecord,
    DatasetVersionRecord,
    ExperimentRecord,
    ModelRecord,
    ProjectRecord,
    PromptRecord,
    PromptVersionRecord,
    ProviderRecord,
)

__all__ = [
    "UNSET", "DatasetImportResult", "DatasetRecord", "DatasetVersionRecord", "ExperimentRecord", "ModelRecord",
    "ProjectRecord", "PromptRecord", "PromptVersionRecord", "ProviderRecord", "Unset", "archive_dataset",
    "archive_experiment", "archive_model", "archive_project", "archive_prompt", "archive_provider", "create_dataset",
    "create_experiment", "create_model", "create_project", "create_prompt", "create_prompt_version",
    "create_provider", "import_dataset_items", "unarchive_dataset", "unarchive_experiment", "unarchive_model",
    "unarchive_project", "unarchive_prompt", "unarchive_provider", "update_experiment", "update_model",
    "update_project", "update_provider",
]
