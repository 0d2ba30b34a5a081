"""GraphQL operations into the Prometheus metrics (benchlab/telemetry.py): latency and live subscriptions.

A schema extension, first in the schema's list, so its `on_operation` wraps every other extension: the
duration covers parse, validation, limits and execution, and the outcome is the result the client gets.
strawberry runs `on_operation` around a subscription's whole life, so subscriptions are not timed (their
duration is how long a client stayed) but counted while they run.

Labels stay bounded whatever clients send: the operation type, and the operation's root field, taken only
once validation passed (so it is a field of the schema), `multiple` when it selects several, `other` when
it never got that far. The operation name a client chose is never a label.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from graphql import DocumentNode, FieldNode, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from benchlab.telemetry import ACTIVE_SUBSCRIPTIONS, GRAPHQL_OPERATION_DURATION

OTHER = "other"


class OperationMetrics(SchemaExtension):
    _field = OTHER
    _subscribed = False

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            if self._subscribed:
                ACTIVE_SUBSCRIPTIONS.labels(self._field).dec()
            else:
                operation_type = self._operation_type()
                if operation_type != OperationType.SUBSCRIPTION.value:
                    result = self.execution_context.result
                    outcome = "error" if failed or getattr(result, "errors", None) else "ok"
                    GRAPHQL_OPERATION_DURATION.labels(operation_type, self._field, outcome).observe(
                        time.perf_counter() - started)

    def on_execute(self) -> Iterator[None]:
        """Reached once the document validated: its root field is one of the schema's."""
        context = self.execution_context
        if context.graphql_document is not None:
            self._field = root_field(context.graphql_document, context.operation_name)
        if self._operation_type() == OperationType.SUBSCRIPTION.value:
            ACTIVE_SUBSCRIPTIONS.labels(self._field).inc()
            self._subscribed = True
        yield

    def _operation_type(self) -> str:
        try:
            return self.execution_context.operation_type.value
        except Exception:  # no document (a syntax error) or no such operation: nothing ran
            return "unknown"


def root_field(document: DocumentNode, operation_name: str | None) -> str:
    """The name of the field the operation selects at its root, `multiple`, or `other` (a fragment there)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    if len(operations) != 1:
        return OTHER
    selections = operations[0].selection_set.selections
    if len(selections) > 1:
        return "multiple"
    if len(selections) == 1 and isinstance(selections[0], FieldNode):
        return selections[0].name.value
    return OTHER
