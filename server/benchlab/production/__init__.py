"""Production traffic beyond ingest: sampled scoring of production requests by the evaluators."""
