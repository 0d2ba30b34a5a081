"""Scalars whose stock parsing lets values through that the stores cannot hold.

`DateTime` is strawberry's own (ISO 8601) plus the range check of `analytics.validation`: a time outside
1900..2299 is a BAD_USER_INPUT naming the range for every argument at once, instead of an overflow deep in
asyncpg (year 1 shifted by its offset) or a ClickHouse parameter error.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import dateutil.parser
import strawberry
from strawberry.schema.types.base_scalars import wrap_parser
from strawberry.types.scalar import ScalarDefinition

from benchlab.analytics.errors import AnalyticsInputError
from benchlab.analytics.validation import TIME_RANGE, check_instant


def parse_datetime(text: str) -> datetime:
    moment = dateutil.parser.isoparse(text)
    try:
        check_instant(moment, "DateTime")
    except AnalyticsInputError as error:
        raise ValueError(error.problem) from None
    return moment


DateTime = strawberry.scalar(
    name="DateTime", description=f"Date with time (ISO 8601), from {TIME_RANGE}.",
    serialize=datetime.isoformat, parse_value=wrap_parser(parse_datetime, "DateTime"))

SCALAR_OVERRIDES: Mapping[object, ScalarDefinition] = {datetime: DateTime}
