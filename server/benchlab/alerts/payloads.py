"""What a webhook receives for an alert event: the BENCHLAB JSON document, or a SLACK message.

The body is rendered once, when the event is recorded (it is part of the outbox row), so every retry of a
delivery sends the same bytes under the same delivery id. Ids are bare UUIDs, which the GraphQL API takes
wherever it expects an id of that type (`alertRule(id:)`, `run(id:)`).

SLACK follows the incoming-webhook format (https://api.slack.com/messaging/webhooks): `text` (the
notification and fallback line) and Block Kit `blocks` within Slack's limits (a header's plain text at most 150
characters, a section's text 3,000, at most 10 fields of 2,000 each); `&`, `<` and `>` in names are escaped
as Slack's mrkdwn requires.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from benchlab.stores.alerts import AlertEventRecord

FORMATS = ("benchlab", "slack")
_HEADER_LIMIT = 150
_TEXT_LIMIT = 3000
_FIELD_LIMIT = 2000


@dataclass(frozen=True)
class ProjectInfo:
    id: UUID
    slug: str
    name: str


def render(format: str, event: AlertEventRecord, project: ProjectInfo, delivery_id: UUID, public_url: str) -> str:
    """The request body for one delivery of `event`, as JSON text."""
    document = (slack_message(event, project, delivery_id, public_url) if format == "slack"
                else benchlab_document(event, project, delivery_id, public_url))
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def event_type(event: AlertEventRecord) -> str:
    """`alert.firing` or `alert.resolved`: the `type` of a BENCHLAB body and the `Benchlab-Event` header."""
    return f"alert.{event.state}"


def benchlab_document(event: AlertEventRecord, project: ProjectInfo, delivery_id: UUID,
                      public_url: str) -> dict[str, Any]:
    rule = dict(event.details.get("rule") or {})
    figure = dict(event.details.get("figure") or {})
    links = {"graphql": f"{public_url}/graphql"}
    if figure.get("run_id"):
        links["run"] = figure["run_id"]
    return {
        "type": event_type(event),
        "delivery_id": str(delivery_id),
        "alert": {"id": str(event.id), "incident_id": str(event.incident_id), "state": event.state,
                  "at": event.at.isoformat(), "value": event.value, "count": event.count,
                  "threshold": event.threshold, "unit": rule.get("unit"), "summary": event.summary,
                  "figure": figure},
        "rule": {"id": str(event.rule_id), **rule},
        "project": {"id": str(project.id), "slug": project.slug, "name": project.name},
        "links": links,
    }


def slack_message(event: AlertEventRecord, project: ProjectInfo, delivery_id: UUID,
                  public_url: str) -> dict[str, Any]:
    rule = dict(event.details.get("rule") or {})
    figure = dict(event.details.get("figure") or {})
    firing = event.state == "firing"
    icon = ":rotating_light:" if firing else ":white_check_mark:"
    title = f"{'FIRING' if firing else 'RESOLVED'}: {rule.get('name', '')}"
    fields = [("Value", str(event.details.get("value_text") or _plain(event.value))),
              ("Threshold", str(event.details.get("threshold_text") or _plain(event.threshold))),
              ("Project", project.slug)]
    if event.count is not None:
        fields.append(("Counted", str(event.count)))
    if figure.get("run_id"):
        fields.append(("Run", f"`{figure['run_id']}`"))
    return {
        "text": f"{icon} {_escape(event.summary)}"[:_TEXT_LIMIT],
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _clip(title, _HEADER_LIMIT), "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn",
                                         "text": _clip(f"{icon} {_escape(str(rule.get('condition', '')))}",
                                                       _TEXT_LIMIT)},
             "fields": [{"type": "mrkdwn", "text": _clip(f"*{name}*\n{_escape(value)}", _FIELD_LIMIT)}
                        for name, value in fields]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(
                f"{_escape(project.name)} · {event.at:%Y-%m-%d %H:%M:%S} UTC · rule `{event.rule_id}` · "
                f"delivery `{delivery_id}` · <{public_url}/graphql|Benchlab>", _TEXT_LIMIT)}]},
        ],
    }


def _plain(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _escape(text: str) -> str:
    """Slack mrkdwn: `&`, `<` and `>` are control characters and must be escaped in text that is not a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
