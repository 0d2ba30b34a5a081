-- Entities of the experiment engine (DESIGN.md §4-5): providers and models, datasets with versions and
-- append-only item revisions, prompts with immutable versions, experiments (the full spec) and runs.

CREATE TABLE providers (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id      uuid        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name            text        NOT NULL,
    provider_type   text        NOT NULL,              -- litellm provider prefix: openai, anthropic, ...
    api_base        text,
    transport       text        NOT NULL DEFAULT 'auto' CHECK (transport IN ('auto', 'litellm', 'direct')),
    max_concurrency integer     CHECK (max_concurrency IS NULL OR max_concurrency >= 1),
    -- Fernet token of the API key (benchlab.secrets); never returned by any API.
    credentials_encrypted bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    archived_at     timestamptz,
    UNIQUE (project_id, name)
);

CREATE TABLE models (
    id                     uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id             uuid        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    provider_id            uuid        NOT NULL REFERENCES providers (id),
    name                   text        NOT NULL,     -- label used in results
    model_id               text        NOT NULL,     -- the provider's model id as litellm names it
    input_price_per_mtok   double precision CHECK (input_price_per_mtok >= 0),
    output_price_per_mtok  double precision CHECK (output_price_per_mtok >= 0),
    params                 jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    archived_at            timestamptz,
    UNIQUE (project_id, name)
);

CREATE TABLE datasets (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id  uuid        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    archived_at timestamptz,
    UNIQUE (project_id, name)
);

-- An item's identity; its content lives in revisions.
CREATE TABLE dataset_items (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    dataset_id  uuid        NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    external_id text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dataset_id, external_id)
);

-- Append-only: a change to an item is a new revision; old versions keep pointing at old revisions.
CREATE TABLE dataset_item_revisions (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    item_id             uuid        NOT NULL REFERENCES dataset_items (id) ON DELETE CASCADE,
    revision            integer     NOT NULL,
    content_hash        text        NOT NULL,
    input               jsonb       NOT NULL,       -- {"vars": {...}} or {"messages": [...]}
    expected_output     text,
    expected_tool_calls jsonb,
    metadata            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (item_id, revision)
);

CREATE TABLE dataset_versions (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    dataset_id  uuid        NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    version     integer     NOT NULL,
    content_hash text       NOT NULL,
    item_count  integer     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dataset_id, version),
    UNIQUE (dataset_id, content_hash)
);

CREATE TABLE dataset_version_items (
    version_id  uuid    NOT NULL REFERENCES dataset_versions (id) ON DELETE CASCADE,
    revision_id uuid    NOT NULL REFERENCES dataset_item_revisions (id),
    position    integer NOT NULL,
    PRIMARY KEY (version_id, revision_id)
);

CREATE TABLE prompts (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id  uuid        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    archived_at timestamptz,
    UNIQUE (project_id, name)
);

CREATE TABLE prompt_versions (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    prompt_id    uuid        NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    version      text        NOT NULL,
    template     jsonb       NOT NULL,             -- {"messages": [...]} or {"text": "..."}
    content_hash text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (prompt_id, version)
);

-- Immutable history: revisions and prompt versions are never updated in place.
CREATE FUNCTION benchlab_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable; create a new version instead', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER dataset_item_revisions_immutable BEFORE UPDATE ON dataset_item_revisions
    FOR EACH ROW EXECUTE FUNCTION benchlab_refuse_update();
CREATE TRIGGER prompt_versions_immutable BEFORE UPDATE ON prompt_versions
    FOR EACH ROW EXECUTE FUNCTION benchlab_refuse_update();

CREATE TABLE experiments (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id         uuid        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name               text        NOT NULL,
    description        text        NOT NULL DEFAULT '',
    spec               jsonb       NOT NULL,        -- the full spec, secrets removed
    dataset_version_id uuid        REFERENCES dataset_versions (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    archived_at        timestamptz,
    UNIQUE (project_id, name)
);

CREATE TABLE runs (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id        uuid        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    experiment_id     uuid        NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    status            text        NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'queued', 'running', 'completed', 'failed', 'cancelled',
                                        'interrupted')),
    config_snapshot   jsonb       NOT NULL,        -- the spec this run ran, secrets removed
    planned_requests  integer     NOT NULL DEFAULT 0,
    completed_requests integer    NOT NULL DEFAULT 0,
    failed_requests   integer     NOT NULL DEFAULT 0,
    summary           jsonb,
    client_saturated  boolean     NOT NULL DEFAULT false,
    self_measurement  jsonb,                        -- send lag and event-loop lag figures
    error             text,
    owner             text,                         -- host:pid of the process executing it
    cancel_requested  boolean     NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    heartbeat_at      timestamptz
);
CREATE INDEX runs_project_created_idx ON runs (project_id, created_at DESC);
CREATE INDEX runs_active_idx ON runs (status) WHERE status IN ('queued', 'running');
