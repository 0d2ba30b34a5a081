"""Scoring responses (docs/evaluation.md): evaluators, judge prompts and verdicts, per-request aggregation.

Pure: what an evaluator sees (`Response`, `ItemContext`) in, `Score`s out; no I/O. Judge calls and the scoring
pass that reads responses and writes scores live in the engine.
"""
