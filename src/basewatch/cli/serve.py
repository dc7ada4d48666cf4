"""`basewatch serve`: run the service; `basewatch serve token create`: add an API token."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.settings import settings_from

if TYPE_CHECKING:  # the service (FastAPI, SQLAlchemy) loads only when `serve` runs
    from sqlalchemy import Engine

    from basewatch.service.config import ServeSettings
    from basewatch.settings import Settings

_FLAGS = ("listen", "database", "vulndb", "poll_interval", "vulndb_check_interval")


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--listen", metavar="HOST:PORT", help="default: 127.0.0.1:8080")
    serve.add_argument(
        "--database",
        metavar="URL",
        help="sqlite:///PATH or postgresql+psycopg://USER@HOST/NAME (default: an SQLite file in "
        "the user data directory)",
    )
    serve.add_argument(
        "--vulndb", metavar="PATH", help="vulnerability database (default: the CLI's)"
    )
    serve.add_argument(
        "--config", type=Path, metavar="FILE", help="a TOML file whose [serve] section is read"
    )
    serve.add_argument("--poll-interval", metavar="DURATION", help="default: 5m")
    serve.add_argument("--vulndb-check-interval", metavar="DURATION", help="default: 60s")
    serve.add_argument(
        "--no-local-workers",
        action="store_true",
        help="serve the API and dashboard and queue the work (polls, indexing, re-evaluation, "
        "delivery) for `basewatch worker` processes on the same PostgreSQL",
    )
    sub = serve.add_subparsers(dest="serve_command", metavar="SUBCOMMAND")
    token = sub.add_parser("token", help="manage API tokens")
    verbs = token.add_subparsers(dest="token_command", metavar="VERB", required=True)
    create = verbs.add_parser("create", help="add a token and print it (shown only this once)")
    create.add_argument("--role", choices=("admin", "viewer"), default="viewer")
    create.add_argument("--name", default="", help="what the token is for")
    jobs = sub.add_parser(
        "jobs",
        help="the fleet's queue: its depth, the workers, and the stuck and parked jobs",
        description="Reads the fleet's queue in the service's PostgreSQL: jobs waiting and "
        "running by queue, the workers and their last heartbeat, jobs running on workers no "
        "longer heard from (stuck: they are handed back once the lease runs out), and parked "
        "jobs (they kept killing their workers, or failed their last run).",
    )
    jobs.add_argument("--format", choices=("text", "json"), default="text")
    jobs.add_argument("--limit", type=int, default=50, help="jobs listed of each kind")


def run_serve(args: argparse.Namespace) -> int:
    from basewatch.service.auth import bootstrap, create_token
    from basewatch.service.config import ServeSettings
    from basewatch.service.db import open_engine, sessions, upgrade
    from basewatch.service.models import Role

    core = settings_from(args)
    settings = ServeSettings.load(
        environ=os.environ,
        default_vulndb=core.db_path,
        config=args.config,
        flags={key: getattr(args, key, None) for key in _FLAGS},
    )
    engine = open_engine(settings.database)
    upgrade(engine)
    make_session = sessions(engine)
    if args.serve_command == "token":
        role = Role(args.role)
        with make_session() as session:
            token = create_token(session, role, args.name or f"{role} token")
            session.commit()
        print(token)
        return ExitCode.OK
    if args.serve_command == "jobs":
        from basewatch.cli.fleet import show_jobs

        return show_jobs(settings, engine, args.format, max(args.limit, 1))
    with make_session() as session:
        first = bootstrap(session, settings.admin_token)
        session.commit()
    if first is not None:
        print(
            f"basewatch: the first admin token (shown only this once): {first}",
            file=sys.stderr,
            flush=True,
        )
    return _serve(settings, core, engine, fleet=args.no_local_workers)


def _serve(settings: ServeSettings, core: Settings, engine: Engine, fleet: bool = False) -> int:
    import uvicorn

    from basewatch.service.app import create_app
    from basewatch.service.db import sessions
    from basewatch.service.delivery import Dispatcher
    from basewatch.service.harbor.scans import HarborScans
    from basewatch.service.harbor.sealing import sealer_for
    from basewatch.service.http import ServiceState
    from basewatch.service.reevaluate import Reevaluator
    from basewatch.service.updater import Updater
    from basewatch.service.watcher import Watcher

    make_session = sessions(engine)
    watcher = Watcher(make_session, settings, core)
    reevaluator = Reevaluator(make_session, settings, core)
    dispatcher: Dispatcher | None = Dispatcher(make_session, settings)
    harbor = (
        HarborScans(make_session, settings, watcher, sealer_for(settings.harbor))
        if settings.harbor.enabled
        else None
    )
    scheduler = None
    if fleet:
        from basewatch.service.fleet.scheduler import fleet_scheduler
        from basewatch.service.harbor.sealing import fleet_key_warning

        if warning := fleet_key_warning(settings.harbor):
            print(f"basewatch: warning: {warning}", file=sys.stderr, flush=True)
        scheduler = fleet_scheduler(make_session, settings, core, engine, reevaluator, harbor)
        dispatcher = None  # the workers deliver
    else:
        assert dispatcher is not None
        # events written by a poll or a re-evaluation are delivered at once, not at the next
        # look
        watcher.on_events = reevaluator.on_events = dispatcher.wake
    state = ServiceState(
        settings,
        engine,
        make_session,
        watcher=None if fleet else watcher,
        reevaluator=reevaluator,
        dispatcher=dispatcher,
        updater=Updater(make_session, settings, core),
        harbor=harbor,
        scheduler=scheduler,
    )
    app = create_app(state)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        timeout_graceful_shutdown=30,
        server_header=False,
    )
    server = uvicorn.Server(config)
    mode = " (work queued for the fleet's workers)" if fleet else ""
    print(f"basewatch: serving on http://{settings.listen}{mode}", file=sys.stderr, flush=True)
    # uvicorn finishes the requests in flight on SIGTERM or Ctrl-C, then raises the signal
    # again; once it has shut down cleanly that is a normal end, not an interruption
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.dispose()
    print("basewatch: stopped", file=sys.stderr, flush=True)
    return ExitCode.OK


def _ignore(signum: int, frame: object) -> None:
    """Stands in for the CLI's own handlers while uvicorn owns the signals."""
