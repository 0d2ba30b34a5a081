"""Live fan-out of progress and request events (docs/architecture.md §8)."""
