"""Exports of requests, scores and dataset versions as JSONL, CSV and Parquet, streamed in constant memory."""
