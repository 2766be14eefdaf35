"""`sav` command line: serve, token, worker, jobs, replay, events export."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from functools import partial
from typing import Any

import orjson

from sav import __version__
from sav.cli.ops import add_db_parser, add_import_parser
from sav.cli.privacy import add_privacy_parser
from sav.config import ConfigError, Settings, load_settings
from sav.events.rules import Role

ROLES = [role.value for role in Role]

# Kept in step with sav.workers.inprocess.KINDS and sav.workers.scheduler.JOBS (a unit
# test checks); repeated here so `sav --help` does not import the whole service.
WORKER_KINDS = ("projections", "publisher", "consumer", "scheduler", "event-log")
JOBS = ("auto-close", "escalate", "auto-assign", "survey", "metrics")
EXIT_TRY_AGAIN = 75  # sysexits' EX_TEMPFAIL: another replay is running, or the switch gave up
MAX_SHOWN_DIFFERENCES = 200


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    from sav.migrations import SchemaError

    try:
        return int(args.handler(settings, args) or 0)
    except SchemaError as error:  # an older schema: the message names `sav db upgrade`
        print(f"sav: {error}", file=sys.stderr)
        return 3
    except ConfigError as error:  # found at start, e.g. a master key that opens no key
        print(f"configuration error: {error}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sav", description="SAV ticket service: an event-sourced helpdesk API.",
        epilog="Configuration comes from environment variables (APP_PORT, DB_*, MINIO_*, "
               "RABBITMQ_*, AUTH_*, SAV_*): `sav config` shows each effective value and "
               "where it came from. With none set, SQLite and files under SAV_DATA_DIR "
               "(./var).")
    parser.add_argument("--version", action="version", version=f"sav {__version__}",
                        help="print the package version and exit")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API (and, unless "
                                         "SAV_INPROCESS_WORKERS=false, the workers)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    serve.add_argument("--port", type=int, default=None,
                       help="port to listen on (default: APP_PORT, else 8007)")
    serve.add_argument("--workers", type=int, default=1,
                       help="server processes (default 1); each has its own HTTP metrics")
    serve.set_defaults(handler=cmd_serve)

    token = sub.add_parser(
        "token", help="print a bearer token the service accepts (signed with "
                      "AUTH_JWT_SECRET, else the secret in SAV_DATA_DIR/jwt_secret)")
    token.add_argument("--sub", required=True, help="the user id (the token's subject)")
    token.add_argument("--role", required=True, choices=ROLES, help="the caller's role")
    token.add_argument("--email", help="the user's e-mail (claim `email`)")
    token.add_argument("--name", help="the user's display name (claim `name`)")
    token.add_argument("--ttl", type=int, default=86400,
                       help="seconds until the token expires (default 86400: one day)")
    token.set_defaults(handler=cmd_token)

    config = sub.add_parser(
        "config", help="print the effective configuration: each variable, its value "
                       "(secrets masked) and where it came from (environment or default)")
    config.set_defaults(handler=cmd_config)

    worker = sub.add_parser("worker", help="run background workers")
    worker.add_argument("kind", nargs="?", default="all", choices=[*WORKER_KINDS, "all"],
                        help="which worker to run (default: all of them)")
    worker.add_argument("--from", dest="from_position", type=int, default=None,
                        help="publisher: publish again from this global position")
    worker.set_defaults(handler=cmd_worker)

    jobs = sub.add_parser("jobs", help="scheduled jobs")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    run = jobs_sub.add_parser("run", help="run one scheduled job now")
    run.add_argument("name", choices=JOBS, help="the job to run")
    run.set_defaults(handler=cmd_job)

    replay = sub.add_parser(
        "replay", help="rebuild the read model from position 0 and switch it in while "
                       "the API keeps serving")
    replay.add_argument("--check", action="store_true",
                        help="rebuild aside and compare it with the live tables row by row, "
                             "switching nothing; exit 1 on any difference")
    replay.set_defaults(handler=cmd_replay)

    events = sub.add_parser("events", help="the event log")
    events_sub = events.add_subparsers(dest="events_command", required=True)
    export = events_sub.add_parser(
        "export", help="stream the event log in the feed's envelope (as GET /events/export)")
    export.add_argument("--after", type=int, default=0,
                        help="export the events after this global position (default 0: all)")
    export.add_argument("--format", choices=["jsonl", "csv", "store"], default="jsonl",
                        help="JSON lines (default) or CSV with columns position, message_id, "
                             "event, timestamp, data; or `store`: the stored records "
                             "themselves, the backup `sav events import` restores")
    export.set_defaults(handler=cmd_export)
    add_import_parser(events_sub)
    add_db_parser(sub)
    add_privacy_parser(sub)  # sav privacy … (sav/cli/privacy.py, issue 12)
    return parser


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    port = args.port or settings.app_port
    # `--port` wins over APP_PORT everywhere (local download URLs point at this server).
    settings = settings.model_copy(update={"app_port": port})
    from sav.eventstore.db import dispose_engine, engine_for
    from sav.migrations import ensure_schema

    # An older schema is refused here, before the server starts (the message names
    # `sav db upgrade`); an empty database is created at head.
    ensure_schema(engine_for(settings.database_url))
    loader = AppLoader(factory=partial(logged_app, settings, f"http://{args.host}:{port}"))
    app = loader.load()
    single = args.workers <= 1
    if not single:
        # Create the schema once before the server processes start (they race otherwise).
        from sav.projections.runner import create_read_schema

        create_read_schema(engine_for(settings.database_url))
    dispose_engine(settings.database_url)
    app.prepare(host=args.host, port=port, workers=max(1, args.workers),
                single_process=single, access_log=False, motd=False)
    if single:
        Sanic.serve_single(primary=app)  # no worker-manager process for one worker
    else:
        Sanic.serve(primary=app, app_loader=loader)
    return 0


def logged_app(settings: Settings, url: str | None = None) -> Any:
    """`sav serve`'s app factory (run again in each server process): JSON logs, the app,
    which logs the address it listens on once it does."""
    import logging

    from sav.api.app import create_app
    from sav.logging import configure_logging

    configure_logging()
    app = create_app(settings)
    if url is not None:
        @app.after_server_start
        async def listening(*_: Any) -> None:
            logging.getLogger("sav.serve").info(f"listening on {url}",
                                                extra={"url": url, "pid": os.getpid()})
    return app


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    from sav.api.auth import issue_token

    secret_file = settings.data_dir / "jwt_secret"
    created = not settings.auth_jwt_secret and not secret_file.exists()
    secret = settings.jwt_secret()
    if created:
        print(f"sav token: created a new signing secret in {secret_file.resolve()} "
              f"(SAV_DATA_DIR={settings.data_dir}). Only a server with the same "
              "SAV_DATA_DIR (or the same AUTH_JWT_SECRET) accepts this token; others "
              "answer 401.", file=sys.stderr)
    print(issue_token(secret, args.sub, args.role, args.email, args.name,
                      args.ttl, settings.auth_jwt_issuer, settings.auth_jwt_audience))
    return 0


def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    from sav.cli.config_report import render

    print(render(settings, os.environ))
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from sav.bootstrap import bootstrap
    from sav.logging import configure_logging
    from sav.workers.health import start_worker_health
    from sav.workers.inprocess import workers

    configure_logging()
    services = bootstrap(settings)
    stop = services.background.stop
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    kinds = WORKER_KINDS if args.kind == "all" else (args.kind,)
    runners = workers(services)
    if args.from_position is not None and "publisher" in kinds:
        from sav.workers import publisher  # moves the row once it holds the lease

        runners["publisher"] = partial(publisher.run, services.app, services.engine, settings,
                                       start_from=args.from_position)
    for kind in kinds:
        services.background.spawn(kind, runners[kind])
    health = start_worker_health(services, list(kinds))
    while not stop.wait(0.5):
        pass
    if health is not None:
        health.shutdown()
    services.close()
    return 0


def cmd_job(settings: Settings, args: argparse.Namespace) -> int:
    from sav.bootstrap import bootstrap
    from sav.workers.scheduler import Jobs, run_job

    services = bootstrap(settings)
    try:
        jobs = Jobs(services.app, services.engine, services.read_model, settings)
        print(orjson.dumps(run_job(jobs, args.name)).decode())
    finally:
        services.close()
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sav.bootstrap import bootstrap
    from sav.replay.rebuild import RebuildError
    from sav.workers.projections import ReplayRunningError, check, replay

    services = bootstrap(settings)
    try:
        total = services.app.recorder.max_notification_id() or 0
        with tqdm(total=total, unit=" events", desc="replay", unit_scale=True) as bar:
            options: dict[str, Any] = {"progress": bar.update, "phase": bar.set_description}
            if not args.check:
                position = replay(services.app, services.engine, **options)
                print(f"rebuilt read model from {position} events")
                return 0
            comparison = check(services.app, services.engine, **options)
    except (ReplayRunningError, RebuildError) as error:
        print(f"sav replay: {error}", file=sys.stderr)
        return EXIT_TRY_AGAIN
    finally:
        services.close()
    found = comparison.differences
    for difference in found[:MAX_SHOWN_DIFFERENCES]:
        print(difference)
    if len(found) > MAX_SHOWN_DIFFERENCES:
        print(f"... and {len(found) - MAX_SHOWN_DIFFERENCES} more")
    lag = total - comparison.position
    print(f"{len(found)} difference(s) between the live read model and a rebuild, "
          f"both at position {comparison.position}"
          + (f" (the live read model is {lag} events behind the log)" if lag > 0 else ""))
    return 1 if found else 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from sav.bootstrap import bootstrap
    from sav.eventstore.backup import export_backup
    from sav.eventstore.db import engine_for
    from sav.history.feed import EventFeed, export_chunks

    services = bootstrap(settings)
    out = sys.stdout.buffer
    try:
        # The same chunks as GET /events/export: the feed's envelope, never a secret
        # (`store`, the CLI's backup only, is the stored records: see sav/eventstore/backup.py).
        chunks = (export_chunks(EventFeed.of(services.app), args.after, args.format)
                  if args.format != "store" else export_backup(
                      services.engine, engine_for(settings.keys_database_url), args.after))
        for chunk in chunks:
            out.write(chunk)
        out.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, like other Unix tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
