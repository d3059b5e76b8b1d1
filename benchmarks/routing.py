"""Benchmark: the route optimiser on public TSPTW instances, beside VROOM, in one run.

For each instance it prints our travel time, gap to the best-known value, whether
every stop was served on time, the solve's wall time and CPU time (on a loaded
machine a 1 s limit buys less than a second of search: compare the two), and VROOM's
(pyvroom, exploration level 5, 2 threads) beside it, unbounded and bounded by the same
time limit ("VR@lim"), and our travel over VROOM's; then the summaries (feasible count,
median and worst gap, the targets of issue 20, geometric-mean ratios), the cost of a reschedule
(`apply(NewWindow)`) on a 100-stop live-like route, fast path against solve, and the
event-loop lag while solves run in the pool.

    python benchmarks/routing.py [--time-limit 1.0] [--n200 8] [--reference-limit 10]

Instances: the 15 Dumas et al. (1995) instances in shared/bench/routing (proven
optima), plus any Dumas / Ohlmann-Thomas file put in benchmarks/data/tsptw (same
format; see the README there). Best-known values for those: BEST_KNOWN below, from
the table `benchmark/Traveltime_Bounds.csv` of the GitHub repository
TakehideSoh/tsptw (which cites Dumas et al. 1995, Ohlmann & Thomas 2007 and
Baldacci et al. 2012), the same values as M. Lopez-Ibanez's TSPTW instances page.

n = 200: the public n150/n200 files could not be brought onto this machine (see the
data README), so `--n200 K` generates K instances the way Dumas's are built (200
customers on a 50 x 50 grid, windows of width up to 20 or 40 centred on the arrival
times of a hidden tour) and, like Ohlmann & Thomas's n200w120/n200w140, the same
instances with every window widened by 100. The gap is to the best of the hidden
tour, a `--reference-limit` run of our solver and VROOM's answer ("reference"): an
upper bound on the optimum, not a proven one.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from routing_live import after_five, live_plan, measure  # noqa: E402
from routing_vroom import vroom_solve  # noqa: E402

from routing_adapter.plan import Problem  # noqa: E402
from routing_adapter.solver import solve  # noqa: E402


def _instances_dir() -> Path:
    """shared/bench/routing beside the checkout (or the worktree's main checkout)."""
    for candidate in (
        os.environ.get("ROUTING_BENCH", ""),
        ROOT.parent / "shared" / "bench" / "routing",
        ROOT.parent.parent / "shared" / "bench" / "routing",
    ):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise SystemExit("no shared/bench/routing found; set ROUTING_BENCH")


EXTRA = ROOT / "benchmarks" / "data" / "tsptw"
# Best-known travel times (TakehideSoh/tsptw, benchmark/Traveltime_Bounds.csv).
BEST_KNOWN = {
    "n20w20.001": 378,
    "n20w40.001": 254,
    "n20w60.001": 335,
    "n20w80.001": 329,
    "n20w100.001": 237,
    "n40w20.001": 500,
    "n40w40.001": 465,
    "n40w60.001": 494,
    "n40w80.001": 395,
    "n40w100.001": 429,
    "n60w20.001": 551,
    "n60w40.001": 591,
    "n60w60.001": 609,
    "n60w80.001": 458,
    "n60w100.001": 515,
    "n80w20.001": 616,
    "n80w40.001": 606,
    "n80w60.001": 554,
    "n80w80.001": 624,
    "n100w20.001": 738,
    "n100w40.001": 770,
    "n100w60.001": 655,
    "n150w20.001": 925,
    "n150w40.001": 918,
    "n150w60.001": 859,
    "n200w20.001": 1019,
    "n200w40.001": 1023,
    # Ohlmann & Thomas (2007): Dumas's n150/n200 with windows widened by 100.
    "n150w120.001": 734,
    "n150w140.001": 762,
    "n150w160.001": 706,
    "n200w120.001": 799,
    "n200w140.001": 834,
}


def public_instances() -> list[tuple[str, Path, int]]:
    """(name, file, best known) for every instance file found, smallest first."""
    found = []
    for name, best in BEST_KNOWN.items():
        for folder in (_instances_dir(), EXTRA):
            path = folder / f"{name}.txt"
            if path.is_file():
                found.append((name, path, best))
                break
    return found


def problem_from(matrix: list[list[int]], windows: list[tuple[int, int]]) -> Problem:
    """A Dumas instance as our problem: start at the depot, end at a copy of it."""
    n = len(matrix) - 1
    rows = [[*row, row[0]] for row in matrix]
    rows.append([*matrix[0], 0])
    return Problem(
        ids=tuple(str(i) for i in range(1, n + 1)),
        matrix=tuple(tuple(r) for r in rows),
        windows=tuple(
            [(windows[0][0], windows[0][0]), *windows[1:], (windows[0][0], windows[0][1])]
        ),
        service=tuple([0] * (n + 2)),
        demand=tuple([0] * (n + 2)),
        capacity=None,
        initial_load=0,
        breaks=(),
        serving=None,
        horizon=windows[0][1] + 1,
    )


def load_dumas(path: Path) -> Problem:
    tokens = path.read_text().split()
    n = int(tokens[0])
    values = [int(float(t)) for t in tokens[1:]]
    matrix = [values[i * n : (i + 1) * n] for i in range(n)]
    flat = values[n * n : n * n + 2 * n]
    return problem_from(matrix, [(flat[2 * i], flat[2 * i + 1]) for i in range(n)])


def generate_dumas_like(seed: int, n: int = 200, width: int = 20) -> tuple[Problem, int]:
    """An instance and the length of the (feasible) tour its windows were built around."""
    rng = random.Random(seed)
    points = [(rng.uniform(0, 50), rng.uniform(0, 50)) for _ in range(n + 1)]
    matrix = [[math.floor(math.dist(a, b)) for b in points] for a in points]
    # The hidden tour: from the depot, each time one of the 3 nearest unvisited points
    # at random. Its length matches the published optima's scale (n = 100: ~690 here,
    # 738-770 in Dumas's files; n = 200: ~950 here, ~1000 there); a uniformly random
    # order would be five times longer and would leave essentially one feasible order.
    tour, left, prev = [], set(range(1, n + 1)), 0
    while left:
        nearest = sorted(left, key=lambda v: (matrix[prev][v], v))[:3]
        prev = rng.choice(nearest)
        tour.append(prev)
        left.discard(prev)
    # Dumas: the tour's arrival times centre each window (width uniform in [0, w]).
    t, prev, windows = 0, 0, [(0, 0)] * (n + 1)
    for v in tour:
        t += matrix[prev][v]
        half = rng.randint(0, width) // 2
        windows[v] = (max(0, t - half), t + half)
        prev = v
    windows[0] = (0, t + matrix[prev][0] + 500)
    return problem_from(matrix, windows), t + matrix[prev][0]


def widened(p: Problem, by: int = 100) -> Problem:
    """Every customer window `by` wider (half each side), as Ohlmann & Thomas made
    n200w120/n200w140 from Dumas's n200w20/n200w40."""
    half = by // 2
    windows = [p.windows[0]]
    windows += [(max(0, a - half), b + half) for a, b in p.windows[1 : p.n + 1]]
    windows.append(p.windows[p.end])
    return replace(p, windows=tuple(windows))


def _gap(travel: int, feasible: bool, best: int) -> float:
    return 100 * (travel - best) / best if feasible else math.inf


def _cell(travel: int, gap: float, feasible: bool, ms: int) -> str:
    shown = f"{gap:6.2f}" if feasible else "   n/a"
    return f"{travel:>6} {shown} {'yes' if feasible else 'NO':>3} {ms:>5}"


def _summary(label: str, gaps: list[float]) -> str:
    ok = [g for g in gaps if math.isfinite(g)]
    if not ok:
        return f"{label}: none feasible"
    return (
        f"{label}: {len(ok)}/{len(gaps)} feasible; over those, median gap "
        f"{statistics.median(ok):.2f}%, worst {max(ok):.2f}%"
    )


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} (1/5/15 min; 2 cores)"


RATIOS: list[tuple[float, float]] = []  # (our travel / VROOM's, our ms / VROOM's)


def _ratios(label: str, rows: list[tuple[float, float]]) -> str:
    """Geometric means over the instances both solved with every stop served."""
    if not rows:
        return f"{label}: no instance both served fully"
    travel = math.exp(statistics.fmean(math.log(t) for t, _ in rows))
    time_ = math.exp(statistics.fmean(math.log(m) for _, m in rows))
    return (
        f"{label}: our travel / VROOM's {travel:.4f}, our solve time / VROOM's {time_:.2f}"
        f" (geometric means over {len(rows)} instances both served fully)"
    )


def _targets(gaps: list[float]) -> str:
    """Issue 20's targets for the public instances at 1 s."""
    ok = [g for g in gaps if math.isfinite(g)]
    met = (
        len(ok) == len(gaps),
        bool(ok) and statistics.median(ok) <= 0.1,
        bool(ok) and max(ok) <= 2.0,
    )
    words = ("every instance feasible", "median gap <= 0.1%", "worst gap <= 2%")
    return "targets: " + ", ".join(
        f"{w} {'met' if m else 'NOT met'}" for w, m in zip(words, met, strict=True)
    )


def compare(
    name: str, p: Problem, best: int, limit: float, ref_limit: float
) -> tuple[float, float, float]:
    """One row: our solver and VROOM on `p`. A negative `best` is a generated instance's
    hidden tour: the reference is then the best route anyone found."""
    cpu0 = time.process_time()
    ours = solve(p, limit)
    cpu_ms = round((time.process_time() - cpu0) * 1000)
    theirs = vroom_solve(p)
    bounded = vroom_solve(p, timeout_s=limit)
    note = ""
    if best < 0:  # generated: -hidden tour; reference = the best of everything known
        hidden = -best
        long_run = solve(p, ref_limit)
        best = min(
            hidden,
            long_run.travel if not long_run.unassigned else hidden,
            theirs.travel if not theirs.unassigned else hidden,
            ours.travel if not ours.unassigned else hidden,
            bounded.travel if not bounded.unassigned else hidden,
        )
        note = f"  (hidden tour {hidden})"
    g_ours = _gap(ours.travel, not ours.unassigned, best)
    g_vroom = _gap(theirs.travel, not theirs.unassigned, best)
    left = _cell(ours.travel, g_ours, not ours.unassigned, ours.solve_ms) + f" {cpu_ms:>5}"
    right = _cell(theirs.travel, g_vroom, not theirs.unassigned, theirs.ms)
    g_bounded = _gap(bounded.travel, not bounded.unassigned, best)
    short = _cell(bounded.travel, g_bounded, not bounded.unassigned, bounded.ms)
    ratio = "     -"
    if not ours.unassigned and not theirs.unassigned:
        RATIOS.append((ours.travel / theirs.travel, max(ours.solve_ms, 1) / max(theirs.ms, 1)))
        ratio = f"{ours.travel / theirs.travel:6.3f}"
    print(f"{name:<15}{p.n:>4} {best:>6} | {left} | {right} | {short} | {ratio}{note}", flush=True)
    return g_ours, g_vroom, g_bounded


async def loop_lag(pool: ProcessPoolExecutor, problems: list[Problem], limit: float) -> float:
    """Worst event-loop lag (ms) while solves run in the pool."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(0.01)
            worst = max(worst, (time.perf_counter() - t0 - 0.01) * 1000)

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(loop.run_in_executor(pool, solve, p, limit) for p in problems))
    done.set()
    await task
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-limit", type=float, default=1.0)
    parser.add_argument("--n200", type=int, default=8, help="generated n=200 instances")
    parser.add_argument("--reference-limit", type=float, default=10.0)
    parser.add_argument("--skip-public", action="store_true")
    args = parser.parse_args()
    print(f"at start: {_load()}")
    found = public_instances()
    missing = [name for name in BEST_KNOWN if name not in {f[0] for f in found}]
    print(
        f"public instances: {len(found)} of the {len(BEST_KNOWN)} in BEST_KNOWN found"
        + (f" (missing: {', '.join(missing)})" if missing else "")
    )
    print(
        f"{'instance':<15}{'n':>4} {'best':>6} | {'ours':>6} {'gap%':>6} {'ok':>3} {'ms':>5} "
        f"{'cpu':>5} "
        f"| {'VROOM':>6} {'gap%':>6} {'ok':>3} {'ms':>5} "
        f"| {'VR@lim':>6} {'gap%':>6} {'ok':>3} {'ms':>5} | ours/VR"
    )
    ours: list[float] = []
    theirs: list[float] = []
    short: list[float] = []
    vr = "VROOM (exploration 5, 2 threads)"
    if not args.skip_public:
        for name, path, best in found:
            a, b, c = compare(name, load_dumas(path), best, args.time_limit, args.reference_limit)
            ours.append(a)
            theirs.append(b)
            short.append(c)
        print(_summary(f"public, ours at {args.time_limit:g} s", ours))
        print(_summary(f"public, {vr}", theirs))
        print(_summary(f"public, {vr} at {args.time_limit:g} s", short))
        print(_ratios("public", RATIOS))
        print(_targets(ours))
    public_ratios = len(RATIOS)
    gen_ours: list[float] = []
    gen_theirs: list[float] = []
    gen_short: list[float] = []
    for k in range(args.n200):
        width = (20, 40)[k % 2]
        base, hidden = generate_dumas_like(seed=k // 4 + 1 + 10 * (k % 2), width=width)
        p, label = (
            (base, f"gen200w{width}") if k % 4 < 2 else (widened(base), f"gen200w{width + 100}")
        )
        a, b, c = compare(
            f"{label}.{k // 4 + 1}", p, -hidden, args.time_limit, args.reference_limit
        )
        gen_ours.append(a)
        gen_theirs.append(b)
        gen_short.append(c)
    if gen_ours:
        print(_summary(f"generated n=200, ours at {args.time_limit:g} s", gen_ours))
        print(_summary(f"generated n=200, {vr}", gen_theirs))
        print(_summary(f"generated n=200, {vr} at {args.time_limit:g} s", gen_short))
        print(_summary(f"all, ours at {args.time_limit:g} s", ours + gen_ours))
        print(_summary(f"all, {vr}", theirs + gen_theirs))
        print(_summary(f"all, {vr} at {args.time_limit:g} s", short + gen_short))
        print(_ratios("generated n=200", RATIOS[public_ratios:]))
        print(_ratios("all", RATIOS))

    plan = live_plan(100)
    for k in (10, 50):
        change = after_five(plan, k)
        quick = measure(plan, change, fast=True, repeat=200)
        full = measure(plan, change, fast=False, repeat=3)
        print(
            f"apply(NewWindow 'after 5pm', stop {k} of 100): fast path "
            f"{quick['wall_s'] * 1e6:,.0f} us wall, {quick['cpu_s'] * 1e6:,.0f} us CPU "
            f"({'/'.join(quick['methods'])}); solve {full['wall_s'] * 1e3:,.0f} ms wall, "
            f"{full['cpu_s']:.3f} s CPU"
        )
    problems = [load_dumas(path) for _, path, _ in public_instances()[-4:]]
    with ProcessPoolExecutor(max_workers=2) as pool:
        lag = asyncio.run(loop_lag(pool, problems, args.time_limit))
    print(f"event-loop lag while 4 solves ran in a 2-process pool: max {lag:.1f} ms")
    print(f"at end: {_load()}")


if __name__ == "__main__":
    main()
