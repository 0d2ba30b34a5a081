"""`benchlab mock-llm`: run the synthetic OpenAI-compatible server until SIGINT/SIGTERM.

Every behaviour field is also a flag (`ttft_ms` -> `--ttft-ms`); values are read like model-name values
(JSON when they parse, else text), so `--ttft-ms 80`, `--gap-ms "normal(10,2)"`, `--role-first-event false`
and `--fault-rates '{"429": 0.05}'` all work. `--behaviour JSON` sets several fields at once; single flags
win over it. Once listening, one line goes to stdout: `mock-llm: listening on http://HOST:PORT/v1`
(with `--port 0` that is how a caller learns the port).
`--answer-key FILE` (JSON Lines, or a YAML list for .yaml/.yml) gives known answers to listed prompts; it is
read once at start, and a bad entry stops the server with its line number (see benchlab.mockllm.answers).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import sys
from pathlib import Path

from benchlab.mockllm.answers import AnswerKeyError, load_answer_key
from benchlab.mockllm.behaviour import Behaviour, InvalidRequest, decode_value
from benchlab.mockllm.server import MockLLMServer


def main_mock_llm(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        behaviour = Behaviour().with_overrides({**_json_object(args.behaviour), **{
            f.name: decode_value(getattr(args, f.name)) for f in dataclasses.fields(Behaviour)
            if getattr(args, f.name) is not None}})
        answer_key = load_answer_key(args.answer_key) if args.answer_key else None
    except (InvalidRequest, AnswerKeyError) as exc:
        print(f"mock-llm: error: {exc}", file=sys.stderr)
        return 2
    server = MockLLMServer(behaviour, models=args.model or ["mock-llm"], seed=args.seed,
                           ground_truth=args.ground_truth, spin_us=args.spin_us, answer_key=answer_key)
    try:
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(_serve(server, args.host, args.port))
        else:
            asyncio.run(_serve(server, args.host, args.port))
    except OSError as exc:
        print(f"mock-llm: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0


async def _serve(server: MockLLMServer, host: str, port: int) -> None:
    await server.start(host, port)
    print(f"mock-llm: listening on http://{host}:{server.port}/v1", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


def _json_object(text: str | None) -> dict[str, object]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest("--behaviour must be a JSON object of behaviour fields")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchlab mock-llm", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8100, help="port to listen on, 0 for any free one (default: 8100)")
    parser.add_argument("--model", action="append", help="a served model name (repeatable; default: mock-llm)")
    parser.add_argument("--seed", type=int, default=0, help="server seed for per-request draws (default: 0)")
    parser.add_argument("--ground-truth", type=Path, help="append one JSON line per completion request to this file")
    parser.add_argument("--answer-key", type=Path, metavar="FILE", help="known answers: JSON Lines (or a YAML list, "
                        '.yaml/.yml) of {"prompt", "answer", optional "wrong", optional "tool_calls": [{"name", '
                        '"arguments"}]}; a request whose prompt (last user message, stripped) matches gets the answer, '
                        "correct per --accuracy (see benchlab.mockllm.answers)")
    parser.add_argument("--spin-us", type=float, default=200.0, help="busy-wait up to this long before due times, "
                        "within 2%% of the CPU (default: 200; 0: rely on the timer alone)")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop", help="event loop (default: uvloop)")
    parser.add_argument("--behaviour", help="JSON object of behaviour fields (same as the X-Mock-Behaviour header)")
    fields = parser.add_argument_group("behaviour (defaults for every request; see benchlab.mockllm.behaviour)")
    defaults = Behaviour().as_json
    for f in dataclasses.fields(Behaviour):
        fields.add_argument("--" + f.name.replace("_", "-"), dest=f.name, metavar="VALUE",
                            help=f"{f.metadata['help']} (default: {json.dumps(defaults[f.name])})".replace("%", "%%"))
    return parser


if __name__ == "__main__":
    raise SystemExit(main_mock_llm())
