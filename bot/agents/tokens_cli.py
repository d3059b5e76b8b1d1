"""`doorstep token-create | token-list | token-revoke`: an operator's hold on API tokens.

The same store as the admin API (`/console/api/tokens`): a token is printed once, on
creation; listing shows ids, owners and expiry only; revoking stops it at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports only what a command runs (bot/cli.py)
    from bot.config import Settings

# bot.agents.accounts.TOKEN_TTL_S in days (a test holds them equal).
DEFAULT_DAYS = 90


async def _with_store(settings: Settings, args: argparse.Namespace) -> int:
    from bot.agents.accounts import AccountStore
    from bot.base.redisconn import close, connect

    redis = connect(settings.redis, max_connections=4)
    try:
        accounts = AccountStore(redis, settings.keys)
        if args.command == "token-create":
            agent = await accounts.get(args.brand_id, args.username)
            if agent is None:
                print(f"no agent {args.username!r} in brand {args.brand_id!r}", file=sys.stderr)
                return 2
            token = await accounts.new_token(agent, args.days * 86400)
            info = await accounts.token_info(token)
            assert info is not None
            print(json.dumps({"token": token, **info.model_dump()}, indent=2))
        elif args.command == "token-list":
            tokens = await accounts.tokens(args.brand_id)
            print(json.dumps([t.model_dump() for t in tokens], indent=2))
        elif not await accounts.revoke_token(args.brand_id, args.token_id):
            print(f"no token {args.token_id!r} in brand {args.brand_id!r}", file=sys.stderr)
            return 2
        else:
            print(json.dumps({"revoked": args.token_id}))
        return 0
    finally:
        await close(redis)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(_with_store(settings, args))
    except ValueError as exc:
        print(f"invalid token: {exc}", file=sys.stderr)
        return 2


def add_parsers(sub: Any) -> None:
    create = sub.add_parser("token-create", help="an API token acting as an agent (admin)")
    create.add_argument("brand_id")
    create.add_argument("username")
    create.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help="lifetime, 1-365 (default 90)"
    )
    create.set_defaults(func=run)
    listing = sub.add_parser("token-list", help="a brand's live API tokens (ids, not tokens)")
    listing.add_argument("brand_id")
    listing.set_defaults(func=run)
    revoke = sub.add_parser("token-revoke", help="stop an API token at once")
    revoke.add_argument("brand_id")
    revoke.add_argument("token_id")
    revoke.set_defaults(func=run)
