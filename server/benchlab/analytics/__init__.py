"""Analytics over `request_events` for the API: run tables, timelines, time series, run comparison, drill-down.

Every query leads with the project (the table's sort key), carries a run or time bound, binds user values as
parameters, and returns columnar results (one list per column) except the paginated request list.
"""

from benchlab.analytics.columns import KeyColumn, PercentileColumn
from benchlab.analytics.compare import RunComparison, compare_runs
from benchlab.analytics.errors import AnalyticsInputError, InvalidCursorError
from benchlab.analytics.requests import RequestFilter, RequestPage, RequestRow, count_requests, list_requests
from benchlab.analytics.run_metrics import MetricColumns, RunMetrics, run_metrics
from benchlab.analytics.series import LatencySeries, latency_series
from benchlab.analytics.timeline import RunTimeline, run_timeline

__all__ = [
    "AnalyticsInputError", "InvalidCursorError", "KeyColumn", "LatencySeries", "MetricColumns", "PercentileColumn",
    "RequestFilter", "RequestPage", "RequestRow", "RunComparison", "RunMetrics", "RunTimeline", "compare_runs",
    "count_requests", "latency_series", "list_requests", "run_metrics", "run_timeline",
]
