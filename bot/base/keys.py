"""Every Redis key Doorstep uses, built in one place from named prefixes.

Keys that a Lua script or a MULTI touches together share a `{hash tag}` so that
they land on one Redis Cluster slot.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class Keys:
    """Key builder; `prefix` lets several deployments (or test runs) share one Redis."""

    prefix: str = "ds"

    # --- brands -------------------------------------------------------------
    def brand(self, brand_id: str) -> str:
        """Hash: the brand's settings as JSON under field `settings`."""
        return f"{self.prefix}:brand:{brand_id}"

    def brands(self) -> str:
        """Set of every brand id."""
        return f"{self.prefix}:brands"

    def api_key(self, key_hash: str) -> str:
        """String: brand id for the SHA-256 of an API key (keys themselves are never stored)."""
        return f"{self.prefix}:apikey:{key_hash}"

    # --- events and idempotency --------------------------------------------
    def event_seen(self, brand_id: str, event_id: str) -> str:
        """String with TTL: an event id already accepted ("done") or being handled ("wip")."""
        return f"{self.prefix}:evt:{brand_id}:{event_id}"

    def inbound_seen(self, channel: str, provider_id: str) -> str:
        """String with TTL: a provider message id already taken in."""
        return f"{self.prefix}:in:{channel}:{provider_id}"

    # --- deliveries and routes ---------------------------------------------
    def delivery(self, brand_id: str, delivery_id: str) -> str:
        """String: the delivery record as JSON."""
        return f"{self.prefix}:dlv:{{{brand_id}}}:{delivery_id}"

    def route(self, brand_id: str, route_id: str) -> str:
        """String: the route record as JSON."""
        return f"{self.prefix}:route:{{{brand_id}}}:{route_id}"

    def address(self, channel: str, address: str) -> str:
        """String: `brand_id/delivery_id` of the newest delivery reachable at this address."""
        return f"{self.prefix}:addr:{channel}:{address}"

    def delivery_messages(self, brand_id: str, delivery_id: str) -> str:
        """List of message ids sent (or to be sent) about a delivery, oldest first."""
        return f"{self.prefix}:dlvmsgs:{{{brand_id}}}:{delivery_id}"

    def transcript(self, brand_id: str, delivery_id: str) -> str:
        """List of JSON transcript entries (in and out) of a delivery's conversation."""
        return f"{self.prefix}:log:{{{brand_id}}}:{delivery_id}"

    def customer_wrote(self, brand_id: str, channel: str, address: str) -> str:
        """String: set for a day after this address last wrote to this brand on this
        channel (WhatsApp's customer-service window: free text inside, templates outside)."""
        return f"{self.prefix}:wrote:{brand_id}:{channel}:{address}"

    def optout(self, brand_id: str, channel: str, address: str) -> str:
        """String: set while this address has opted out of this brand on this channel."""
        return f"{self.prefix}:optout:{brand_id}:{channel}:{address}"

    # --- conversations ------------------------------------------------------
    def inbox(self, conversation: str) -> str:
        """List: replies of one conversation waiting to be handled, in arrival order."""
        return f"{self.prefix}:inbox:{{{conversation}}}"

    def inbox_failures(self, conversation: str) -> str:
        """Hash: failed attempts at handling a reply, by provider id (poison replies)."""
        return f"{self.prefix}:inbox-failures:{{{conversation}}}"

    def conversation_lock(self, conversation: str) -> str:
        """String with TTL: held by the one process draining a conversation's inbox."""
        return f"{self.prefix}:lock:{{{conversation}}}"

    def pending_inboxes(self) -> str:
        """Sorted set of conversations with unhandled replies, by arrival time (crash sweep)."""
        return f"{self.prefix}:inboxes"

    def agent_queue(self, brand_id: str) -> str:
        """Sorted set: conversations waiting for a person, by the time they started waiting."""
        return f"{self.prefix}:queue:{brand_id}"

    def handoff(self, conversation: str) -> str:
        """Hash: why and since when a conversation waits for (or is held by) a person."""
        return f"{self.prefix}:handoff:{{{conversation}}}"

    def conversation(self, conversation: str) -> str:
        """String (JSON): the conversation engine's state, e.g. the question it is waiting on."""
        return f"{self.prefix}:conv:{{{conversation}}}"

    def saved_place(self, brand_id: str, address_hash: str) -> str:
        """String: the safe place a customer asked us to remember for an address."""
        return f"{self.prefix}:place:{brand_id}:{address_hash}"

    # --- agents -------------------------------------------------------------
    def agent(self, brand_id: str, username: str) -> str:
        """String (JSON): an agent account with its argon2 password hash."""
        return f"{self.prefix}:agent:{brand_id}:{username}"

    def agent_token(self, digest: str) -> str:
        """String (JSON): the agent an API token (by its SHA-256) acts as."""
        return f"{self.prefix}:agent-token:{digest}"

    def session(self, session_id: str) -> str:
        """String (JSON) with TTL: a console login session and its CSRF token."""
        return f"{self.prefix}:session:{session_id}"

    def desk_events(self, brand_id: str) -> str:
        """Pub/sub channel: live updates for a brand's agent console."""
        return f"{self.prefix}:desk:{brand_id}"

    def telegram_ref(self, ref: str) -> str:
        """String: the conversation a Telegram deep-link reference opens."""
        return f"{self.prefix}:tgref:{ref}"

    def case(self, brand_id: str, delivery_id: str) -> str:
        """Hash: an open damage / missing-parcel case with the photos on both sides."""
        return f"{self.prefix}:case:{brand_id}:{delivery_id}"

    # --- outbox -------------------------------------------------------------
    def message(self, message_id: str) -> str:
        """Hash: one outbound message, its status and its history."""
        return f"{self.prefix}:msg:{message_id}"

    def provider_message(self, channel: str, provider_id: str) -> str:
        """String: our message id for a provider's message id (status callbacks)."""
        return f"{self.prefix}:pmsg:{channel}:{provider_id}"

    def outbox(self) -> str:
        """Stream of message ids ready to send, read by the `senders` consumer group."""
        return f"{self.prefix}:{{outbox}}:stream"

    def dead_letters(self) -> str:
        """Stream of messages that failed for good (permanent error or retries exhausted)."""
        return f"{self.prefix}:{{outbox}}:dead"

    def due(self) -> str:
        """Sorted set: message ids by the time they become due (deferred or retrying)."""
        return f"{self.prefix}:{{outbox}}:due"

    def supersede(self, key: str) -> str:
        """String: the newest message id for a supersession key such as `eta:<delivery>`."""
        return f"{self.prefix}:sup:{key}"

    # --- misc ---------------------------------------------------------------
    def clock_offset(self) -> str:
        """String: seconds added to the wall clock (sandbox time travel only)."""
        return f"{self.prefix}:clock:offset"

    def sandbox(self) -> str:
        """Prefix under which the sandbox channel keeps its phones' feeds."""
        return f"{self.prefix}:sbx"

    # --- tracking page ----------------------------------------------------------
    def tracking_link(self, token: str) -> str:
        """String (JSON): the conversation a tracking-page token opens, and whether it
        was revoked (kept after revocation, so the page can say so)."""
        return f"{self.prefix}:trk:{token}"

    def tracking_failures(self, token: str) -> str:
        """String with TTL: wrong second-factor answers for a token (throttling)."""
        return f"{self.prefix}:trk-fail:{token}"

    def tracking_viewed(self, token: str) -> str:
        """String with TTL: set while a page view of this token was recorded recently."""
        return f"{self.prefix}:trk-seen:{token}"

    def tracking_log(self, brand_id: str, delivery_id: str) -> str:
        """List (JSON): what the customer did on the tracking page (viewed, actions), with
        times; shown with the delivery. Tagged like the conversation it belongs to."""
        return f"{self.prefix}:trk-log:{{{brand_id}/{delivery_id}}}"

    def tracking_updates(self) -> str:
        """Pub/sub channel: deliveries whose tracking page may show something new."""
        return f"{self.prefix}:trk-updates"


async def shared_secret(redis: Redis, keys: Keys) -> bytes:
    """A signing secret all replicas share: made by the first to start, kept in Redis."""
    key = f"{keys.prefix}:secret"
    await redis.set(key, secrets.token_hex(32), nx=True)
    return str(await redis.get(key)).encode()
