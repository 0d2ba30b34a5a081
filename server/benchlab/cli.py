"""The `benchlab` command: serve, worker, run, migrate, mock-llm, export-schema, login-link, projects, keys.

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
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab import __version__
from benchlab.client.ids import run_id_argument
from benchlab.commands.signals import ShutdownRequested, raise_on_signals
from benchlab.config import Settings
from benchlab.errors import BenchlabError, ConfigError
from benchlab.logging_setup import configure_logging

if TYPE_CHECKING:
    from benchlab.commands.gate import GateOptions

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
    serve.add_argument("--workers", type=int, metavar="N", help="run-queue workers in this process (default: "
                       "BENCHLAB_WORKERS or 1; 0 for an API-only replica)")
    serve.set_defaults(handler=_cmd_serve)

    worker = commands.add_parser("worker", help="claim queued runs from the shared database and execute them "
                                                "(docs/scale-out.md)")
    worker.add_argument("--workers", type=int, default=1, metavar="N", help="workers in this process, each with "
                        "BENCHLAB_WORKER_SLOTS runs at a time (default: 1)")
    worker.set_defaults(handler=_cmd_worker)

    migrate = commands.add_parser("migrate", help="apply pending PostgreSQL and ClickHouse migrations")
    migrate.add_argument("--print-clickhouse", action="store_true",
                         help="print the ClickHouse DDL for the configured target instead (review; applies nothing)")
    migrate.add_argument("--cluster", metavar="NAME", type=_cluster_name,
                         help="with --print-clickhouse: render for this cluster instead of the configured target")
    migrate.add_argument("--sharded", action="store_true",
                         help="with --print-clickhouse and --cluster: render sharded tables")
    migrate.set_defaults(handler=_cmd_migrate)

    run = commands.add_parser("run", help="run an experiment spec (YAML) and print its summary")
    run.add_argument("spec", type=Path, nargs="?", help="the experiment spec file")
    run.add_argument("--resume", type=run_id_argument, metavar="RUN_ID", help="resume an interrupted run instead")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--server", metavar="URL", help="run it in this server through its API (default: "
                     "BENCHLAB_SERVER_URL; the API key is read from BENCHLAB_API_KEY)")
    run.add_argument("--gate", action="store_true", help="then evaluate the spec's quality gates (exit 0 passed, "
                     "3 a gate failed, 4 the run failed); with --baseline, --junit, --markdown as `benchlab gate`")
    _gate_arguments(run, json_flag=False)
    run.set_defaults(handler=_cmd_run)

    evaluate = commands.add_parser("eval", help="score a finished run again from its stored responses (nothing "
                                                "is sent to the models under test) and print the scores")
    evaluate.add_argument("run_id", type=run_id_argument, metavar="RUN_ID", help="the run to score")
    evaluate.add_argument("--evaluators", type=Path, metavar="FILE", help="YAML with `evaluators:` (and "
                          "optionally `judges:`, `evaluation:`, `providers:`) replacing the spec's")
    evaluate.add_argument("--json", action="store_true", help="print the scores as JSON")
    evaluate.add_argument("--server", metavar="URL", help="score it in this server through its API (default: "
                          "BENCHLAB_SERVER_URL; the API key is read from BENCHLAB_API_KEY)")
    evaluate.set_defaults(handler=_cmd_eval)

    gate = commands.add_parser("gate", help="evaluate a completed run's quality gates against a baseline; exit 0 "
                                            "passed, 3 a gate failed, 4 the run cannot be gated")
    gate.add_argument("run_id", type=run_id_argument, metavar="RUN_ID", help="the run to gate")
    _gate_arguments(gate)
    gate.add_argument("--server", metavar="URL", help="gate it in this server through its API (default: "
                      "BENCHLAB_SERVER_URL; the API key is read from BENCHLAB_API_KEY)")
    gate.set_defaults(handler=_cmd_gate)

    baseline = commands.add_parser("baseline", help="mark a completed run as its experiment's baseline (for gates)")
    baseline_actions = baseline.add_subparsers(required=True, metavar="ACTION")
    baseline_set = baseline_actions.add_parser("set", help="make RUN_ID the baseline NAME of its experiment "
                                                           "(replacing the run the name held; audited)")
    baseline_set.add_argument("run_id", type=run_id_argument, metavar="RUN_ID", help="a completed run")
    baseline_set.add_argument("--name", default="main", help="the baseline's name (default: main)")
    baseline_set.add_argument("--server", metavar="URL", help="set it in this server through its API (default: "
                              "BENCHLAB_SERVER_URL; the API key is read from BENCHLAB_API_KEY)")
    baseline_set.set_defaults(handler=_cmd_baseline_set)

    _add_export(commands)  # benchlab export requests|scores|dataset, benchlab import dataset (docs/exports.md)

    mock = commands.add_parser("mock-llm", add_help=False,
                               help="start the synthetic OpenAI-compatible server (see `benchlab mock-llm --help`)")
    mock.set_defaults(handler=_cmd_mock_llm)

    export = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("--output", type=Path, help="write to this file instead of stdout")
    export.set_defaults(handler=_cmd_export_schema)

    link = commands.add_parser("login-link", help="print a new one-time sign-in link for local mode's admin "
                                                  "(while `serve` runs, or not)")
    link.set_defaults(handler=_cmd_login_link)

    projects = commands.add_parser("projects", help="create a project from the command line (as the instance admin)")
    project_actions = projects.add_subparsers(required=True, metavar="ACTION")
    project_create = project_actions.add_parser("create", help="create a project (audited as cli:<os user>)")
    project_create.add_argument("slug", metavar="SLUG", help="lowercase letters, digits and '-', e.g. `demo`")
    project_create.add_argument("--name", help="display name (default: the slug)")
    project_create.add_argument("--description", default="", help="optional description")
    project_create.set_defaults(handler=_cmd_projects_create)

    keys = commands.add_parser("keys", help="create and list a project's API keys from the command line (for CI), "
                                            "while `serve` runs or not")
    key_actions = keys.add_subparsers(required=True, metavar="ACTION")
    key_create = key_actions.add_parser("create", help="create an API key and print it once (audited as "
                                                       "cli:<os user>)")
    key_create.add_argument("--project", required=True, metavar="SLUG", help="the project the key opens")
    key_create.add_argument("--role", required=True, choices=("viewer", "member", "admin", "owner"),
                            help="the key's role in the project")
    key_create.add_argument("--name", help="what uses it, e.g. `nightly CI` (default: cli and the time)")
    key_create.add_argument("--expires", metavar="WHEN", help="30d, 12h, 2w, 1y, or a UTC date such as 2027-01-01 "
                                                              "(default: never)")
    key_create.add_argument("--quiet", "-q", action="store_true", help="print only the key (KEY=$(benchlab keys "
                                                                       "create ... --quiet))")
    key_create.set_defaults(handler=_cmd_keys_create)
    key_list = key_actions.add_parser("list", help="list a project's API keys (never their secrets)")
    key_list.add_argument("--project", required=True, metavar="SLUG")
    key_list.add_argument("--json", action="store_true", help="print the keys as JSON")
    key_list.set_defaults(handler=_cmd_keys_list)
    return parser


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.commands.worker import work

    if not 1 <= args.workers <= 64:
        raise BenchlabError("--workers: use 1..64")
    asyncio.run(work(settings, args.workers))
    return 0


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.workers is not None and not 0 <= args.workers <= 64:
        raise BenchlabError("--workers: use 0..64 (0: an API-only replica)")
    settings = replace(settings, host=args.host or settings.host, port=args.port or settings.port,
                       workers=settings.workers if args.workers is None else args.workers)
    from benchlab.commands.serve import serve

    raise_on_signals()
    asyncio.run(serve(settings))
    return 0


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.client.target import server_target

    if (args.spec is None) == (args.resume is None):
        raise BenchlabError("give either a spec file or --resume RUN_ID")
    target = server_target(args.server, settings)  # a server to submit to (client/target.py), or None: run here
    if target is not None:
        from benchlab.commands.remote import remote_run_command

        return remote_run_command(target, args.spec, args.resume, args.json,
                                  gate=_gate_options(args) if args.gate else None)
    from benchlab.commands.run import run_command

    return run_command(settings, args.spec, args.resume, args.json, gate=_gate_options(args) if args.gate else None)


def _gate_arguments(parser: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    parser.add_argument("--baseline", metavar="NAME|RUN_ID", help="compare with this baseline of the experiment "
                        "(setBaseline) or run (default: the `main` baseline when there is one)")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write the gates as JUnit XML")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the gates as a Markdown table")
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print the gate report as JSON")


def _gate_options(args: argparse.Namespace) -> GateOptions:
    from benchlab.commands.gate import GateOptions

    if args.handler is _cmd_run:  # the run's --json is the run's report; the table goes to stderr then
        return GateOptions(args.baseline, args.junit, args.markdown, table_to_stderr=args.json)
    return GateOptions(args.baseline, args.junit, args.markdown, args.json)


def _cmd_gate(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.client.target import server_target

    target = server_target(args.server, settings)
    if target is not None:
        from benchlab.commands.gate import remote_gate_command

        return remote_gate_command(target.url, target.credential, args.run_id, _gate_options(args))
    from benchlab.commands.gate import gate_command

    return gate_command(settings, args.run_id, _gate_options(args))


def _add_export(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser("export", help="write a run's or a project's requests or scores, or a dataset "
                                                "version, to a file: JSONL, CSV or Parquet (docs/exports.md)")
    tables = export.add_subparsers(required=True, metavar="WHAT")
    for table in ("requests", "scores"):
        rows = tables.add_parser(table, help=f"the {table} of a run or a project")
        scope = rows.add_mutually_exclusive_group(required=True)
        scope.add_argument("--run", type=run_id_argument, metavar="RUN_ID", help="this run's rows")
        scope.add_argument("--project", metavar="SLUG", help="this project's rows")
        rows.add_argument("--from", dest="start", type=_aware_time, metavar="TIME",
                          help="with --project: rows at or after this ISO 8601 time (with an offset, e.g. ...Z)")
        rows.add_argument("--to", dest="end", type=_aware_time, metavar="TIME", help="with --project: rows before it")
        rows.add_argument("--source", choices=("experiment", "production"), help="only rows of this source")
        if table == "scores":
            rows.add_argument("--all-passes", action="store_true",
                              help="every scoring pass (default: each run's current pass)")
        rows.set_defaults(handler=_cmd_export, table=table)
    dataset = tables.add_parser("dataset", help="a dataset version's items as JSONL, the importDatasetItems format")
    dataset.add_argument("dataset", metavar="NAME", help="the dataset's name")
    dataset.add_argument("--project", metavar="SLUG", required=True, help="the dataset's project")
    dataset.add_argument("--version", type=int, metavar="N", help="the version number (default: the latest)")
    dataset.set_defaults(handler=_cmd_export, table="dataset", run=None)
    for each in (*[tables.choices[name] for name in ("requests", "scores")], dataset):
        each.add_argument("--format", choices=("jsonl", "csv", "parquet"),
                          help="default: from the output's extension (.jsonl, .csv, .parquet)")
        each.add_argument("--output", "-o", required=True, metavar="FILE", help="the file to write, or - for stdout")
        each.add_argument("--server", metavar="URL", help="export through this server's API (default: "
                          "BENCHLAB_SERVER_URL, else the local `benchlab serve` holding the data dir, else in-process)")


    imports = commands.add_parser("import", help="import a dataset's items (JSONL or CSV) as a new version")
    kinds = imports.add_subparsers(required=True, metavar="WHAT")
    dataset_import = kinds.add_parser("dataset", help="items of FILE (e.g. from `benchlab export dataset`) as a new "
                                                      "version of dataset NAME, created if the project has none")
    dataset_import.add_argument("dataset", metavar="NAME", help="the dataset's name")
    dataset_import.add_argument("file", type=Path, metavar="FILE", help="the items: .jsonl or .csv")
    dataset_import.add_argument("--project", metavar="SLUG", required=True, help="the dataset's project")
    dataset_import.add_argument("--mode", choices=("replace", "append"), default="replace",
                                help="replace: the version holds exactly FILE's items (default); append: the latest "
                                     "version's items and FILE's (an item with the same id gets its new content)")
    dataset_import.add_argument("--format", choices=("jsonl", "csv"), help="default: from FILE's extension")
    dataset_import.add_argument("--server", metavar="URL", help="import through this server's API (default: "
                                "BENCHLAB_SERVER_URL, else the local `benchlab serve` holding the data dir)")
    dataset_import.set_defaults(handler=_cmd_import_dataset)


def _cmd_import_dataset(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.client.target import server_target
    from benchlab.commands.dataset_import import read_items

    text, fmt = read_items(args.file, args.format)
    target = server_target(args.server, settings)
    if target is not None:
        from benchlab.commands.dataset_import import remote_import_command

        return remote_import_command(target.url, target.credential, args.project, args.dataset, text, fmt,
                                     args.mode)
    from benchlab.commands.dataset_import import import_command

    return import_command(settings, args.project, args.dataset, text, fmt, args.mode)


def _aware_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 time (e.g. 2025-03-04T05:06:07Z)") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no UTC offset: add Z (UTC) or an offset such as +02:00")
    return parsed


def _cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.client.target import server_target
    from benchlab.commands.export import ExportRequest, export_format

    if args.table != "dataset" and (args.start or args.end) and args.project is None:
        raise BenchlabError("--from and --to go with --project (a run's rows are all exported)")
    request = ExportRequest(
        args.table, export_format(args.output, args.format), args.output, args.run, args.project,
        getattr(args, "start", None), getattr(args, "end", None), getattr(args, "source", None),
        getattr(args, "all_passes", False), getattr(args, "dataset", None), getattr(args, "version", None))
    target = server_target(args.server, settings)
    if target is not None:
        from benchlab.commands.export import remote_export_command

        return remote_export_command(target.url, target.credential, request)
    from benchlab.commands.export import export_command

    return export_command(settings, request)


def _cmd_baseline_set(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.client.target import server_target

    target = server_target(args.server, settings)
    if target is not None:
        from benchlab.commands.baselines import remote_baseline_set_command

        return remote_baseline_set_command(target.url, target.credential, args.run_id, args.name)
    from benchlab.commands.baselines import baseline_set_command

    return baseline_set_command(settings, args.run_id, args.name)


def _cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.client.target import server_target

    target = server_target(args.server, settings)
    if target is not None:
        from benchlab.commands.remote import remote_eval_command

        return remote_eval_command(target, args.run_id, args.evaluators, args.json)
    from benchlab.commands.evaluate import eval_command

    return eval_command(settings, args.run_id, args.evaluators, args.json)


def _cmd_mock_llm(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.mockllm.cli import main_mock_llm

    return main_mock_llm(args.mock_args)


def _cluster_name(value: str) -> str:
    from benchlab.stores.clickhouse_ddl import DdlTarget

    try:
        DdlTarget(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    if args.print_clickhouse:
        return _print_clickhouse(args, settings)
    if args.cluster or args.sharded:
        raise ConfigError("--cluster/--sharded", "only preview DDL: add --print-clickhouse (migrations apply to the "
                          "cluster set by BENCHLAB_CLICKHOUSE_CLUSTER)")
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


def _print_clickhouse(args: argparse.Namespace, settings: Settings) -> int:
    """The DDL `migrate` would run on the cluster (for a DBA to review); connects to nothing."""
    from benchlab.stores.clickhouse_ddl import DdlTarget
    from benchlab.stores.clickhouse_migrations import render_migrations

    if not (args.cluster or args.sharded):  # no flags: the configured target
        target = DdlTarget(settings.clickhouse_cluster, settings.clickhouse_sharded)
    elif args.cluster is None:
        raise ConfigError("--sharded", "sharding needs a cluster: add --cluster NAME")
    else:
        target = DdlTarget(args.cluster, args.sharded)
    sys.stdout.write(render_migrations(target, settings.clickhouse_database))
    return 0


def _cmd_login_link(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.commands.login_link import login_link_command

    return login_link_command(settings)


def _cmd_projects_create(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.commands.keys import projects_create_command

    return projects_create_command(settings, args.slug, args.name, args.description)


def _cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.commands.keys import keys_create_command

    return keys_create_command(settings, args.project, args.role, args.name, args.expires, args.quiet)


def _cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from benchlab.commands.keys import keys_list_command

    return keys_list_command(settings, args.project, args.json)


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
