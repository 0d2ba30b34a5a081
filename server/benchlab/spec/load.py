"""Parse and validate an experiment spec (format: `benchlab.spec`), reporting every problem at once.

Sections are read in document order into the dataclasses of `spec_model`; cross-references (a model's
provider, template variables against dataset items, the output-length limit, evaluators against judges and
items: `spec.evaluators`) are checked once everything is read. Nothing is raised until the end, then a single
SpecError lists all problems with their paths.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchlab.spec.datasets import read_dataset
from benchlab.spec.evaluators import check_evaluators, read_evaluators
from benchlab.spec.fields import Located, Section, check_unique, hint, parse_yaml
from benchlab.spec.gates import item_evaluator_names, read_gate_options, read_gates
from benchlab.spec.model import (
    PLACEHOLDER,
    DatasetItem,
    DatasetSpec,
    EvaluationSpec,
    ExperimentSpec,
    LoadProfile,
    LoadSpec,
    ModelSpec,
    PromptMessage,
    PromptSpec,
    ProviderSpec,
    ProviderTransport,
    RetrySpec,
    SLOSpec,
    SpecError,
    canonical_json,
    litellm_providers_used,
)
from benchlab.spec.params import OUTPUT_LIMITS, check_param_name, param_value

TOP_KEYS = ("name", "project", "description", "providers", "models", "prompts", "dataset", "params",
            "repetitions", "load", "slos", "timeout_s", "retries", "stream", "evaluators", "judges", "evaluation",
            "gates", "gate_options")
PROVIDER_KEYS = ("name", "type", "api_base", "api_key_env", "api_key", "max_concurrency", "transport")
MODEL_KEYS = ("name", "provider", "model", "input_price_per_mtok", "output_price_per_mtok", "params")
PROMPT_KEYS = ("name", "version", "messages", "text")
LOAD_KEYS = ("profile", "concurrency", "rate", "seed", "max_concurrency", "sweep_rates", "duration_s",
             "max_requests", "max_error_rate", "warmup_s", "cooldown_s", "processes")
SLO_KEYS = ("ttft_ms", "tpot_ms", "e2e_ms")
RETRY_KEYS = ("max_attempts", "backoff_s", "max_backoff_s", "retry_on")
EVALUATION_KEYS = ("threshold", "judge_concurrency", "judge_max_attempts", "cache")

PROMPT_ROLES = ("system", "developer", "user", "assistant")
PROFILE_FIELDS: dict[str, tuple[LoadProfile, ...]] = {  # load fields that only mean something for some profiles
    "concurrency": (LoadProfile.CONCURRENT,),
    "rate": (LoadProfile.CONSTANT, LoadProfile.POISSON),
    "seed": (LoadProfile.POISSON,),
    "max_concurrency": (LoadProfile.CONSTANT, LoadProfile.POISSON, LoadProfile.SWEEP),
    "sweep_rates": (LoadProfile.SWEEP,),
}
DEFAULT_SWEEP_RATES = 5
MAX_PROCESSES = 64
PROCESSES_EXPECTED = (f"a whole number from 1 to {MAX_PROCESSES} (load-generator processes), or \"auto\" (chosen "
                      "from the streams and the cores available); default 1")
RETRY_REASONS = RetrySpec().retry_on

PROJECT_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
PROVIDER_TYPE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ANY_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
LONG_TEXT = 1_000_000



def load_spec(source: str | Path | Mapping[str, Any], *, base_dir: Path | None = None) -> ExperimentSpec:
    """Parse a spec from a YAML file (Path), YAML text (str) or an already-parsed mapping.

    `base_dir` resolves `dataset.file`; it defaults to the spec file's folder. Without either, a dataset
    file is refused: a spec arriving over the API must not read files on the server.
    Raises SpecError listing every problem.
    """
    if isinstance(source, Path):
        document = read_yaml_file(source)
        base_dir = source.parent if base_dir is None else base_dir
    elif isinstance(source, str):
        document = parse_yaml(source, "<spec>")
    elif isinstance(source, Mapping):
        document = source
    else:
        raise TypeError(f"load_spec takes a Path, YAML text or a mapping, not {type(source).__name__}")
    if document is None:
        raise SpecError(["spec: the document is empty"])
    if not isinstance(document, Mapping):
        tip = " (a str is read as YAML text; pass a Path to read a file)" if isinstance(document, str) else ""
        raise SpecError([f"spec: must be a mapping{tip}"])
    return _parse(document, base_dir)


def read_yaml_file(path: Path) -> Any:
    """The YAML document of a file (UTF-8, a byte-order mark ignored); what cannot be read raises SpecError."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise SpecError([f"{path}: cannot read: {error.strerror}"]) from None
    except UnicodeDecodeError:
        raise SpecError([f"{path}: not UTF-8 text"]) from None
    return parse_yaml(text, str(path))


def read_provider_entry(entry: Mapping[str, Any], problems: list[str]) -> ProviderSpec:
    """One provider by the spec's rules, read as the only entry of a spec's `providers` (a provider stored on
    its own must be usable in a spec later). Problems are named as there: `providers[0].api_base: ...`."""
    return _providers(_only_entry("providers", entry, problems))[0]


def read_model_entry(entry: Mapping[str, Any], provider_name: str, problems: list[str]) -> ModelSpec:
    """One model by the spec's rules, as the only entry of `models` beside the provider `provider_name`;
    problems are named `models[0].<field>: ...`."""
    return _models(_only_entry("models", entry, problems), {provider_name})[0][1]


def read_prompt_entry(entry: Mapping[str, Any], problems: list[str]) -> PromptSpec:
    """One prompt version by the spec's rules, as the only entry of `prompts`; problems are named
    `prompts[0].<field>: ...`, or `prompts[0]: ...` about the entry as a whole."""
    return _prompts(_only_entry("prompts", entry, problems))[0][1]


def _only_entry(list_key: str, entry: Mapping[str, Any], problems: list[str]) -> Section:
    return Section(problems, "", {list_key: [dict(entry)]}, (list_key,))


def _parse(document: Mapping[str, Any], base_dir: Path | None) -> ExperimentSpec:
    problems: list[str] = []
    top = Section(problems, "", document, TOP_KEYS)
    name = top.text("name", required=True)
    project = top.text("project", default="default", max_len=63, pattern=PROJECT_SLUG,
                       expected="a slug: lowercase letters, digits and '-', starting with a letter or digit")
    description = top.text("description", max_len=10_000)
    providers = _providers(top)
    provider_names = {provider.name for provider in providers if provider.name}
    models = _models(top, provider_names)
    prompts = _prompts(top)
    dataset_name, items = read_dataset(top, base_dir)
    grid = _grid(top)
    repetitions = top.integer("repetitions", default=1, minimum=1)
    load = _load(top)
    _check_processes(top, load, providers, models)
    slo_section = top.section("slos", SLO_KEYS)
    slos = SLOSpec(**{key: slo_section.number(key, above=0) for key in SLO_KEYS})
    timeout_s = top.number("timeout_s", default=120, above=0)
    retries = _retries(top)
    stream = top.boolean("stream", default=True)
    evaluators = read_evaluators(top, "evaluators")
    judges = _models(top, provider_names, "judges", required=False) if top.has("judges") else None
    evaluation = _evaluation(top)
    _check_output_limit(problems, grid, models)
    _check_variables(problems, prompts, items)
    evaluators, items = check_evaluators(
        problems, evaluators, items, judges=list(dict.fromkeys(judge.name for _, judge in judges or () if judge.name)),
        models=len(models), prompts=len(prompts))
    if evaluation is not None and not evaluators and not any(item.asserts for _, item in items):
        top.report("evaluation", "there is nothing to evaluate: add evaluators (or an item's assert), or leave "
                                 "evaluation out")
    gate_options = read_gate_options(top)
    gates = read_gates(top, evaluators or (), item_evaluator_names(items), gate_options)
    if problems:
        raise SpecError(problems)
    return ExperimentSpec(
        name=name, project=project, description=description, providers=providers,
        models=tuple(model for _, model in models), prompts=tuple(prompt for _, prompt in prompts),
        dataset=DatasetSpec(name=dataset_name, items=tuple(item for _, item in items)), params=grid,
        repetitions=repetitions, load=load, slos=slos, timeout_s=timeout_s, retries=retries, stream=stream,
        evaluators=evaluators, judges=None if judges is None else tuple(judge for _, judge in judges),
        evaluation=evaluation, gates=gates, gate_options=gate_options)


def _providers(top: Section) -> tuple[ProviderSpec, ...]:
    located = []
    for path, raw in top.entries("providers", required=True):
        section = Section(top.problems, path, raw, PROVIDER_KEYS)
        provider = ProviderSpec(
            name=section.label("name", required=True),
            type=section.text("type", required=True, pattern=PROVIDER_TYPE,
                              expected="a litellm provider prefix such as openai, anthropic or bedrock"),
            api_base=_url(section, "api_base"),
            # Never echoed: a key pasted here by mistake must not end up in an error message.
            api_key_env=section.text("api_key_env", pattern=ENV_NAME,
                                     expected="the NAME of an environment variable (like OPENAI_API_KEY)"),
            api_key=section.secret("api_key"),
            max_concurrency=section.integer("max_concurrency", minimum=1),
            transport=section.choice("transport", tuple(ProviderTransport),
                                     default=ProviderTransport.AUTO) or ProviderTransport.AUTO,
        )
        if provider.api_key is not None and section.has("api_key_env"):
            section.report("api_key", "give api_key_env or api_key, not both")
        if provider.transport is ProviderTransport.DIRECT and not section.has("api_base"):
            section.report("transport",
                           "direct needs api_base (an OpenAI-compatible endpoint, or Anthropic's API root)")
        located.append((path, provider))
    check_unique(top.problems, [(f"{path}.name", provider.name) for path, provider in located], "provider name")
    return tuple(provider for _, provider in located)


def _url(section: Section, key: str) -> str | None:
    url = section.text(key, max_len=2000)
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        usable = False
    if not usable:
        section.report(key, "must be an http:// or https:// URL")
    elif parts.username or parts.password:
        section.report(key, "must not contain credentials (use api_key_env)")
    return url


def _models(top: Section, provider_names: set[str], key: str = "models", *,
            required: bool = True) -> list[Located[ModelSpec]]:
    """The entries of `models`, or of `judges` (`key`): models that grade, read by the same rules."""
    located = []
    for path, raw in top.entries(key, required=required):
        section = Section(top.problems, path, raw, MODEL_KEYS)
        model = ModelSpec(
            name=section.label("name", required=True),
            provider=section.label("provider", required=True),
            model=section.text("model", required=True, max_len=500),
            input_price_per_mtok=section.number("input_price_per_mtok", minimum=0),
            output_price_per_mtok=section.number("output_price_per_mtok", minimum=0),
            params=_fixed_params(section),
        )
        if provider_names and model.provider and model.provider not in provider_names:
            section.report("provider", f"unknown provider '{model.provider}'" + hint(model.provider, provider_names))
        located.append((path, model))
    what = "model name" if key == "models" else "judge name"
    check_unique(top.problems, [(f"{path}.name", model.name) for path, model in located], what)
    return located


def _fixed_params(section: Section) -> dict[str, Any]:
    """A model's own params: each value taken as is (a list is one list value, not a grid axis)."""
    checked = {}
    for name, value in _param_mapping(section).items():
        path = f"{section.at('params')}.{name}"
        if check_param_name(section.problems, path, name):
            checked[name] = param_value(section.problems, path, name, value)
    return checked


def _grid(top: Section) -> dict[str, tuple[Any, ...]]:
    """The parameter grid: a list is the axis's values, a scalar a single value."""
    grid = {}
    for name, value in _param_mapping(top).items():
        path = f"params.{name}"
        if not check_param_name(top.problems, path, name):
            continue
        if not isinstance(value, list | tuple):
            grid[name] = (param_value(top.problems, path, name, value),)
            continue
        if not value:
            top.problems.append(f"{path}: empty list: a grid axis needs at least one value")
        located = [(f"{path}[{index}]", param_value(top.problems, f"{path}[{index}]", name, item), item)
                   for index, item in enumerate(value)]
        grid[name] = tuple(copy for _, copy, _ in located)
        # Values equal once canonical (0 and 0.0) would be one cell twice; a bad value (copy None) is reported.
        comparable = [(item_path, canonical_json(copy)) for item_path, copy, item in located
                      if copy is not None or item is None]
        check_unique(top.problems, comparable, "grid value")
    return grid


def _param_mapping(section: Section) -> Mapping[Any, Any]:
    params = section.raw("params")
    if params is None or isinstance(params, Mapping):
        return params or {}
    section.report("params", "must be a mapping of parameter names to values")
    return {}


def _prompts(top: Section) -> list[Located[PromptSpec]]:
    located = []
    for path, raw in top.entries("prompts", required=True):
        section = Section(top.problems, path, raw, PROMPT_KEYS)
        name = section.label("name", required=True)
        version = section.label("version", default="v1")
        messages, text = None, None
        if section.has("messages") and section.has("text"):
            top.problems.append(f"{path}: give messages (chat) or text (completion), not both")
        elif section.has("text"):
            text = section.text("text", max_len=LONG_TEXT)
            _check_placeholders(top.problems, section.at("text"), text or "")
        else:
            messages = _prompt_messages(section)
        located.append((path, PromptSpec(name=name, version=version, messages=messages, text=text)))
    keys = [(path, (prompt.name, prompt.version)) for path, prompt in located]
    check_unique(top.problems, keys, "prompt name and version")
    return located


def _prompt_messages(prompt: Section) -> tuple[PromptMessage, ...]:
    messages = []
    for path, raw in prompt.entries("messages", required="(a chat template), or text (a completion template)"):
        section = Section(prompt.problems, path, raw, ("role", "content"))
        role = section.choice("role", PROMPT_ROLES) or ""
        content = section.text("content", required=True, max_len=LONG_TEXT) or ""
        _check_placeholders(prompt.problems, section.at("content"), content)
        messages.append(PromptMessage(role=role, content=content))
    return tuple(messages)


def _check_placeholders(problems: list[str], path: str, template: str) -> None:
    for match in ANY_PLACEHOLDER.finditer(template):
        if not PLACEHOLDER.fullmatch(match.group(0)):
            problems.append(f"{path}: invalid placeholder '{match.group(0)}': use {{{{name}}}} with letters, "
                            "digits and _")


def _load(top: Section) -> LoadSpec:
    section = top.section("load", LOAD_KEYS)
    profile = section.choice("profile", tuple(LoadProfile), default=LoadProfile.SYNCHRONOUS)
    if profile is not None:
        for key, profiles in PROFILE_FIELDS.items():
            if section.has(key) and profile not in profiles:
                section.report(key, f"only used by profile {' or '.join(profiles)}, not {profile}")

    def required_by(*profiles: LoadProfile) -> str | bool:
        return f"for profile {profile}" if profile in profiles else False

    load = LoadSpec(
        profile=profile or LoadProfile.SYNCHRONOUS,
        concurrency=section.integer("concurrency", minimum=1, required=required_by(LoadProfile.CONCURRENT)),
        rate=section.number("rate", above=0, required=required_by(LoadProfile.CONSTANT, LoadProfile.POISSON)),
        seed=section.integer("seed", default=0 if profile is LoadProfile.POISSON else None),
        max_concurrency=section.integer("max_concurrency", minimum=1),
        sweep_rates=section.integer("sweep_rates", minimum=1,
                                    default=DEFAULT_SWEEP_RATES if profile is LoadProfile.SWEEP else None),
        duration_s=section.number("duration_s", above=0),
        max_requests=section.integer("max_requests", minimum=1),
        max_error_rate=section.number("max_error_rate", above=0, maximum=1),
        warmup_s=section.number("warmup_s", default=0, minimum=0),
        cooldown_s=section.number("cooldown_s", default=0, minimum=0),
        processes=_processes(section),
    )
    if load.duration_s is not None and load.warmup_s + load.cooldown_s >= load.duration_s:
        section.report("duration_s", "must be longer than warmup_s + cooldown_s, or nothing is measured")
    return load


def _processes(section: Section) -> int | str | None:
    value = section.raw("processes")
    if value is None:
        return None
    if value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, int):
        section.report("processes", f"{value!r} is not {PROCESSES_EXPECTED}")
        return None
    if not 1 <= value <= MAX_PROCESSES:
        section.report("processes", f"{value} is out of range: must be {PROCESSES_EXPECTED}")
        return None
    return value


def _check_processes(top: Section, load: LoadSpec, providers: tuple[ProviderSpec, ...],
                     models: list[Located[ModelSpec]]) -> None:
    """Several load-generator processes run benchlab's own HTTP client only: litellm stays in the run's process."""
    if not isinstance(load.processes, int) or load.processes == 1:
        return  # 1, unset, or "auto" (which keeps litellm providers in one process)
    for provider in litellm_providers_used(providers, (model.provider for _, model in models)):
        top.problems.append(
            f"load.processes: {load.processes} processes need benchlab's own HTTP client, but provider "
            f"'{provider.name}' goes through litellm; give it an api_base and transport: direct (an "
            "OpenAI-compatible or Anthropic endpoint), or set processes: 1 (or \"auto\")")


def _retries(top: Section) -> RetrySpec:
    section = top.section("retries", RETRY_KEYS)
    defaults = RetrySpec()
    retries = RetrySpec(
        max_attempts=section.integer("max_attempts", default=defaults.max_attempts, minimum=1),
        backoff_s=section.number("backoff_s", default=defaults.backoff_s, minimum=0),
        max_backoff_s=section.number("max_backoff_s", default=defaults.max_backoff_s, minimum=0),
        retry_on=_retry_reasons(section) if section.has("retry_on") else defaults.retry_on,
    )
    if retries.max_backoff_s < retries.backoff_s:
        section.report("max_backoff_s", "must be at least backoff_s")
    return retries


def _retry_reasons(section: Section) -> tuple[str, ...]:
    located = section.entries("retry_on")
    for path, reason in located:
        if reason not in RETRY_REASONS:
            section.problems.append(f"{path}: must be one of {', '.join(RETRY_REASONS)}")
    check_unique(section.problems, located, "reason")
    return tuple(reason for _, reason in located)


def _evaluation(top: Section) -> EvaluationSpec | None:
    if not top.has("evaluation"):
        return None
    section = top.section("evaluation", EVALUATION_KEYS)
    defaults = EvaluationSpec()
    threshold = section.number("threshold", minimum=0, maximum=1)
    return EvaluationSpec(
        threshold=None if threshold is None else float(threshold),
        judge_concurrency=section.integer("judge_concurrency", default=defaults.judge_concurrency, minimum=1),
        judge_max_attempts=section.integer("judge_max_attempts", default=defaults.judge_max_attempts, minimum=1),
        cache=section.boolean("cache", default=defaults.cache),
    )


def _check_output_limit(problems: list[str], grid: Mapping[str, Any], models: list[Located[ModelSpec]]) -> None:
    """Output length drives latency, so it is never left to a provider's default."""
    if OUTPUT_LIMITS & grid.keys():
        return
    for path, model in models:
        if not OUTPUT_LIMITS & model.params.keys():
            problems.append(f"{path}.params.max_tokens: required: set params.max_tokens (grid) or each model's "
                            "params.max_tokens (or max_completion_tokens)")


def _check_variables(problems: list[str], prompts: list[Located[PromptSpec]],
                     items: list[Located[DatasetItem]]) -> None:
    """Every prompt must render for every item, so no request fails on a template after the run started."""
    for prompt_path, prompt in prompts:
        for location, item in items:
            missing = sorted(prompt.variables - item.vars.keys())
            if missing:
                names = ", ".join(f"'{name}'" for name in missing)
                problems.append(f"{location}.vars: missing {names} used by {prompt_path} ({prompt.name} "
                                f"{prompt.version})")
            if item.messages and prompt.kind == "completion":
                problems.append(f"{location}.messages: {prompt_path} is a text (completion) prompt; items with "
                                "messages need a chat prompt")
