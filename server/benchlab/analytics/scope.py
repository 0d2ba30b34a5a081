"""WHERE clauses that lead with the table's sort key (project, then time or run) so scans stay narrow."""

from __future__ import annotations

RUNS = "project_id = {project:UUID} AND run_id IN {runs:Array(UUID)}"
TIME_RANGE = ("project_id = {project:UUID} AND ts >= {start:DateTime64(6, 'UTC')} "
              "AND ts < {end:DateTime64(6, 'UTC')}")
IN_WINDOW = " AND in_window"  # warm-up and cool-down requests excluded, as in the run summary
# Requests of one source (`experiment`, or `production`: traffic of an application, ingested), bound as `source`.
SOURCE = " AND source = {source:String}"
SOURCES = ("experiment", "production")


def runs_scope(include_window_only: bool) -> str:
    """Rows of the runs bound as `runs` in the project bound as `project`."""
    return RUNS + (IN_WINDOW if include_window_only else "")


def time_scope(include_window_only: bool) -> str:
    """Rows of any run of the project bound as `project` sent in [`start`, `end`)."""
    return TIME_RANGE + (IN_WINDOW if include_window_only else "")
