"""Rows from outside this process: the ingest endpoint (docs/ingest.md) and the worker relay."""
