"""Every Redis key Doorstep uses, built in one place from named prefixes.

Slots (Redis Cluster). Every MULTI and every Lua script touches keys of ONE hash slot:
the keys it writes together share a `{hash tag}`, chosen so that the busy state is
spread over the whole cluster and no brand is one shard:

- `{<brand>/<delivery>}` (the conversation): the delivery record, its message-id list,
  transcript, conversation state, inbox, inbox failures and seen replies, lock, case.
  Written together by put-delivery, reply-in (seen mark + inbox append), the drain.
- `{o<n>}` (outbox shard n of `shards`): the shard's stream, due set, dead letters,
  message hashes and supersession marks. Submit, record a send, retry, dead-letter,
  move-due and reclaim each stay in it.
- `{i<n>}` (inbox shard n): the sweeper's index of conversations with unhandled replies.
- `{desk:<brand>}`: the brand's agent queue, held set and hand-off hashes: hand-off,
  claim (a script) and hand-back are one transaction each. A brand's desk is one slot:
  it carries escalations only, a few a minute.
- `{brand:<brand>}`: the brand's settings, template overrides and their version lists
  (template save is a script).
- untagged: keys used alone: routes, API keys, sessions, tokens, event and reply
  marks, addresses, opt-outs, saved places, links.

A message's outbox shard follows from its recipient (`shard_of`), so one customer's
messages stay in order on one stream; the shard is part of the message id, so every
key of a message is found from the id alone. What must change in several slots
(an event: its deliveries, route and messages; a reply's index entry and its inbox)
is written in ordered, idempotent steps, not one transaction: README "Design".
"""

from __future__ import annotations

import secrets
import zlib
from dataclasses import dataclass

from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class Keys:
    """Key builder; `prefix` lets several deployments (or test runs) share one Redis."""

    prefix: str = "ds"
    # How many outbox (and inbox-index) shards: streams that sending is spread over.
    shards: int = 16

    def shard_of(self, channel: str, address: str) -> int:
        """The outbox shard of a recipient: stable, so their messages stay in order."""
        return zlib.crc32(f"{channel}:{address}".encode()) % self.shards

    def conversation_id(self, brand_id: str, delivery_id: str) -> str:
        """A conversation is one delivery's: `<brand>/<delivery>`, also its slot's tag."""
        return f"{brand_id}/{delivery_id}"

    def _conv(self, brand_id: str, delivery_id: str) -> str:
        return f"{self.prefix}:c:{{{brand_id}/{delivery_id}}}"

    def _c(self, conversation: str) -> str:
        return f"{self.prefix}:c:{{{conversation}}}"

    # --- brands -------------------------------------------------------------
    def brand(self, brand_id: str) -> str:
        """Hash: the brand's settings as JSON under field `settings`."""
        return f"{self.prefix}:brand:{{brand:{brand_id}}}"

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
        """String with TTL: a provider message id already taken in (the fast duplicate
        check before the conversation is known; the exact one is `replies_seen`)."""
        return f"{self.prefix}:in:{channel}:{provider_id}"

    def replies_seen(self, conversation: str) -> str:
        """Set: provider ids of replies already in this conversation's inbox; checked
        and added in the same script as the inbox append, so a provider's retry of a
        webhook whose first write failed is taken in, and a duplicate never is."""
        return f"{self._c(conversation)}:seen"

    # --- deliveries and routes ---------------------------------------------
    def delivery(self, brand_id: str, delivery_id: str) -> str:
        """String: the delivery record as JSON."""
        return f"{self._conv(brand_id, delivery_id)}:dlv"

    def route(self, brand_id: str, route_id: str) -> str:
        """String: the route record as JSON."""
        return f"{self.prefix}:route:{brand_id}:{route_id}"

    def address(self, brand_id: str, channel: str, address: str) -> str:
        """String: the delivery id of this brand's newest delivery reachable at this address.

        Scoped by brand: another brand delivering to the same number never takes this
        brand's customer's replies (an inbound message finds its brand first, from
        what it was sent to)."""
        return f"{self.prefix}:addr:{brand_id}:{channel}:{address}"

    def sender_brand(self, channel: str, sender: str) -> str:
        """String: the brand whose messages go out from this sender (an SMS number, a
        Twilio messaging service, a WhatsApp sender): how a reply finds its brand."""
        return f"{self.prefix}:sender:{channel}:{sender}"

    def address_brands(self, channel: str, address: str) -> str:
        """Sorted set: the brands with a delivery to this address, by the newest one's
        time; a reply to a sender no brand claims goes to a brand only if it is alone."""
        return f"{self.prefix}:addrbrands:{channel}:{address}"

    def delivery_messages(self, brand_id: str, delivery_id: str) -> str:
        """List of message ids sent (or to be sent) about a delivery, oldest first."""
        return f"{self._conv(brand_id, delivery_id)}:msgs"

    def transcript(self, brand_id: str, delivery_id: str) -> str:
        """List of JSON transcript entries (in and out) of a delivery's conversation."""
        return f"{self._conv(brand_id, delivery_id)}:log"

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
        return f"{self._c(conversation)}:inbox"

    def inbox_failures(self, conversation: str) -> str:
        """Hash: failed attempts at handling a reply, by provider id (poison replies)."""
        return f"{self._c(conversation)}:inbox-failures"

    def conversation_lock(self, conversation: str) -> str:
        """String with TTL: held by the one process draining a conversation's inbox."""
        return f"{self._c(conversation)}:lock"

    def pending_inboxes(self, shard: int) -> str:
        """Sorted set of conversations with unhandled replies, by arrival (crash sweep);
        one per inbox shard (`inbox_shard`)."""
        return f"{self.prefix}:inboxes:{{i{shard}}}"

    def inbox_shard(self, conversation: str) -> int:
        return zlib.crc32(conversation.encode()) % self.shards

    def _desk(self, brand_id: str) -> str:
        return f"{self.prefix}:desk:{{desk:{brand_id}}}"

    def agent_queue(self, brand_id: str) -> str:
        """Sorted set: conversations waiting for a person, by the time they started waiting."""
        return f"{self._desk(brand_id)}:queue"

    def held(self, brand_id: str) -> str:
        """Set: conversations an agent holds."""
        return f"{self._desk(brand_id)}:held"

    def handoff(self, conversation: str) -> str:
        """Hash: why and since when a conversation waits for (or is held by) a person.
        In the desk's slot (with the queue), not the conversation's: claiming is atomic."""
        brand_id, _, delivery_id = conversation.partition("/")
        return f"{self._desk(brand_id)}:h:{delivery_id}"

    def conversation(self, conversation: str) -> str:
        """String (JSON): the conversation engine's state, e.g. the question it is waiting on."""
        return f"{self._c(conversation)}:state"

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

    def agent_tokens(self, brand_id: str) -> str:
        """Hash: token digest -> JSON {agent, created_at, expires_at} of a brand's API tokens."""
        return f"{self.prefix}:agent-tokens:{brand_id}"

    def login_failures(self, kind: str, who: str) -> str:
        """Hash with TTL {count, until, locked}: recent wrong passwords for an account
        (`kind` "account", `who` brand/username) or a client address ("address")."""
        return f"{self.prefix}:login-fail:{kind}:{who}"

    def login_locks(self) -> str:
        """Sorted set: throttled account/address names by when their delay or lock ends."""
        return f"{self.prefix}:login-locks"

    def session(self, session_id: str) -> str:
        """String (JSON) with TTL: a console login session and its CSRF token."""
        return f"{self.prefix}:session:{session_id}"

    def desk_events(self, brand_id: str) -> str:
        """Pub/sub channel: live updates for a brand's agent console."""
        return f"{self.prefix}:desk-events:{brand_id}"

    def telegram_ref(self, ref: str) -> str:
        """String: the conversation a Telegram deep-link reference opens."""
        return f"{self.prefix}:tgref:{ref}"

    def case(self, brand_id: str, delivery_id: str) -> str:
        """Hash: an open damage / missing-parcel case with the photos on both sides."""
        return f"{self._conv(brand_id, delivery_id)}:case"

    # --- outbox -------------------------------------------------------------
    def _shard(self, shard: int) -> str:
        return f"{self.prefix}:o:{{o{shard}}}"

    def message_shard(self, message_id: str) -> int:
        """The shard a message id names (`m...s<n>`; an id without one is shard 0)."""
        head, sep, tail = message_id.rpartition("s")
        if not sep or not head.startswith("m") or not tail.isdigit():
            return 0
        return int(tail) % self.shards

    def message(self, message_id: str) -> str:
        """Hash: one outbound message, its status and its history (in its shard's slot)."""
        return f"{self._shard(self.message_shard(message_id))}:m:{message_id}"

    def message_sending(self, message_id: str) -> str:
        """String: who is sending the message right now (a token with a TTL), in the
        message's slot: two workers that both hold its entry never both send it."""
        return f"{self.message(message_id)}:sending"

    def message_pattern(self) -> str:
        """A SCAN pattern matching every message hash of every shard (tests, tooling)."""
        return f"{self.prefix}:o:*:m:*"

    def provider_message(self, channel: str, provider_id: str) -> str:
        """String: our message id for a provider's message id (status callbacks)."""
        return f"{self.prefix}:pmsg:{channel}:{provider_id}"

    def outbox(self, shard: int) -> str:
        """Stream of message ids ready to send, read by the `senders` consumer group."""
        return f"{self._shard(shard)}:stream"

    def dead_letters(self, shard: int) -> str:
        """Stream of messages that failed for good (permanent error or retries exhausted)."""
        return f"{self._shard(shard)}:dead"

    def due(self, shard: int) -> str:
        """Sorted set: message ids by the time they become due (deferred or retrying)."""
        return f"{self._shard(shard)}:due"

    def supersede(self, shard: int, key: str) -> str:
        """String: the newest message id for a supersession key such as `eta:<delivery>`
        (in the shard of the recipient it concerns)."""
        return f"{self._shard(shard)}:sup:{key}"

    def lease(self, name: str) -> str:
        """String with TTL: which process holds a job only one may run (Telegram polling)."""
        return f"{self.prefix}:lease:{name}"

    # --- misc ---------------------------------------------------------------
    def clock_offset(self) -> str:
        """String: seconds added to the wall clock (sandbox time travel only)."""
        return f"{self.prefix}:clock:offset"

    def sandbox(self) -> str:
        """Prefix under which the sandbox channel keeps its phones' feeds."""
        return f"{self.prefix}:sbx"

    # --- agent desk: assignment, SLAs, canned responses, CSAT -----------------
    # A brand's desk state shares the tag `{desk:<brand>}` with its queue, held set and
    # hand-offs, so that one Lua script can offer a conversation and count it against
    # an agent's capacity atomically on a Redis Cluster.
    def desk_roster(self, brand_id: str) -> str:
        """Set: usernames of the brand's agents (added on account creation and login)."""
        return f"{self._desk(brand_id)}:roster"

    def desk_available(self, brand_id: str) -> str:
        """Hash: username -> capacity ("0": the brand's default), present while available."""
        return f"{self._desk(brand_id)}:available"

    def desk_presence(self, brand_id: str) -> str:
        """Hash: username -> when their console (or API client) was last seen, unix seconds;
        an available agent whose console has gone is not offered anything."""
        return f"{self._desk(brand_id)}:presence"

    def desk_holders(self, brand_id: str) -> str:
        """Hash: conversation -> username holding it (each agent's open conversations)."""
        return f"{self._desk(brand_id)}:holders"

    def desk_assigned_at(self, brand_id: str) -> str:
        """Hash: username -> when they were last given a conversation (ties go round)."""
        return f"{self._desk(brand_id)}:assigned-at"

    def desk_profiles(self, brand_id: str) -> str:
        """Hash: username -> JSON desk preferences (capacity, console language)."""
        return f"{self._desk(brand_id)}:profiles"

    def desk_seen(self, brand_id: str, username: str) -> str:
        """Hash: delivery id -> when this agent last opened it, unix seconds (unread markers)."""
        return f"{self._desk(brand_id)}:seen:{username}"

    def desk_resolved(self, brand_id: str) -> str:
        """List of JSON: resolved conversations with their SLA outcome, newest first (capped)."""
        return f"{self._desk(brand_id)}:resolved"

    def canned(self, brand_id: str) -> str:
        """Hash: shortcut -> JSON canned response (title and a template per locale)."""
        return f"{self.prefix}:canned:{brand_id}"

    def csat_pending(self, conversation: str) -> str:
        """String (JSON) with TTL: the CSAT question a customer was asked (agent, reason)."""
        return f"{self.prefix}:csat:{{{conversation}}}"

    def csat_responses(self, brand_id: str) -> str:
        """List of JSON: CSAT answers (delivery, agent, reason, score, when), newest first."""
        return f"{self._desk(brand_id)}:csat-responses"

    def csat_totals(self, brand_id: str) -> str:
        """Hash: CSAT counters, `agent|<username>|<n or sum or 1..5>` and `reason|<reason>|...`."""
        return f"{self._desk(brand_id)}:csat-totals"

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
