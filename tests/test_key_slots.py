"""Every transaction and Lua script touches one hash slot (the design in `bot.base.keys`).

Redis Cluster refuses a MULTI or a script whose keys are in several slots (CROSSSLOT),
so each atomic operation's keys are listed here and hashed as the cluster hashes them.
The suites marked `all_topologies` then run the operations themselves on a real cluster.
"""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from bot.base.keys import Keys

KEYS = Keys("ds", shards=16)
CONV = KEYS.conversation_id("acme", "d-1")
SHARD = KEYS.shard_of("sms", "+12125550142")
MESSAGE = f"m0190abcdef0123456789as{SHARD}"

ATOMIC = {
    "submit a message (script)": [
        KEYS.message(MESSAGE),
        KEYS.outbox(SHARD),
        KEYS.due(SHARD),
        KEYS.supersede(SHARD, "eta:acme:d-1"),
    ],
    "record a send / retry / dead-letter (MULTI)": [
        KEYS.message(MESSAGE),
        KEYS.message_sending(MESSAGE),
        KEYS.outbox(SHARD),
        KEYS.due(SHARD),
        KEYS.dead_letters(SHARD),
    ],
    "move due messages (script)": [KEYS.due(SHARD), KEYS.outbox(SHARD)],
    "take a message to send (script)": [KEYS.message(MESSAGE), KEYS.message_sending(MESSAGE)],
    "take a reply in (script)": [KEYS.replies_seen(CONV), KEYS.inbox(CONV)],
    "a conversation's state": [
        KEYS.delivery("acme", "d-1"),
        KEYS.delivery_messages("acme", "d-1"),
        KEYS.transcript("acme", "d-1"),
        KEYS.conversation(CONV),
        KEYS.inbox_failures(CONV),
        KEYS.conversation_lock(CONV),
        KEYS.case("acme", "d-1"),
    ],
    "hand-off, claim (script), hand-back (MULTI)": [
        KEYS.handoff(CONV),
        KEYS.agent_queue("acme"),
        KEYS.held("acme"),
    ],
    "assign, transfer (scripts), availability, CSAT (MULTI)": [
        KEYS.handoff(CONV),
        KEYS.agent_queue("acme"),
        KEYS.held("acme"),
        KEYS.desk_holders("acme"),
        KEYS.desk_available("acme"),
        KEYS.desk_presence("acme"),
        KEYS.desk_roster("acme"),
        KEYS.desk_assigned_at("acme"),
        KEYS.desk_resolved("acme"),
        KEYS.csat_responses("acme"),
        KEYS.csat_totals("acme"),
    ],
    "template save (script)": [KEYS.brand("acme"), f"{KEYS.brand('acme')}:tplv:x|sms|en"],
}


@pytest.mark.parametrize("operation", sorted(ATOMIC))
def test_each_atomic_operation_stays_in_one_slot(operation: str) -> None:
    slots = {key_slot(key.encode()) for key in ATOMIC[operation]}
    assert len(slots) == 1, (operation, ATOMIC[operation])


def test_busy_state_is_spread_over_the_cluster() -> None:
    """One brand is not one shard: its deliveries and the outbox shards hash apart."""
    deliveries = {key_slot(KEYS.delivery("acme", f"d-{n}").encode()) for n in range(50)}
    shards = {key_slot(KEYS.outbox(n).encode()) for n in range(16)}
    assert len(deliveries) > 40
    assert len(shards) == 16


def test_a_messages_keys_follow_from_its_id() -> None:
    assert KEYS.message_shard(MESSAGE) == SHARD
    assert key_slot(KEYS.message(MESSAGE).encode()) == key_slot(KEYS.outbox(SHARD).encode())
