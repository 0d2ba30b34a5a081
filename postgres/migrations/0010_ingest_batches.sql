-- Batches received by the ingest endpoint (POST /ingest/v1/...), by idempotency key, so a replayed batch is
-- answered with its first answer and written once (issue 14). `caller` is who sent it (an API key's id or a
-- worker's name): keys are unique per caller and table. Kept a day, then pruned by the orphan sweeper.
CREATE TABLE ingest_batches (
    caller          text        NOT NULL,
    table_name      text        NOT NULL,
    idempotency_key text        NOT NULL,
    body_sha256     text        NOT NULL,
    response        jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, table_name, idempotency_key)
);
CREATE INDEX ingest_batches_created_idx ON ingest_batches (created_at);
