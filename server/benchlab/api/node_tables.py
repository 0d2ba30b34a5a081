"""Where the rows behind each Relay node type live: one table (or join) per type, shared by `node(id:)` and
the permission checks (which need a node's project, not its GraphQL type)."""

from __future__ import annotations

from benchlab.stores.alerts import WEBHOOK_ROWS
from benchlab.stores.listing import ITEM_REVISIONS

NODE_TABLES: dict[str, str] = {
    "Project": "projects",
    "Provider": "providers",
    "Model": "models",
    "Dataset": "datasets",
    "DatasetVersion": "dataset_versions",
    "DatasetItem": ITEM_REVISIONS,
    "Prompt": "prompts",
    "PromptVersion": "prompt_versions",
    "Experiment": "experiments",
    "Run": "runs",
    "ApiKey": "api_keys",
    "User": "users",
    "Schedule": "schedules",
    "AlertRule": "alert_rules",
    "AlertEvent": "alert_events",
    "AlertWebhook": WEBHOOK_ROWS,  # never the encrypted secret
}
