"""The experiment spec: what to run, against what, under which load. The public face of the spec modules.

A spec is a YAML document (or the same structure as a dict, e.g. GraphQL input). `load_spec` validates all
of it before any request is sent and raises one SpecError listing every problem with its path, such as
`models[2].params.temperature: must be between 0 and 2` or `dataset.file:17: invalid JSON: ...`.
Unknown keys are rejected everywhere, with a "did you mean" hint.

    name: latency-smoke          # required, 1..200 chars
    project: demo                # slug ^[a-z0-9][a-z0-9-]{0,62}$; default "default"
    description: ...             # optional
    providers:                   # >= 1, unique names
      - name: mock
        type: openai             # litellm provider prefix: openai, anthropic, azure, bedrock, ... (any [a-z0-9_-])
        api_base: http://127.0.0.1:8100/v1   # optional http(s) URL, without credentials
        api_key_env: MOCK_API_KEY            # optional: the NAME of the variable holding the key
        # api_key: sk-...        # a literal key is accepted but never echoed nor snapshotted; prefer api_key_env
        max_concurrency: 64      # optional per-provider cap on requests in flight, >= 1
        transport: auto          # auto | litellm | direct
    models:                      # >= 1, unique names
      - name: small              # the label used in results
        provider: mock           # a provider above
        model: mock-small        # the provider's model id
        input_price_per_mtok: 0.15    # optional USD per million tokens, >= 0; overrides litellm's price map
        output_price_per_mtok: 0.60
        params: {temperature: 0.2}    # fixed params for this model; they override grid values of the same name
    prompts:                     # >= 1, unique (name, version)
      - name: qa
        version: v1              # a label; default "v1"
        messages:                # a chat template (roles system, developer, user, assistant) ...
          - {role: system, content: "You are terse."}
          - {role: user, content: "{{question}}"}
        # text: "Q: {{question}}\\nA:"   # ... or a completion template, not both
    dataset:
      name: smoke
      items:                     # inline, or `file: items.jsonl` / `file: items.csv` (see dataset_files)
        - id: q1                 # optional; default "item-0001", "item-0002", ... by position
          vars: {question: "What is 2+2?"}
          # messages: [...]      # literal chat messages appended after the prompt's (not templates)
          expected_output: "4"
          expected_tool_calls: [{name: add, arguments: {a: 2, b: 2}}]   # [] = expect no tool call
          metadata: {topic: math}
          assert: [{type: equals, value: "4"}]   # the item's own evaluators, besides `evaluators`
          labels: {grader-check: true}           # human verdicts of llm-rubric evaluators, by evaluator name
    params:                      # the grid: every combination is a cell; a list is an axis, a scalar one value
      temperature: [0, 0.7]
      max_tokens: 128
      stop: [["\\n", "END"]]     # a list-valued parameter is nested once: one axis value that is a list
    repetitions: 3               # >= 1, default 1
    load:                        # default: synchronous
      profile: concurrent        # synchronous | concurrent | constant | poisson | sweep
      concurrency: 16            # concurrent only, required there
      rate: 50                   # constant and poisson only, required there; requests per second > 0
      seed: 42                   # poisson only; default 0
      max_concurrency: 64        # open-loop profiles (constant, poisson, sweep) only; queue delay is recorded
      sweep_rates: 5             # sweep only; rates between synchronous and max throughput; default 5
      duration_s: 60             # stop rules, all optional; without one the run ends with the plan
      max_requests: 1000
      max_error_rate: 0.5        # 0 < x <= 1, judged after MIN_REQUESTS_FOR_ERROR_RATE (20) requests
      warmup_s: 2                # excluded from statistics; default 0 (warmup_s + cooldown_s < duration_s)
      cooldown_s: 1
      processes: 1               # load-generator processes: 1..64 or auto; default 1 (the run's own process)
    slos: {ttft_ms: 500, tpot_ms: 50, e2e_ms: 5000}   # optional bounds > 0; goodput only, never fail a run
    timeout_s: 120               # per request, > 0; default 120
    retries: {max_attempts: 1, backoff_s: 0.5, max_backoff_s: 20,
              retry_on: [rate_limited, server_error, timeout, connect_error, disconnected]}   # the defaults
    stream: true                 # default true
    evaluators:                  # optional, applied to every request; the types: docs/evaluation.md
      - {type: icontains, value: "{{expected_output}}", weight: 2}   # not-icontains negates; weight >= 0
      - {type: llm-rubric, name: grader-check, value: "Answers correctly.", judge: grader, threshold: 0.7}
      - {type: latency, metric: ttft, threshold: 800}                # ms
    judges:                      # optional: models that grade (the keys of `models`), outside the matrix
      - {name: grader, provider: mock, model: mock-judge, params: {temperature: 0}}
    evaluation: {threshold: 1.0, judge_concurrency: 4, judge_max_attempts: 3, cache: true}   # optional
    gates:                       # optional quality gates (docs/gates.md; `spec.gates` has the vocabulary)
      - {metric: ttft_ms, stat: p95, max: 800}                # absolute limit, in the metric's unit
      - {metric: ttft_ms, stat: p50, regression: "10 %"}      # at most 10 % worse than the baseline
      - {metric: error_rate, max: "1 %"}                      # run figures: error_rate, cost_per_1k
      - {score: overall, stat: pass_rate, regression: 0.02, group_by: [model]}   # at most 2 points lower
    gate_options: {inconclusive: fail}   # what a gate with too few samples does, unless the gate says

Rules worth knowing:
- Parameters: temperature 0..2, top_p in (0, 1], max_tokens / max_completion_tokens integers >= 1,
  presence/frequency_penalty -2..2, seed an integer, n only 1, stop a string or 1..4 strings. Other
  parameters pass through to the provider as JSON values; a name within a letter or two of a known one is
  taken for a typo. model, messages, prompt, stream and stream_options are set by benchlab.
- An output limit is required (no default): max_tokens or max_completion_tokens in the grid or in every
  model's params, because output length drives latency and a provider's default is unknown.
- Templates: `{{name}}` or `{{ name }}`, nothing else; each prompt's placeholders must be in every item's
  vars. A non-string var is rendered as JSON. Items with `messages` need a chat prompt.
- Retries are off by default (max_attempts 1): a benchmark should see failures, not hide them.
- transport: `litellm` sends through litellm; `direct` uses benchlab's own HTTP client (precise timing, no
  per-chunk overhead) and needs api_base: Anthropic's Messages API for `type: anthropic`
  (ANTHROPIC_MESSAGES_TYPES; api_base is the API root, e.g. https://api.anthropic.com), OpenAI's
  chat-completions API for any other type; `auto` is direct for OpenAI-compatible types
  (OPENAI_COMPATIBLE_TYPES) and Anthropic with api_base set, else litellm.
- `dataset.file` is read relative to the spec file's folder (or `base_dir`); a spec given as text or a
  dict without base_dir cannot name a file (a spec from the API must not read the server's files).
- A literal api_key never appears in repr, str, error messages or `to_dict()` snapshots (it is omitted, so a
  run resumed from its snapshot needs api_key_env).
- Evaluators (`spec.evaluators`): defaults are filled in when read (the name is the type as written, the
  threshold and options the type's defaults, a similarity type's value `{{expected_output}}`, the judge when
  exactly one is defined), so a snapshot spells them out. Names are unique per experiment and, per item,
  across the experiment's evaluators and the item's `assert`. Their templates (`{{vars.NAME}}`,
  `{{expected_output}}`, `{{metadata.KEY}}`) must resolve for every item they apply to, and tool-call types
  need each item's expected_tool_calls. `pairwise` is experiment-level only and needs two models or prompts.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from benchlab.spec.load import load_spec
from benchlab.spec.model import (
    ANTHROPIC_MESSAGES_TYPES,
    MIN_REQUESTS_FOR_ERROR_RATE,
    OPENAI_COMPATIBLE_TYPES,
    PLACEHOLDER,
    DatasetItem,
    DatasetSpec,
    EvaluationSpec,
    EvaluatorSpec,
    ExperimentSpec,
    GateOptionsSpec,
    GateSpec,
    LoadProfile,
    LoadSpec,
    ModelSpec,
    PromptMessage,
    PromptSpec,
    ProviderSpec,
    ProviderTransport,
    RetrySpec,
    Secret,
    SLOSpec,
    SpecError,
    canonical_hash,
    litellm_providers_used,
)
from benchlab.spec.params import describe_params

__all__ = [
    "ANTHROPIC_MESSAGES_TYPES", "MIN_REQUESTS_FOR_ERROR_RATE", "OPENAI_COMPATIBLE_TYPES", "DatasetItem",
    "DatasetSpec", "EvaluationSpec", "EvaluatorSpec", "ExperimentSpec", "GateOptionsSpec", "GateSpec",
    "LoadProfile", "LoadSpec", "ModelSpec", "PromptMessage", "PromptSpec", "ProviderSpec", "ProviderTransport",
    "RetrySpec", "SLOSpec", "Secret", "SpecError", "describe_params", "grid_combinations", "litellm_providers_used",
    "load_spec", "params_hash", "render_messages",
]


def grid_combinations(params: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in a fixed order; an empty grid is one empty combination.

    Axes are taken in sorted name order (last name varies fastest) and each axis's values in the order
    written, so the order does not depend on how a stored snapshot happened to order its keys.
    """
    names = sorted(params)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(params[name] for name in names))]


def params_hash(params: Mapping[str, Any]) -> str:
    """A stable 12-hex-char id of a parameter set: key order and 1 vs 1.0 do not change it."""
    return canonical_hash(dict(params))


def render_messages(prompt: PromptSpec, item: DatasetItem) -> list[dict[str, Any]]:
    """The chat messages for one request: the prompt's filled in with the item's vars, then the item's own.

    A text (completion) prompt gives a single user message holding the filled-in text. Raises SpecError when
    a placeholder has no var, which validation rules out for specs from `load_spec`.
    """
    missing = sorted(prompt.variables - item.vars.keys())
    if missing:
        names = ", ".join(f"'{name}'" for name in missing)
        raise SpecError([f"item {item.id}: vars: missing {names} used by prompt {prompt.name} {prompt.version}"])
    if prompt.text is not None:
        return [{"role": "user", "content": _fill(prompt.text, item.vars)}]
    messages = prompt.messages or ()
    rendered = [{"role": message.role, "content": _fill(message.content, item.vars)} for message in messages]
    return rendered + copy.deepcopy(list(item.messages))


def _fill(template: str, variables: Mapping[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        var = variables[match.group(1)]
        return var if isinstance(var, str) else json.dumps(var, ensure_ascii=False)

    return PLACEHOLDER.sub(value, template)
