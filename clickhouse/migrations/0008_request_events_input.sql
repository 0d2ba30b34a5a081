-- What the application asked, for production rows (ingested through OTLP traces or the litellm callback): the
-- input messages as JSON, so sampled production requests can be scored (an LLM judge needs the question next to
-- the answer). Experiment rows leave it empty: their input is the dataset item the row names. Capped by the
-- producer's path like `output`; ZSTD(3) because text compresses well.
ALTER TABLE request_events ADD COLUMN IF NOT EXISTS input String DEFAULT '' CODEC(ZSTD(3)) AFTER error_message;
