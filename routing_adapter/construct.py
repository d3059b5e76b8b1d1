"""Route construction without a solver: schedules, feasible insertion, repair, baseline.

The solver is warm-started from a route built here, because with tight time windows
OR-Tools' own first-solution strategies often find nothing feasible in a second
(see the benchmark). Insertion tests each position in O(1) with the latest arrival
time that keeps the rest of the route on time (Savelsbergh's forward slack).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

from routing_adapter.plan import Problem

FIRST_FIT_N = 120


@dataclass(frozen=True, slots=True)
class Schedule:
    arrivals: tuple[int, ...]  # per route position: when service starts
    end_time: int
    travel: int
    late: tuple[tuple[int, int], ...]  # (node, seconds late) for each stop served late
    over_capacity: tuple[int, ...]  # nodes after which the load exceeds capacity


def simulate(p: Problem, route: list[int]) -> Schedule:
    """Drive `route` (stop nodes) from the driver's position, waiting for windows to open."""
    t = p.windows[0][0]
    prev, travel, load = 0, 0, p.initial_load
    arrivals: list[int] = []
    late: list[tuple[int, int]] = []
    over: list[int] = []
    for node in route:
        leg = p.matrix[prev][node]
        travel += leg
        t = max(p.windows[node][0], t + p.service[prev] + leg)
        arrivals.append(t)
        if t > p.windows[node][1]:
            late.append((node, t - p.windows[node][1]))
        load += p.demand[node]
        if p.capacity is not None and load > p.capacity:
            over.append(node)
        prev = node
    leg = p.matrix[prev][p.end]
    return Schedule(
        tuple(arrivals), t + p.service[prev] + leg, travel + leg, tuple(late), tuple(over)
    )


def route_cost(p: Problem, route: list[int]) -> int:
    cost, prev = 0, 0
    for node in [*route, p.end]:
        cost += p.matrix[prev][node]
        prev = node
    return cost


def best_insertion(
    p: Problem, route: list[int], u: int, every: list[tuple[int, int]] | None = None
) -> tuple[int, int] | None:
    """(added travel, position) of the cheapest on-time insertion of `u`, or None.

    With `every`, each on-time (added travel, position) is also appended to it: a
    caller whose objective is not travel alone (waiting costs too) compares those.
    """
    seq = [0, *route, p.end]
    k = len(seq)
    arr = [0] * k
    arr[0] = p.windows[0][0]
    for i in range(1, k):
        a, b = seq[i - 1], seq[i]
        arr[i] = max(p.windows[b][0], arr[i - 1] + p.service[a] + p.matrix[a][b])
    latest = [0] * k
    latest[k - 1] = p.windows[p.end][1]
    for i in range(k - 2, 0, -1):
        a, b = seq[i], seq[i + 1]
        latest[i] = min(p.windows[a][1], latest[i + 1] - p.service[a] - p.matrix[a][b])
    # Capacity: a pickup raises the load of everything after it.
    load_after = [0] * k
    load = p.initial_load
    for i in range(k):
        load += p.demand[seq[i]]
        load_after[i] = load
    suffix_max = [0] * (k + 1)
    suffix_max[k] = -(10**9)
    for i in range(k - 1, -1, -1):
        suffix_max[i] = max(load_after[i], suffix_max[i + 1])
    best: tuple[int, int] | None = None
    first = 2 if p.serving is not None and route and route[0] == p.serving else 1
    for pos in range(first, k):
        a, b = seq[pos - 1], seq[pos]
        au = max(p.windows[u][0], arr[pos - 1] + p.service[a] + p.matrix[a][u])
        if au > p.windows[u][1]:
            continue
        ab = max(p.windows[b][0], au + p.service[u] + p.matrix[u][b])
        if ab > latest[pos]:
            continue
        if (
            p.capacity is not None
            and p.demand[u] > 0
            and (max(load_after[pos - 1], suffix_max[pos]) + p.demand[u] > p.capacity)
        ):
            continue
        delta = p.matrix[a][u] + p.matrix[u][b] - p.matrix[a][b]
        if every is not None:
            every.append((delta, pos - 1))
        if best is None or delta < best[0]:
            best = (delta, pos - 1)
    return best


def insert_all(p: Problem, route: list[int], order: list[int]) -> tuple[list[int], list[int]]:
    route = list(route)
    left: list[int] = []
    for u in order:
        found = best_insertion(p, route, u)
        if found is None:
            left.append(u)
        else:
            route.insert(found[1], u)
    return route, left


def _reinsert(p: Problem, route: list[int], nodes: list[int]) -> list[int] | None:
    """`route` with every node of `nodes` inserted on time (earliest deadline first)."""
    trial = list(route)
    for node in sorted(nodes, key=lambda v: p.windows[v][1]):
        found = best_insertion(p, trial, node)
        if found is None:
            return None
        trial.insert(found[1], node)
    return trial


def repair(
    p: Problem,
    route: list[int],
    stuck: list[int],
    tries: int = 15,
    pair_tries: int = 8,
    deadline: float = math.inf,
) -> tuple[list[int], list[int]]:
    """Make room for stuck stops by moving one routed stop, or two, close to them in time.

    Moving one is tried among the `tries` stops whose windows are closest; if none
    works, pairs among the closest `pair_tries` (a stop with a narrow window between
    two others often needs both of them moved). Past `deadline` the stops still stuck
    are left to the search: at 200 stops with tight windows this loop alone took 2 s
    (1,100 insertion tests), most of a 1 s solve, and the search places them faster.
    Above `FIRST_FIT_N` stops the first single move that works is taken rather than
    the cheapest (the search shortens the route anyway; the time is what counts).
    """
    left: list[int] = []
    for u in stuck:
        mid = sum(p.windows[u]) / 2
        near = sorted(
            (i for i, v in enumerate(route) if v != p.serving),
            key=lambda i: abs(sum(p.windows[route[i]]) / 2 - mid),
        )
        options: list[tuple[int, ...]] = [(i,) for i in near[:tries]]
        options += [
            (a, b) for k, a in enumerate(near[:pair_tries]) for b in near[k + 1 : pair_tries]
        ]
        placed: tuple[int, list[int]] | None = None
        for positions in options:
            if placed is not None and (len(positions) == 2 or p.n > FIRST_FIT_N):
                break  # a single move worked: prefer it over moving two
            if time.perf_counter() > deadline:
                break
            moved = [route[i] for i in positions]
            trial = [v for i, v in enumerate(route) if i not in positions]
            with_u = _reinsert(p, trial, [u])
            result = _reinsert(p, with_u, moved) if with_u is not None else None
            if result is not None:
                cost = route_cost(p, result)
                if placed is None or cost < placed[0]:
                    placed = (cost, result)
        if placed is None:
            left.append(u)
        else:
            route = placed[1]
    return route, left


def ruin_and_recreate(
    p: Problem, route: list[int], stuck: list[int], deadline: float, tries: int = 300
) -> tuple[list[int], list[int]]:
    """Place stuck stops by taking out a random handful of stops near them in time.

    A stop squeezed between several tight windows needs more than the one or two
    moves `repair` tries: remove 3-20 of the stops whose windows are closest to it
    (sometimes skipping a few), put it in, and put the others back in a varied order.
    Seeded, and bounded by `tries` as well as time, so the same plan gives the same
    route. On the generated 200-stop instances this places in one or two tries the
    last stop the other heuristics could not.
    """
    rng = random.Random(len(route) * 7919 + len(stuck))
    route, left = list(route), list(stuck)
    orders = (
        lambda v: p.windows[v][1],
        lambda v: p.windows[v][0],
        lambda v: p.windows[v][0] + p.windows[v][1],
        lambda v: p.windows[v][1] - p.windows[v][0],
    )
    for _ in range(tries):
        if not left or time.perf_counter() > deadline:
            break
        u = left[0]
        mid = sum(p.windows[u]) / 2
        near = sorted(
            (i for i, v in enumerate(route) if v != p.serving),
            key=lambda i: abs(sum(p.windows[route[i]]) / 2 - mid),
        )
        picked = near[: rng.randint(3, 20)]
        if len(picked) > 3 and rng.random() < 0.5:
            picked = rng.sample(picked, len(picked) - rng.randint(1, 2))
        chosen = set(picked)
        trial = [v for i, v in enumerate(route) if i not in chosen]
        nodes = sorted([u, *(route[i] for i in chosen)], key=rng.choice(orders))
        if rng.random() < 0.3:
            rng.shuffle(nodes)
        for v in nodes:
            found = best_insertion(p, trial, v)
            if found is None:
                break
            trial.insert(found[1], v)
        else:
            route = trial
            left.pop(0)
    return route, left


def construct(
    p: Problem,
    current: list[int] | None = None,
    budget_s: float = math.inf,
    first_feasible: bool = False,
) -> tuple[list[int], list[int]]:
    """A feasible route serving as many stops as the heuristics manage.

    With a current sequence, its stops keep their order as far as it stays on time
    (so a small change makes a small reshuffle); the others are inserted.
    """
    stops = list(range(1, p.n + 1))
    candidates: list[tuple[list[int], list[int]]] = []
    deadline = time.perf_counter() + budget_s
    # Repairing a stop that does not fit may run past the budget, to twice it: a route
    # that serves everyone with less time to shorten it beats a shorter one that
    # leaves a customer out (on a busy machine the budget buys less).
    repair_by = deadline + budget_s
    if current is not None:
        kept, dropped = _keep_current(p, current)
        missing = [s for s in stops if s not in current]
        route, left = insert_all(p, kept, dropped + missing)
        candidates.append(repair(p, route, left, deadline=repair_by) if left else (route, left))
        if not candidates[0][1]:
            # Everyone served from the driver's own order: that is the start a re-plan
            # wants (a small change, a small reshuffle); the search does the rest.
            return candidates[0]
    orders = (
        sorted(stops, key=lambda v: p.windows[v][1]),
        sorted(stops, key=lambda v: p.windows[v][0]),
        sorted(stops, key=lambda v: p.windows[v][0] + p.windows[v][1]),
    )
    seed = [p.serving] if p.serving is not None else []
    # A plain insertion in each order first (~40 ms at 200 stops), and the repair
    # (up to twice the budget) only from the order that left the fewest out: repairing
    # the first order's 20 stuck stops on wide windows, where another order left 0-5,
    # used the whole second and left the search nothing.
    plain: list[tuple[int, int, list[int], list[int], list[int]]] = []
    for order in orders:
        rest = [v for v in order if v != p.serving]
        route, left = insert_all(p, seed, rest)
        candidates.append((route, left))
        plain.append((len(left), route_cost(p, route), rest, route, left))
        if not left and first_feasible:
            break
    plain.sort(key=lambda c: (c[0], c[1]))
    for _, _, rest, route, left in plain if plain[0][0] else ():
        if time.perf_counter() > deadline and any(not c[1] for c in candidates):
            break  # the rest of the time belongs to the local search
        hard: list[int] = []
        for attempt_no in range(4):
            if attempt_no:
                # Stops that did not fit go first next time: they are the hard ones.
                attempt = hard + [v for v in rest if v not in hard]
                route, left = insert_all(p, seed, attempt)
            if left:
                route, left = repair(p, route, left, deadline=repair_by)
            candidates.append((route, left))
            if not left or time.perf_counter() > deadline:
                break
            hard += [v for v in left if v not in hard]
        if not left or time.perf_counter() > deadline:
            break
    best = min(candidates, key=lambda c: (len(c[1]), route_cost(p, c[0])))
    if best[1] and budget_s < math.inf:
        # Still stops left: a little more time, for the heuristic that needs least.
        best = ruin_and_recreate(p, *best, deadline=time.perf_counter() + budget_s / 2)
    return best


def _keep_current(p: Problem, current: list[int]) -> tuple[list[int], list[int]]:
    """The current order with the stops taken out that no longer fit where they are.

    A stop is taken out if it is late there, or if serving it there makes more of the
    stops after it late than skipping it would: a stop moved to "after 5" still fits
    at its old place by waiting until 5, but everyone behind it would then be late, and
    taking all of them out (as a plain greedy pass does) leaves a hundred stops to
    re-insert instead of one. O(n^2) simulation steps: ~10 ms at 100 stops.
    """
    kept: list[int] = []
    dropped: list[int] = []
    for k, node in enumerate(current):
        with_it = simulate(p, [*kept, node])
        if with_it.late or _over(p, [*kept, node]):
            dropped.append(node)
            continue
        rest = current[k + 1 :]
        if rest and len(simulate(p, [*kept, node, *rest]).late) > len(
            simulate(p, [*kept, *rest]).late
        ):
            dropped.append(node)
        else:
            kept.append(node)
    return kept, dropped


def _over(p: Problem, route: list[int]) -> bool:
    return bool(simulate(p, route).over_capacity)


def nearest_neighbour(p: Problem) -> tuple[list[int], list[int]]:
    """Baseline: always drive to the stop you can start serving soonest, if still on time."""
    route: list[int] = []
    todo = set(range(1, p.n + 1))
    t, prev = p.windows[0][0], 0
    while todo:
        best: tuple[int, int] | None = None
        for v in todo:
            arrive = max(p.windows[v][0], t + p.service[prev] + p.matrix[prev][v])
            if arrive <= p.windows[v][1] and (best is None or arrive < best[0]):
                best = (arrive, v)
        if best is None:
            break
        t, prev = best
        route.append(prev)
        todo.discard(prev)
    return route, sorted(todo)
