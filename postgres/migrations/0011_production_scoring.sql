-- Sampled scoring of production traffic (issue 16): one rule set per project (evaluators in the experiment spec's
-- vocabulary, a sample rate, an optional model filter) and the scorer's progress through the project's production
-- rows in ClickHouse. benchlab/production/scorer.py reads rows after the watermark (ts, event_id), keeps those
-- whose event-id hash falls under the rate, scores them and writes `scores` rows tagged with `pass_id`.
--
-- No double scoring across replicas or restarts: a scorer claims the next batch in one short transaction (the
-- row locked FOR UPDATE SKIP LOCKED) by writing it here (`batch_*`, with a lease), scores it outside any
-- transaction, writes the scores with `batch_id` as ClickHouse's insert deduplication token, then advances the
-- watermark if the batch is still its own. A scorer that dies leaves the batch; once the lease has passed another
-- takes it over unchanged (same rows, same token), so ClickHouse drops a second copy of rows that had landed.
--
-- Every change of evaluators, rate or models makes a new version with a new `pass_id`: scores say which rules
-- produced them. `source = 'production'` rows only; the rate is (0, 1].

CREATE TABLE production_scoring (
    project_id       uuid             PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    document         jsonb            NOT NULL,  -- `evaluators`, `judges`, `evaluation` as stored (defaults spelled out)
    sample_rate      double precision NOT NULL CHECK (sample_rate > 0 AND sample_rate <= 1),
    models           text[]           NOT NULL DEFAULT '{}',  -- empty: every model
    enabled          boolean          NOT NULL DEFAULT true,
    version          integer          NOT NULL DEFAULT 1 CHECK (version >= 1),
    pass_id          uuid             NOT NULL UNIQUE,
    -- Rows after (watermark_ts, watermark_event) in (ts, event_id) order are still to be looked at.
    watermark_ts     timestamptz      NOT NULL,
    watermark_event  uuid             NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    -- The batch a scorer claimed and has not finished: its rows, where the watermark goes once it is written.
    batch_id         uuid,
    batch_events     uuid[],
    batch_until_ts   timestamptz,
    batch_until_event uuid,
    batch_lease_until timestamptz,
    -- What the scorer did, for people and alerts.
    scored_requests  bigint           NOT NULL DEFAULT 0,
    judge_calls      bigint           NOT NULL DEFAULT 0,
    judge_errors     bigint           NOT NULL DEFAULT 0,
    judge_cost_usd   double precision NOT NULL DEFAULT 0,
    last_scored_at   timestamptz,
    last_error       text,
    created_by       text             NOT NULL,
    created_at       timestamptz      NOT NULL DEFAULT now(),
    updated_by       text             NOT NULL,
    updated_at       timestamptz      NOT NULL DEFAULT now(),
    CHECK ((batch_id IS NULL) = (batch_events IS NULL))
);
CREATE INDEX production_scoring_enabled_idx ON production_scoring (project_id) WHERE enabled;
