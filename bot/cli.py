"""The `doorstep` command: serve, run locally, manage brands.

Importing this module loads only the standard library: each command imports what it
uses when it runs, so `doorstep route` (a plan in, JSON out, no Redis, no settings)
and `doorstep --help` start without the service's libraries (aiohttp, redis,
pydantic, structlog: about a second on a busy machine; `python -X importtime`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import getpass
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Literal

from bot.agents import tokens_cli
from bot.nlu import cli as nlucli
from routing_adapter import cli as route_cli

if TYPE_CHECKING:
    import asyncio

    from redis.asyncio import Redis

    from bot.config import Settings

Role = Literal["all", "http", "worker"]
# Commands that need neither the environment's settings nor logging.
STANDALONE = frozenset({"route", "resolve-time"})


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Linux, macOS): markedly less CPU per request."""
    import asyncio

    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _serve(settings: Settings, role: Role = "all", port: int | None = None) -> None:
    from aiohttp import web

    from bot.app import create_app

    def announce(_: str) -> None:
        if role == "worker":
            print(f"Doorstep worker is running (health on port {port})", flush=True)
            return
        print(
            f"Doorstep is running: open {settings.public_base_url}/ "
            f"{'(sandbox)' if settings.sandbox else ''}",
            flush=True,
        )

    web.run_app(
        create_app(settings, role=role),
        host=settings.host,
        port=port or settings.port,
        print=announce,
        shutdown_timeout=20,
        access_log=None,
        loop=new_event_loop(),
    )


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    workers = settings.run_workers and not args.no_workers
    _serve(settings, "all" if workers else "http")
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """The senders and schedulers without the HTTP API (beside `serve --no-workers`);
    /healthz, /readyz and /metrics answer on `--port`."""
    _serve(settings, "worker", port=args.port)
    return 0


def cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    """Everything on one machine: a Redis if none answers, the NLU server, the service;
    with `--split`, the sending in a `doorstep worker` process of its own."""
    from bot.devrun import local_nlu, local_redis, worker_process

    with local_redis(settings.redis_url) as url, local_nlu(settings) as (nlu_url, token):
        if url != settings.redis_url:
            print(f"No Redis answered at {settings.redis_url}; started one at {url}", flush=True)
        local = dataclasses.replace(settings, redis_url=url, nlu_url=nlu_url, nlu_token=token)
        if not args.split:
            _serve(local)
            return 0
        with worker_process(local, port=settings.port + 1):
            _serve(local, "http")
    return 0


@contextlib.asynccontextmanager
async def _redis(settings: Settings) -> AsyncIterator[Redis]:
    """A Redis client for one command, closed when it is done."""
    from bot.base.redisconn import close, connect

    redis = connect(settings.redis, max_connections=4)
    try:
        yield redis
    finally:
        await close(redis)


def _run_admin(
    command: Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]],
    args: argparse.Namespace,
    settings: Settings,
    what: str,
) -> int:
    """Run an admin command; a value the models reject is exit 2 with the reason."""
    import asyncio

    try:
        return asyncio.run(command(args, settings))
    except ValueError as exc:
        print(f"invalid {what}: {exc}", file=sys.stderr)
        return 2


async def _brand_create(args: argparse.Namespace, settings: Settings) -> int:
    from bot.base.brands import BrandSettings, BrandStore

    async with _redis(settings) as redis:
        store = BrandStore(redis, settings.keys)
        if await store.get(args.brand_id) is not None and not args.update:
            print(f"brand {args.brand_id!r} exists (use --update)", file=sys.stderr)
            return 2
        brand = BrandSettings(
            brand_id=args.brand_id,
            display_name=args.name,
            timezone=args.timezone,
            channels=args.channels.split(","),
            require_signature=args.require_signature,
        )
        await store.save(brand)
        key = await store.add_api_key(brand.brand_id)
        secret = await store.set_signing_secret(brand.brand_id)
        print(
            json.dumps(
                {"brand_id": brand.brand_id, "api_key": key, "signing_secret": secret}, indent=2
            )
        )
        return 0


def cmd_brand_create(args: argparse.Namespace, settings: Settings) -> int:
    return _run_admin(_brand_create, args, settings, "brand")


async def _agent_create(args: argparse.Namespace, settings: Settings) -> int:
    from bot.agents.accounts import AccountExists, AccountStore, Agent
    from bot.base.brands import BrandStore

    password = os.environ.get("DOORSTEP_AGENT_PASSWORD") or getpass.getpass("Password: ")
    async with _redis(settings) as redis:
        keys = settings.keys
        if await BrandStore(redis, keys).get(args.brand_id) is None:
            print(f"no brand {args.brand_id!r}", file=sys.stderr)
            return 2
        agent = Agent(
            brand_id=args.brand_id, username=args.username, name=args.name, role=args.role
        )
        try:
            await AccountStore(redis, keys).create(agent, password, replace=args.reset_password)
        except AccountExists:
            print(f"agent {args.username!r} exists (use --reset-password)", file=sys.stderr)
            return 2
        print(json.dumps(agent.model_dump()))
        return 0


def cmd_agent_create(args: argparse.Namespace, settings: Settings) -> int:
    """Password from DOORSTEP_AGENT_PASSWORD or a prompt, never from the command line."""
    return _run_admin(_agent_create, args, settings, "agent")


def _resolve_time(args: argparse.Namespace, settings: Settings | None) -> int:
    from bot.nlu import resolve_cli

    return resolve_cli.run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="doorstep", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service (production)")
    serve.add_argument(
        "--no-workers", action="store_true", help="HTTP only: run `doorstep worker` beside it"
    )
    serve.set_defaults(func=cmd_serve)
    worker = sub.add_parser("worker", help="run the senders and schedulers, without the API")
    worker.add_argument("--port", type=int, default=8081, help="for /healthz, /readyz, /metrics")
    worker.set_defaults(func=cmd_worker)
    dev = sub.add_parser("dev", help="run locally, starting Redis if none answers")
    dev.add_argument("--split", action="store_true", help="send from a worker process")
    dev.set_defaults(func=cmd_dev)
    brand = sub.add_parser("brand-create", help="create a brand; prints its API key and secret")
    brand.add_argument("brand_id")
    brand.add_argument("--name", required=True)
    brand.add_argument("--timezone", default="UTC")
    brand.add_argument("--channels", default="sms")
    brand.add_argument("--require-signature", action="store_true")
    brand.add_argument("--update", action="store_true")
    brand.set_defaults(func=cmd_brand_create)
    agent = sub.add_parser("agent-create", help="add a console account to a brand")
    agent.add_argument("brand_id")
    agent.add_argument("username")
    agent.add_argument("--name", required=True)
    agent.add_argument("--role", choices=["agent", "admin"], default="agent")
    agent.add_argument(
        "--reset-password", action="store_true", help="set a new password for an existing agent"
    )
    agent.set_defaults(func=cmd_agent_create)
    tokens_cli.add_parsers(sub)
    route_cli.add_parser(sub)
    nlucli.add_parsers(sub)
    resolve = sub.add_parser(
        "resolve-time", help="JSON lines {span, reference, timezone} -> {start, end} or {error}"
    )
    resolve.set_defaults(func=_resolve_time)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in STANDALONE:
        standalone: int = args.func(args, None)
        return standalone
    from bot.base.logs import configure_logging
    from bot.config import ConfigError, Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_json)
    result: int = args.func(args, settings)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
