-- Alerts (issue 16, docs/alerts.md): rules on production and run figures, their firing/resolved history, the
-- project's webhook endpoints, and an outbox of deliveries with a log of every attempt.
--
-- No duplicate notification across replicas, none lost on a crash: a rule's state changes only by a conditional
-- UPDATE (`WHERE state = 'ok'` to fire, `WHERE firing_event_id = $event` to resolve), and the event and one
-- delivery row per webhook are inserted in the same transaction. Unique keys hold it in the schema too: one
-- firing and one resolved event per incident, one delivery per (event, webhook), one attempt row per number.

CREATE TABLE alert_rules (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id        uuid        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name              text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind              text        NOT NULL CHECK (kind IN ('latency_percentile', 'error_rate', 'daily_cost',
                                                           'gate_failure', 'judge_pass_rate')),
    metric            text,                          -- latency_percentile: a request_events latency column
    percentile        double precision CHECK (percentile > 0 AND percentile <= 100),
    threshold         double precision NOT NULL,     -- ms, a fraction 0..1 or USD, by kind (docs/alerts.md)
    window_minutes    integer     CHECK (window_minutes BETWEEN 1 AND 1440),
    min_count         integer     NOT NULL DEFAULT 0 CHECK (min_count BETWEEN 0 AND 1000000),
    evaluator         text,                          -- judge_pass_rate: the evaluator's name
    experiment_id     uuid        REFERENCES experiments (id) ON DELETE CASCADE,
    source            text        NOT NULL CHECK (source IN ('production', 'experiment', 'all')),
    model             text,
    enabled           boolean     NOT NULL DEFAULT true,
    -- The state machine: ok -> firing (an event) -> ok (a resolved event for the same incident).
    state             text        NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'firing')),
    state_since       timestamptz NOT NULL DEFAULT now(),
    firing_event_id   uuid,                          -- the open incident while firing
    last_value        double precision,              -- the figure at the last evaluation (NULL: no figure)
    last_count        bigint,                        -- how many requests or scores it was computed over
    last_evaluated_at timestamptz,                   -- also the claim: a replica takes a rule only when it is due
    created_by        text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    archived_at       timestamptz,
    CHECK ((state = 'firing') = (firing_event_id IS NOT NULL))
);
CREATE UNIQUE INDEX alert_rules_name_key ON alert_rules (project_id, name) WHERE archived_at IS NULL;
CREATE INDEX alert_rules_project_idx ON alert_rules (project_id, created_at DESC);
CREATE INDEX alert_rules_due_idx ON alert_rules (last_evaluated_at NULLS FIRST)
    WHERE enabled AND archived_at IS NULL;

-- Every transition, with the figure, the threshold and a snapshot of the rule as it was (history stays
-- readable after the rule is edited or deleted). `incident_id` is the firing event's id, on both events.
CREATE TABLE alert_events (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id  uuid        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    rule_id     uuid        NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    incident_id uuid        NOT NULL,
    state       text        NOT NULL CHECK (state IN ('firing', 'resolved')),
    value       double precision,
    count       bigint,
    threshold   double precision NOT NULL,
    summary     text        NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    at          timestamptz NOT NULL,
    UNIQUE (incident_id, state)
);
CREATE INDEX alert_events_project_idx ON alert_events (project_id, at DESC, id DESC);
CREATE INDEX alert_events_rule_idx ON alert_events (rule_id, at DESC);

-- Where a project's notifications go. The signing secret is encrypted with the server's key
-- (BENCHLAB_SECRET_KEY, like provider credentials) and never selected by the API.
CREATE TABLE alert_webhooks (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id       uuid        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name             text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    url              text        NOT NULL,
    format           text        NOT NULL CHECK (format IN ('benchlab', 'slack')),
    secret_encrypted bytea,
    enabled          boolean     NOT NULL DEFAULT true,
    created_by       text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    archived_at      timestamptz
);
CREATE UNIQUE INDEX alert_webhooks_name_key ON alert_webhooks (project_id, name) WHERE archived_at IS NULL;

-- The outbox: one row per (event, webhook), written with the event; its id is the delivery id receivers see.
-- A sender claims due rows (FOR UPDATE SKIP LOCKED), marks them `sending` with a lease and a claim token, posts
-- outside any transaction and records the outcome only while its claim is current; a sender that died leaves
-- a lease that expires, and the row is sent again (same id, same body).
CREATE TABLE alert_deliveries (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id      uuid        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    event_id        uuid        NOT NULL REFERENCES alert_events (id) ON DELETE CASCADE,
    webhook_id      uuid        NOT NULL REFERENCES alert_webhooks (id) ON DELETE CASCADE,
    body            text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    claim           uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    UNIQUE (event_id, webhook_id)
);
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX alert_deliveries_webhook_idx ON alert_deliveries (webhook_id, created_at DESC);

CREATE TABLE alert_delivery_attempts (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    delivery_id uuid        NOT NULL REFERENCES alert_deliveries (id) ON DELETE CASCADE,
    attempt     integer     NOT NULL,
    at          timestamptz NOT NULL,
    status_code integer,                 -- NULL: no HTTP answer (timeout, refused connection)
    error       text,                    -- NULL on success; never the URL's path or query, nor the secret
    duration_ms double precision NOT NULL,
    UNIQUE (delivery_id, attempt)
);

-- GATE_FAILURE rules read a project's most recently gated runs.
CREATE INDEX runs_project_gated_idx ON runs (project_id, gated_at DESC) WHERE gated_at IS NOT NULL;
