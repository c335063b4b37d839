"""Timing shared by the speed benchmarks: counterbalanced interleaved rounds, paired ratios."""
import math
import statistics
import time
from typing import Callable, Dict, List, Sequence, Tuple


def median_ms(fn: Callable[[], None], iters: int, warmup: int = 0) -> float:
    """Median wall time of ``iters`` calls of ``fn`` (after ``warmup`` untimed ones), in ms."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def interleaved(rows: Dict[str, Callable[[], None]], rounds: int, iters: int,
                warmup: int = 0) -> Dict[str, List[float]]:
    """One median per row and round; the rows' order reverses every round (a, b, c, c, b, a,
    a, ...), so that load drifts hit every row alike and no row always runs right after the
    same other (what the allocator and the caches were left with)."""
    res: Dict[str, List[float]] = {k: [] for k in rows}
    order = list(rows)
    for r in range(rounds):
        for key in (order if r % 2 == 0 else order[::-1]):
            res[key].append(median_ms(rows[key], iters, warmup))
    return res


def paired_ratio(numerators: Sequence[float],
                 denominators: Sequence[float]) -> Tuple[float, float, float]:
    """Geometric mean of the per-round ratios with the 95 % Student t interval of the mean log
    ratio: ``(ratio, low, high)``."""
    from kd_transfer.stats import summarize
    logs = summarize([math.log(a / b) for a, b in zip(numerators, denominators)])
    return tuple(math.exp(v) for v in (logs.mean, logs.ci_low, logs.ci_high))
