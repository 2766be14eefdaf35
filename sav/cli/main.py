"""`sav` command line: serve, token, worker, jobs, replay, events export.

Each subcommand has a one-line `help` (in its parent's list) and a `description` (in its
own --help); what a command needs (the database, the broker) is checked before it starts,
and a failure is one line with a documented exit code (EXIT_CODES)."""

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
from sav.cli.parsing import add_command, table
from sav.cli.privacy import add_privacy_parser
from sav.cli.progress import progress
from sav.cli.startup import (
    EXIT_UNAVAILABLE,
    NotAnswering,
    Unavailable,
    check_broker,
    check_database,
    describe_failure,
)
from sav.config import ConfigError, Settings, load_settings
from sav.events.rules import Role

ROLES = [role.value for role in Role]

# Kept in step with sav.workers.inprocess.KINDS and sav.workers.scheduler.JOBS (a unit
# test checks); repeated here so `sav --help` does not import the whole service.
WORKER_KINDS = ("projections", "publisher", "consumer", "scheduler", "event-log",
                "webhooks", "mail")
WORKER_TEXTS = {
    "projections": "apply new events to the read tables (what GET /tickets answers from)",
    "publisher": "publish each event once to RABBITMQ_EXCHANGE (at-least-once, in order)",
    "consumer": "turn the platform's messages on RABBITMQ_QUEUE into commands",
    "scheduler": "run the automations on their intervals (see `sav jobs run --help`)",
    "event-log": "log one JSON line (ids only) per ticket happening (logger sav.events)",
    "webhooks": "POST each event to the webhook subscriptions that name it (signed, retried)",
    "mail": "receive mail on SAV_INBOUND_SMTP_PORT, send acknowledgements and replies by SMTP",
}
# Job name → what it does (the scheduler's functions; a unit test keeps the names in step).
JOBS = {
    "auto-close": "close resolved tickets with no event for AUTO_CLOSE_RESOLVED_DAYS "
                  "(every day)",
    "escalate": "escalate urgent tickets without a first response after "
                "ESCALATION_TIMEOUT_HOURS (every 30 minutes)",
    "auto-assign": "give each unassigned open ticket, oldest first, to the least loaded "
                   "active agent (every minute, when AUTO_ASSIGN=true)",
    "survey": "ask once for a satisfaction rating on each closed, unrated ticket with a "
              "contact (every 5 minutes)",
    "metrics": "recompute the hourly ticket metrics from 24 hours before the last run "
               "(every hour)",
    "sla": "record a breach (SlaBreached, ticket.sla.breached) for each SLA metric whose "
           "due time has passed; reads only those tickets (every minute)",
    "idempotency-keys": "delete the Idempotency-Key answers older than "
                        "SAV_IDEMPOTENCY_TTL_HOURS (every hour)",
    "webhook-deliveries": "delete the delivered and failed webhook deliveries older than "
                          "SAV_WEBHOOK_DELIVERY_RETENTION_DAYS (every hour)",
}
EXIT_TRY_AGAIN = 75  # sysexits' EX_TEMPFAIL: another replay is running, or the switch gave up
EXIT_INTERRUPTED = 130  # the shells' code for a command ended by Ctrl-C (128 + SIGINT)
MAX_SHOWN_DIFFERENCES = 200
EXIT_CODES = """\
exit codes:
  0    done
  1    the command ran and found a problem: differences (replay --check), an upgrade
       needed (db current), a backup refused (events import)
  2    usage or configuration error: an option, or a variable's value (named)
  3    a dependency is unavailable: the database does not answer or refuses the
       login, the broker refuses the login (the line names the variables and what
       was tried), or the schema is older than this version (run `sav db upgrade`)
  75   try again later: another replay is running, or its switch gave up
  130  interrupted (Ctrl-C)"""


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
        check_needs(settings, args)
        return int(args.handler(settings, args) or 0)
    except Unavailable as error:  # the line names the variables and what was tried
        print(error, file=sys.stderr)
        return EXIT_UNAVAILABLE
    except SchemaError as error:  # an older schema: the message names `sav db upgrade`
        print(f"sav: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except ConfigError as error:  # found at start, e.g. a master key that opens no key
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: the user knows; a traceback says nothing more
        print("sav: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        line = describe_failure(settings, error)  # the database went away after the check
        if line is None:
            raise
        print(line, file=sys.stderr)
        return EXIT_UNAVAILABLE


def check_needs(settings: Settings, args: argparse.Namespace) -> None:
    """Raise Unavailable unless what the command needs answers (see sav/cli/startup.py)."""
    needs = getattr(args, "needs", ("database",))
    if "database" in needs:
        check_database(settings)
    if args.handler is cmd_worker and args.kind in ("publisher", "consumer", "all"):
        try:
            check_broker(settings)
        except NotAnswering as error:
            # The broker may be starting, or down for a while: the publisher and the
            # consumer retry it, and projections and the scheduler do not need it. A
            # refused login or virtual host is a configuration error: exit 3 above.
            print(f"{error} (starting anyway: the publisher and the consumer retry)",
                  file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sav", description="SAV ticket service: an event-sourced helpdesk API.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Configuration comes from environment variables (APP_PORT, DB_*, MINIO_*,\n"
               "RABBITMQ_*, AUTH_*, SAV_*): `sav config` shows each effective value and\n"
               "where it came from. With none set, SQLite and files under SAV_DATA_DIR\n"
               "(./var). `sav COMMAND --help` describes each command.\n\n" + EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"sav {__version__}",
                        help="print the package version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = add_command(
        sub, "serve", "run the HTTP API (and, unless SAV_INPROCESS_WORKERS=false, the "
                      "workers)",
        "Run the HTTP API on HOST:PORT until SIGINT or SIGTERM. Unless\n"
        "SAV_INPROCESS_WORKERS=false the workers run in the same process (in production\n"
        "run them apart: `sav worker all`). The database is checked first; an empty one\n"
        "is created at the current schema, an older one refused (`sav db upgrade`).\n"
        "Logs `listening on http://HOST:PORT` (JSON) once it accepts connections.")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    serve.add_argument("--port", type=int, default=None,
                       help="port to listen on (default: APP_PORT, else 8007)")
    serve.add_argument("--workers", type=int, default=1,
                       help="server processes (default 1); each has its own HTTP metrics")
    serve.set_defaults(handler=cmd_serve)

    token = add_command(
        sub, "token", "print a bearer token the service accepts (signed with "
                      "AUTH_JWT_SECRET, else the secret in SAV_DATA_DIR/jwt_secret)",
        "Print a bearer token (HS256 JWT) for a user and role. It is signed with\n"
        "AUTH_JWT_SECRET, else with SAV_DATA_DIR/jwt_secret (created on first use, which\n"
        "stderr reports): a server accepts it only with the same secret.")
    token.add_argument("--sub", required=True, help="the user id (the token's subject)")
    token.add_argument("--role", required=True, choices=ROLES, help="the caller's role")
    token.add_argument("--email", help="the user's e-mail (claim `email`)")
    token.add_argument("--name", help="the user's display name (claim `name`)")
    token.add_argument("--ttl", type=int, default=86400,
                       help="seconds until the token expires (default 86400: one day)")
    token.set_defaults(handler=cmd_token, needs=())

    add_command(
        sub, "config", "print the effective configuration: each variable, its value "
                       "(secrets masked) and where it came from (environment or default)",
        "Print every configuration variable with its effective value (secrets masked)\n"
        "and where it came from (environment or default). Connects to nothing."
    ).set_defaults(handler=cmd_config, needs=())

    worker = add_command(
        sub, "worker", "run background workers (one kind, or all of them)",
        "Run background workers until SIGINT or SIGTERM, and serve /health and /status\n"
        "on SAV_WORKER_HEALTH_PORT (8008). Several copies may run: a database lease per\n"
        "kind keeps one active and another takes over. The kinds:\n"
        + table(WORKER_TEXTS)
        + "The database is checked first, and the broker (RABBITMQ_HOST) for publisher,\n"
          "consumer and all.")
    worker.add_argument("kind", nargs="?", default="all", choices=[*WORKER_KINDS, "all"],
                        help="which worker to run (default: all of them)")
    worker.add_argument("--from", dest="from_position", type=int, default=None,
                        help="publisher: publish again from this global position")
    worker.set_defaults(handler=cmd_worker)

    jobs = add_command(sub, "jobs", "scheduled jobs (automations), run on demand",
                       "Scheduled jobs (automations): `sav worker scheduler` runs them on "
                       "their\nintervals; `sav jobs run NAME` runs one now.")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")
    run = add_command(
        jobs_sub, "run", "run one scheduled job now, whatever its interval",
        "Run one scheduled job now, whatever its interval, and print its summary (JSON).\n"
        "A job already running in a scheduler is skipped. The jobs:\n"
        + table(JOBS))
    run.add_argument("name", choices=list(JOBS), help="the job to run (see above)")
    run.set_defaults(handler=cmd_job)

    replay = add_command(
        sub, "replay", "rebuild the read model from position 0 and switch it in while "
                       "the API keeps serving",
        "Rebuild every read table from position 0 into shadow tables and switch them in\n"
        "atomically while the API keeps serving (a progress bar on a terminal). With\n"
        "--check, compare the rebuild with the live tables row by row instead. A second\n"
        "replay at once exits 75.")
    replay.add_argument("--check", action="store_true",
                        help="rebuild aside and compare it with the live tables row by row, "
                             "switching nothing; exit 1 on any difference")
    replay.set_defaults(handler=cmd_replay)

    events = add_command(sub, "events", "the event log: export it, restore a backup",
                         "The event log: `export` streams it (or a backup of the store), "
                         "`import`\nrestores a backup into an empty database.")
    events_sub = events.add_subparsers(dest="events_command", required=True,
                                       metavar="COMMAND")
    export = add_command(
        events_sub, "export", "stream the event log in the feed's envelope (as GET "
                              "/events/export), or a backup of the store",
        "Write the event log to stdout: JSON lines or CSV in the feed's envelope (as\n"
        "GET /events/export; no secrets), or with --format store the stored records\n"
        "themselves, the backup `sav events import` restores.")
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
    from sav.api.connections import GuardedHttpProtocol  # slow clients' deadlines

    app.prepare(host=args.host, port=port, workers=max(1, args.workers),
                single_process=single, access_log=False, motd=False,
                protocol=GuardedHttpProtocol)
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
    from sav.bootstrap import bootstrap
    from sav.replay.rebuild import RebuildError
    from sav.workers.projections import ReplayRunningError, check, replay

    services = bootstrap(settings)
    try:
        total = services.app.recorder.max_notification_id() or 0
        with progress(total, "replay") as bar:
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
