# Copyright (c) tpr_mm contributors. All rights reserved.
"""Confidence intervals for results over several seeds.

A Rank-1 measured on a few hundred queries moves by a few points from one
seed to the next, so a comparison between two configs is only a finding when
its interval excludes zero. Runs of two configs that share a seed share the
data order and initialisation stream, so their *paired* difference has a
smaller spread than the difference of two independent means; both are
offered here.

Intervals use Student's t distribution with ``n - 1`` degrees of freedom (the
seeds are few and the standard deviation is estimated from them).
"""

import math
from dataclasses import dataclass
from typing import Dict, Mapping, Sequence

from scipy import stats as _stats


@dataclass(frozen=True)
class Interval:
    """A mean with the half width of its confidence interval.

    Attributes:
        mean (float): Sample mean.
        half_width (float): The interval is ``mean ± half_width``; NaN for a
            single value (no spread can be estimated).
        n (int): Number of values.
        std (float): Sample standard deviation (``ddof=1``); NaN when n = 1.
    """

    mean: float
    half_width: float
    n: int
    std: float

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of zero."""
        if math.isnan(self.half_width):
            return False
        return self.low > 0 or self.high < 0

    def format(self, digits: int = 2) -> str:
        if math.isnan(self.half_width):
            return f'{self.mean:.{digits}f} (n=1)'
        return f'{self.mean:.{digits}f} ± {self.half_width:.{digits}f}'


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean of ``values`` with its two-sided t confidence interval.

    Args:
        values (Sequence[float]): One value per seed; at least one.
        confidence (float): Coverage of the interval, in (0, 1).

    Returns:
        Interval: mean ± t_{(1+c)/2, n-1} · s / sqrt(n).

    Raises:
        ValueError: no values, a non-finite value, or a confidence outside (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f'confidence must be in (0, 1), got {confidence}')
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError('mean_interval needs at least one value')
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f'non-finite value among {vals}')
    n = len(vals)
    mean = math.fsum(vals) / n
    if n == 1:
        return Interval(mean, float('nan'), 1, float('nan'))
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1))
    t = float(_stats.t.ppf(0.5 + confidence / 2.0, df=n - 1))
    return Interval(mean, t * std / math.sqrt(n), n, std)


def paired_difference(
    values: Mapping[int, float], baseline: Mapping[int, float], confidence: float = 0.95
) -> Interval:
    """Mean of per-seed differences ``values[s] - baseline[s]`` with its interval.

    Only seeds present in both mappings are paired.

    Args:
        values (Mapping[int, float]): Seed → metric of the config.
        baseline (Mapping[int, float]): Seed → metric of the baseline.
        confidence (float): Coverage of the interval.

    Returns:
        Interval: over the paired differences.

    Raises:
        ValueError: no seed is shared.
    """
    seeds = sorted(set(values) & set(baseline))
    if not seeds:
        raise ValueError(
            f'no seed in common: config has {sorted(values)}, baseline has {sorted(baseline)}'
        )
    return mean_interval([values[s] - baseline[s] for s in seeds], confidence)


def summarize_runs(
    runs: Mapping[str, Mapping[int, Dict[str, float]]],
    metrics: Sequence[str],
    baseline: str = None,
    confidence: float = 0.95,
) -> Dict[str, dict]:
    """Per config: interval of each metric, and paired differences to a baseline.

    Args:
        runs (Mapping): ``{config: {seed: {metric: value}}}``.
        metrics (Sequence[str]): Metric names to summarise.
        baseline (str, optional): Config the others are paired against.
        confidence (float): Coverage of every interval.

    Returns:
        dict: ``{config: {'seeds': [...], 'metrics': {m: Interval},
        'vs_baseline': {m: Interval}}}`` (``vs_baseline`` empty for the
        baseline itself or when no baseline is given).
    """
    if baseline is not None and baseline not in runs:
        raise ValueError(f'baseline {baseline!r} has no finished run (have {sorted(runs)})')
    out: Dict[str, dict] = {}
    for name, by_seed in runs.items():
        entry = {'seeds': sorted(by_seed), 'metrics': {}, 'vs_baseline': {}}
        for m in metrics:
            entry['metrics'][m] = mean_interval([r[m] for r in by_seed.values()], confidence)
            if baseline is not None and name != baseline:
                ours = {s: r[m] for s, r in by_seed.items()}
                base = {s: r[m] for s, r in runs[baseline].items()}
                entry['vs_baseline'][m] = paired_difference(ours, base, confidence)
        out[name] = entry
    return out
