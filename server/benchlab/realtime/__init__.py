"""Live fan-out of progress and request events (DESIGN.md §8)."""
