"""The parsed experiment spec: frozen dataclasses whose field names are the document's keys.

Field names match the YAML keys on purpose: `ExperimentSpec.to_dict()` is then a plain walk, and
`load_spec()` takes that dict back through the same parser, so a stored snapshot is validated by exactly
the rules that admitted it. The document format is described in `benchlab.spec`.

JSON payloads (params, vars, metadata, item messages) are plain dicts and lists copied by the parser; the
dataclasses are frozen, the payloads are to be treated as read-only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum, StrEnum
from typing import Any, ClassVar

from benchlab.errors import InvalidInputError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
"""A template placeholder: `{{name}}` or `{{ name }}`; no filters, no logic."""

# Provider types whose chat endpoint is OpenAI's wire format once `api_base` points at it, so that
# `transport: auto` can use the direct HTTP client (precise timing, no litellm per-chunk overhead).
OPENAI_COMPATIBLE_TYPES = frozenset({
    "openai", "hosted_vllm", "lm_studio", "litellm_proxy", "llamafile", "xinference", "docker_model_runner",
    "deepinfra", "deepseek", "fireworks_ai", "groq", "together_ai", "cerebras", "sambanova", "xai",
    "nvidia_nim", "perplexity",
})
# Provider types that speak Anthropic's Messages API, which benchlab's direct client also speaks.
ANTHROPIC_MESSAGES_TYPES = frozenset({"anthropic"})


class LoadProfile(StrEnum):
    """How requests are sent (`load.profile`); the value is what the document says."""

    SYNCHRONOUS = "synchronous"  # closed loop, one stream
    CONCURRENT = "concurrent"    # closed loop, `concurrency` streams
    CONSTANT = "constant"        # open loop, `rate` requests per second
    POISSON = "poisson"          # open loop, Poisson arrivals at `rate`
    SWEEP = "sweep"              # synchronous, then concurrent, then constant rates in between

    @property
    def closed_loop(self) -> bool:
        """Each stream sends its next request once the previous one finished (no schedule, no queue delay)."""
        return self in (LoadProfile.SYNCHRONOUS, LoadProfile.CONCURRENT)


class ProviderTransport(StrEnum):
    """How a provider's requests are sent (`providers[].transport`)."""

    AUTO = "auto"        # direct for an OpenAI-compatible or Anthropic provider with an api_base, else litellm
    LITELLM = "litellm"
    DIRECT = "direct"    # benchlab's own HTTP client (precise timing): OpenAI's API, or Anthropic's for its types


class SpecError(InvalidInputError):
    """The spec is invalid; `problems` lists every problem found, each prefixed by its path in the document."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)

    def __str__(self) -> str:
        count = len(self.problems)
        heading = "invalid experiment spec: 1 problem" if count == 1 else f"invalid experiment spec: {count} problems"
        return "\n".join([heading, *(f"  {problem}" for problem in self.problems)])


class Secret:
    """A credential that must never be echoed: repr, str and format all show `***`; `reveal()` gives the value.

    Not a dataclass on purpose: `dataclasses.asdict` would recurse into a dataclass and copy the value out.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    type: str
    api_base: str | None = None
    api_key_env: str | None = None
    api_key: Secret | None = None
    max_concurrency: int | None = None
    transport: ProviderTransport = ProviderTransport.AUTO

    @property
    def resolved_transport(self) -> ProviderTransport:
        """DIRECT or LITELLM: what AUTO means for this provider (see the module doc of `spec`).

        AUTO is DIRECT when benchlab's own client speaks the provider's API (OpenAI-compatible types, and
        Anthropic's Messages API) and an api_base says where; everything else goes through litellm.
        """
        if self.transport is not ProviderTransport.AUTO:
            return self.transport
        if self.api_base and (self.type in OPENAI_COMPATIBLE_TYPES or self.type in ANTHROPIC_MESSAGES_TYPES):
            return ProviderTransport.DIRECT
        return ProviderTransport.LITELLM

    @property
    def direct_api(self) -> str:
        """The API benchlab's own client speaks to this provider: "anthropic" (Messages) or "openai"."""
        return "anthropic" if self.type in ANTHROPIC_MESSAGES_TYPES else "openai"

    def resolve_api_key(self, env: Mapping[str, str] | None = None) -> str | None:
        """The key to send: the literal one, else the named environment variable; None when neither is set.

        Raises SpecError when `api_key_env` names a variable that is not set, so a run fails before sending.
        """
        if self.api_key is not None:
            return self.api_key.reveal()
        if self.api_key_env is None:
            return None
        value = (os.environ if env is None else env).get(self.api_key_env)
        if not value:
            raise SpecError([f"provider '{self.name}': environment variable {self.api_key_env} is not set"])
        return value


@dataclass(frozen=True)
class ModelSpec:
    name: str
    provider: str
    model: str
    input_price_per_mtok: float | None = None
    output_price_per_mtok: float | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PromptMessage:
    role: str
    content: str


@dataclass(frozen=True)
class PromptSpec:
    """A chat template (`messages`) or a completion template (`text`); exactly one is set."""

    name: str
    version: str = "v1"
    messages: tuple[PromptMessage, ...] | None = None
    text: str | None = None

    @property
    def kind(self) -> str:
        return "completion" if self.text is not None else "chat"

    @property
    def variables(self) -> frozenset[str]:
        """The placeholder names every dataset item must provide in its `vars`."""
        templates = [self.text] if self.text is not None else [m.content for m in self.messages or ()]
        return frozenset(name for template in templates for name in PLACEHOLDER.findall(template))


@dataclass(frozen=True)
class EvaluatorSpec:
    """One evaluator (docs/evaluation.md): an experiment's `evaluators` entry or an item's `assert` entry.

    `type` is written without its `not-` prefix (`negate`); `value` is a JSON payload whose strings may hold
    templates over the item (`{{vars.x}}`, `{{expected_output}}`, `{{metadata.k}}`); `options` holds the keys
    only some types take (e.g. `tolerance`, `match`, `n`, `compare`). In a snapshot it is written back exactly as
    the document spells it (`as_document`), so a stored spec parses again to the same evaluator.
    """

    type: str
    name: str
    negate: bool = False
    value: Any = None
    threshold: float | None = None
    weight: float = 1.0
    judge: str | None = None   # llm-rubric, pairwise: a judge of the spec's `judges`
    metric: str | None = None  # latency: ttft | tpot | e2e
    options: dict[str, Any] = field(default_factory=dict)

    def as_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"type": ("not-" if self.negate else "") + self.type, "name": self.name}
        for key in ("value", "threshold", "judge", "metric"):
            if getattr(self, key) is not None:
                document[key] = getattr(self, key)
        if self.weight != 1.0:
            document["weight"] = self.weight
        return {**document, **self.options}


@dataclass(frozen=True)
class EvaluationSpec:
    """How requests are scored as a whole (`evaluation:`)."""

    threshold: float | None = None  # a request passes when its weighted score reaches this; None: every evaluator
    judge_concurrency: int = 4
    judge_max_attempts: int = 3     # a judge call that fails or answers out of shape is tried this often
    cache: bool = True              # reuse the verdict of an identical judge call


@dataclass(frozen=True)
class GateSpec:
    """One quality gate (`gates:` entry, docs/gates.md): a figure of the run, limits on it, how it is grouped.

    Exactly one of `metric` (a per-request metric such as `ttft_ms`, or the run figures `error_rate` and
    `cost_per_1k`) and `score` (an evaluator name, or `overall`) is set. `stat` is p50 | p90 | p95 | p99 | mean for
    a per-request metric, pass_rate | mean for a score, None for the run figures. `max`/`min` are absolute limits
    in the figure's unit (rates and scores as fractions); `regression` the tolerated worsening against a
    baseline: "N %" (relative to the baseline's value) or a number in the figure's unit (points as fractions for
    rates and scores). `inconclusive` is filled in from `gate_options` when read, so a snapshot spells it out.
    """

    name: str
    metric: str | None = None
    score: str | None = None
    stat: str | None = None
    max: float | None = None
    min: float | None = None
    regression: float | str | None = None
    group_by: tuple[str, ...] = ()
    inconclusive: str = "fail"  # fail | pass: what a verdict of "inconclusive" does to the build

    @property
    def subject(self) -> str:
        """What is measured: the metric's name, or the evaluator's."""
        return self.metric or self.score or ""

    @property
    def relative_tolerance(self) -> float | None:
        """`regression: "10 %"` as 0.1; None for an absolute tolerance or none."""
        if isinstance(self.regression, str):
            return float(self.regression.removesuffix("%").strip()) / 100
        return None

    @property
    def absolute_tolerance(self) -> float | None:
        """`regression: 0.02` (in the figure's unit); None for a relative tolerance or none."""
        return None if self.regression is None or isinstance(self.regression, str) else float(self.regression)


@dataclass(frozen=True)
class GateOptionsSpec:
    """Defaults of every gate (`gate_options:`)."""

    inconclusive: str = "fail"


@dataclass(frozen=True)
class DatasetItem:
    id: str
    vars: dict[str, Any] = field(default_factory=dict)
    messages: tuple[dict[str, Any], ...] = ()
    expected_output: Any = None
    # None: no expectation; (): the model is expected to call no tool.
    expected_tool_calls: tuple[dict[str, Any], ...] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # New sections are None when absent, so snapshots and content hashes of items without them do not change.
    asserts: tuple[EvaluatorSpec, ...] | None = None  # the item's own evaluators (`assert:` in the document)
    labels: dict[str, Any] | None = None              # human reference verdicts, by judge evaluator name

    DOCUMENT_KEYS: ClassVar[dict[str, str]] = {"asserts": "assert"}  # field -> key (`assert` is a keyword)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    items: tuple[DatasetItem, ...]

    @property
    def content_hash(self) -> str:
        """The dataset's version: a short hash of its items, so an edited dataset is a different dataset."""
        return canonical_hash(to_plain(self.items))


MIN_REQUESTS_FOR_ERROR_RATE = 20
"""`load.max_error_rate` is judged only after this many requests, so one early failure cannot stop a run."""


@dataclass(frozen=True)
class LoadSpec:
    profile: LoadProfile = LoadProfile.SYNCHRONOUS
    concurrency: int | None = None
    rate: float | None = None
    seed: int | None = None
    max_concurrency: int | None = None
    sweep_rates: int | None = None
    duration_s: float | None = None
    max_requests: int | None = None
    max_error_rate: float | None = None
    warmup_s: float = 0
    cooldown_s: float = 0
    # Load-generator processes: None (the default) or 1 sends from the run's own process; N > 1 spreads the
    # requests over N child processes (engine/load_pool.py); "auto" picks from the streams and the cores.
    processes: int | str | None = None


@dataclass(frozen=True)
class SLOSpec:
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None


@dataclass(frozen=True)
class RetrySpec:
    max_attempts: int = 1
    backoff_s: float = 0.5
    max_backoff_s: float = 20
    retry_on: tuple[str, ...] = ("rate_limited", "server_error", "timeout", "connect_error", "disconnected")


@dataclass(frozen=True, kw_only=True)  # keyword-only, so fields can follow the document's order
class ExperimentSpec:
    name: str
    project: str = "default"
    description: str | None = None
    providers: tuple[ProviderSpec, ...]
    models: tuple[ModelSpec, ...]
    prompts: tuple[PromptSpec, ...]
    dataset: DatasetSpec
    params: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # grid axis -> its values
    repetitions: int = 1
    load: LoadSpec = field(default_factory=LoadSpec)
    slos: SLOSpec = field(default_factory=SLOSpec)
    timeout_s: float = 120
    retries: RetrySpec = field(default_factory=RetrySpec)
    stream: bool = True
    evaluators: tuple[EvaluatorSpec, ...] | None = None  # applied to every request
    judges: tuple[ModelSpec, ...] | None = None          # models that judge, outside the matrix under test
    evaluation: EvaluationSpec | None = None
    gates: tuple[GateSpec, ...] | None = None            # quality gates (docs/gates.md)
    gate_options: GateOptionsSpec | None = None

    def provider(self, name: str) -> ProviderSpec:
        """The provider a model names (validation guarantees it exists)."""
        return next(p for p in self.providers if p.name == name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot: dataset items inline, literal API keys omitted, unset optional fields omitted."""
        return to_plain(self)


def litellm_providers_used(providers: Iterable[ProviderSpec], used: Iterable[str]) -> list[ProviderSpec]:
    """The providers among `used` (names) whose requests go through litellm: those stay in the run's process."""
    names = set(used)
    return [p for p in providers if p.name in names and p.resolved_transport is ProviderTransport.LITELLM]


def to_plain(value: Any) -> Any:
    """Dataclasses to dicts (None fields and secrets dropped), tuples to lists, enums to their values; JSON
    payloads copied as is."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, EvaluatorSpec):
        return to_plain(value.as_document())
    if is_dataclass(value) and not isinstance(value, type):
        plain = {}
        keys = getattr(value, "DOCUMENT_KEYS", {})
        for spec_field in fields(value):
            item = getattr(value, spec_field.name)
            if item is not None and not isinstance(item, Secret):
                plain[keys.get(spec_field.name, spec_field.name)] = to_plain(item)
        return plain
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    return value


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no spaces, and 1.0 written as 1, so equal values have equal text.

    Integral floats are folded into ints so `temperature: 0` and `temperature: 0.0` name the same cell.
    """
    return json.dumps(_fold_integral_floats(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def canonical_hash(value: Any) -> str:
    """12 hex chars of SHA-256 over `canonical_json(value)`: a short, stable id of a JSON value."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:12]


def _fold_integral_floats(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list | tuple):
        return [_fold_integral_floats(item) for item in value]
    if isinstance(value, dict):
        return {key: _fold_integral_floats(item) for key, item in value.items()}
    return value
