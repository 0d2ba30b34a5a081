-- An item's own evaluators (`assert` in the spec, docs/evaluation.md) and its human reference verdicts (`labels`).
-- NULL when the item has none, which keeps the content hash of every item stored before them.

ALTER TABLE dataset_item_revisions
    ADD COLUMN asserts jsonb,   -- [{"type": ..., "name": ..., ...}], as EvaluatorSpec.as_document writes them
    ADD COLUMN labels  jsonb;   -- {"<llm-rubric evaluator name>": true | false | 0..1 | "label"}
