-- Baselines (issue 12): the run an experiment's later runs are compared with, under a name (`main`,
-- `release-1.4`). One run per (experiment, name): setting a name again replaces its run in place (an UPDATE,
-- recording who set it and when). Only completed runs of the same experiment qualify (stores/baselines.py
-- says why when not); the composite reference keeps a baseline's run inside its experiment for any writer.

ALTER TABLE runs ADD CONSTRAINT runs_id_experiment_key UNIQUE (id, experiment_id);

CREATE TABLE baselines (
    experiment_id uuid        NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    -- Not shaped like a UUID (CLI arguments take a baseline name or a run id), no spaces, at most 100 characters.
    name          text        NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$'
                                              AND name !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    run_id        uuid        NOT NULL,
    set_by        text        NOT NULL,         -- the audit log's actor: an email, `api-key:<id>`, `cli:<user>`
    set_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (experiment_id, name),
    FOREIGN KEY (run_id, experiment_id) REFERENCES runs (id, experiment_id) ON DELETE CASCADE
);
CREATE INDEX baselines_run_idx ON baselines (run_id);
