"""The `benchlab` command: serve, run, migrate, mock-llm, export-schema, login-link.

Every failure a user can cause or fix (bad setting, unreachable store, busy data dir, broken migration) is
printed as one line naming what to fix, with exit status 2; tracebacks are for bugs only. Each command's
module is imported inside its handler, for start-up speed: `benchlab --help` or `benchlab mock-llm` must not
pay for the server, the engine and their libraries.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import replace
from pathlib import Path
from uuid import UUID

from benchlab import __version__
from benchlab.commands.signals import ShutdownRequested, raise_on_signals
from benchlab.config import Settings
from benchlab.errors import BenchlabError
from benchlab.logging_setup import configure_logging

log = logging.getLogger("benchlab")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.handler is _cmd_mock_llm:
        args.mock_args = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_format, settings.log_level)
        return args.handler(args, settings)
    except BenchlabError as exc:
        print(f"benchlab: error: {exc}", file=sys.stderr)
        return 2
    except (ShutdownRequested, KeyboardInterrupt):  # `serve` stopping on a signal is its normal way to end
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchlab", description="LLM experiment and latency-analytics server.")
    parser.add_argument("--version", action="version", version=f"benchlab {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="start the server (embedded stores unless URLs are configured)")
    serve.add_argument("--host", help="address to listen on (default: BENCHLAB_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: BENCHLAB_PORT or 8000)")
    serve.set_defaults(handler=_cmd_serve)

    migrate = commands.add_parser("migrate", help="apply pending PostgreSQL and ClickHouse migrations")
    migrate.set_defaults(handler=_cmd_migrate)

    run = commands.add_parser("run", help="run an experiment spec (YAML) and print its summary")
    run.add_argument("spec", type=Path, nargs="?", help="the experiment spec file")
    run.add_argument("--resume", type=UUID, metavar="RUN_ID", help="resume an interrupted run instead")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.set_defaults(handler=_cmd_run)

    evaluate = commands.add_parser("eval", help="score a finished run again from its stored responses (nothing "
                                                "is sent to the models under test) and print the scores")
    evaluate.add_argument("run_id", type=UUID, metavar="RUN_ID", help="the run to score")
    evaluate.add_argument("--evaluators", type=Path, metavar="FILE", help="YAML with `evaluators:` (and "
                          "optionally `judges:`, `evaluation:`, `providers:`) replacing the spec's")
    evaluate.add_argument("--json", action="store_true", help="print the scores as JSON")
    evaluate.set_defaults(handler=_cmd_eval)

    mock = commands.add_parser("mock-llm", add_help=False,
                               help="start the synthetic OpenAI-compatible server (see `benchlab mock-llm --help`)")
    mock.set_defaults(handler=_cmd_mock_llm)

    export = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("--output", type=Path, help="write to this file instead of stdout")
    export.set_defaults(handler=_cmd_export_schema)

    link = commands.add_parser("login-link", help="print a new one-time sign-in link for local mode's admin "
                                                  "(while `serve` runs, or not)")
    link.set_defaults(handler=_cmd_login_link)
    return parser


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    settings = replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    from benchlab.commands.serve import serve

    raise_on_signals()
    asyncio.run(serve(settings))
    return 0


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.commands.run import run_command

    if (args.spec is None) == (args.resume is None):
        raise BenchlabError("give either a spec file or --resume RUN_ID")
    return run_command(settings, args.spec, args.resume, args.json)


def _cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.commands.evaluate import eval_command

    return eval_command(settings, args.run_id, args.evaluators, args.json)


def _cmd_mock_llm(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.mockllm.cli import main_mock_llm

    return main_mock_llm(args.mock_args)


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.runtime import Runtime
    from benchlab.stores.local import local_stores

    async def run(resolved: Settings) -> None:
        runtime = await Runtime.open(resolved, embedded_postgres=settings.embedded_postgres)
        try:
            report = await runtime.migrate()
        finally:
            await runtime.close()
        for store, files in (("PostgreSQL", report.postgres), ("ClickHouse", report.clickhouse)):
            names = ", ".join(f.label for f in files) or "nothing to apply (up to date)"
            print(f"{store}: {names}")

    with local_stores(settings) as resolved:
        asyncio.run(run(resolved))
    return 0


def _cmd_login_link(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.commands.login_link import login_link_command

    return login_link_command(settings)


def _cmd_export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.api.schema import export_sdl

    sdl = export_sdl()
    if args.output:
        args.output.write_text(sdl, encoding="utf-8")
    else:
        sys.stdout.write(sdl)
    return 0


if __name__ == "__main__":
    sys.exit(main())
