"""benchlab.mockllm: a synthetic OpenAI-compatible (and Anthropic) LLM server with known, configurable latencies.

It is the demo target, the test target and the yardstick for our client's timing: every response follows an
absolute schedule on CLOCK_MONOTONIC, and the server logs what it actually did (ground_truth.py).

Endpoints: `GET /v1/models` (the served model names), `POST /v1/chat/completions` and `POST /v1/completions`,
streaming (SSE, one event per chunked write, `data: [DONE]` last) or not (one JSON body); and Anthropic's
`POST /v1/messages` (api_base: the server's root), on the same schedule, in Anthropic's events (anthropic.py).

Driving it:
- server defaults: `benchlab mock-llm --ttft-ms 80 --gap-ms "normal(10,2)" ...` or `MockLLMServer(Behaviour(...))`;
- per request, in the model name: `"mock-llm?ttft_ms=80&gap_ms=5&output_tokens=32"`;
- per request, in a header (wins over the model name): `X-Mock-Behaviour: {"ttft_ms": 80, "fault": "429"}`;
- `X-Request-ID` names the request in the ground truth (and is echoed back); `X-Mock-Request-Key` groups
  retries of one logical request for `fault_times` (and names it when X-Request-ID is absent);
- the body's `seed` pins the request's random draws; `max_tokens` / `max_completion_tokens` cap the answer;
  `stream_options.include_usage` adds the usage chunk; `tools` + `tool_choice` select a tool call.
The fields, their syntax and the schedule are documented in behaviour.py.

Faults (`fault`, or `fault_rates` for random ones): "429" (Retry-After and retry-after-ms headers, the
route's error JSON), "500", "disconnect" (connection aborted after `fault_after_events` events, no [DONE]) and
"stall" (nothing after `fault_after_events` events for `stall_ms`, or until the client leaves when null);
a non-streaming response is cut or delayed instead of its body. "overloaded": HTTP 503 on the OpenAI routes,
529 on Anthropic's, or there, in a stream, an overloaded_error event in place of event `fault_after_events`.
`fault_times: N` limits a forced fault to the first N attempts per X-Mock-Request-Key, so retries succeed.

Known outputs, for evaluation tests (off by default): `--answer-key FILE` or the `answer` field answer prompts
with known text or tool calls, correct for a share `accuracy` of prompts by a fixed per-prompt rule
(answers.py: `answers_correctly`); `judge: true` makes the mock a deterministic judge of tagged rubric or
pairwise prompts (judge.py: `rubric_verdict`, `pairwise_verdict`), with optional position bias and malformed
verdicts. The ground truth records the answer's source and correctness, and the verdict.
"""

from benchlab.mockllm.answers import AnswerKey, AnswerKeyError, answers_correctly, load_answer_key
from benchlab.mockllm.behaviour import Behaviour, Duration, InvalidRequest, word_tokens
from benchlab.mockllm.judge import normalize, pairwise_verdict, rubric_verdict
from benchlab.mockllm.server import MockLLMServer

__all__ = ["AnswerKey", "AnswerKeyError", "Behaviour", "Duration", "InvalidRequest", "MockLLMServer",
           "answers_correctly", "load_answer_key", "normalize", "pairwise_verdict", "rubric_verdict", "word_tokens"]
