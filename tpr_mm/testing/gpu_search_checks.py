# Copyright (c) tpr_mm contributors. All rights reserved.
"""GPU checks of the search paths: faiss kNN inside the clustering, the metric on CUDA.

Each function runs in a child process of ``tools/analysis/gpu_check.py`` and
returns result rows (:func:`~tpr_mm.utils.check_runner.make_row`).
"""

import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import List

import numpy as np
import torch

from tpr_mm.utils.check_runner import make_row

# Labels of the CPU path: a child with no visible GPU, so faiss takes its CPU index.
_CPU_CLUSTER = (
    'import sys, faiss, numpy as np\n'
    'from tpr_mm.clustering import cluster_pseudo_labels\n'
    'assert faiss.get_num_gpus() == 0, "CUDA_VISIBLE_DEVICES was not honoured"\n'
    'np.save(sys.argv[2], cluster_pseudo_labels(np.load(sys.argv[1])))\n'
)


def identity_features(n: int, num_ids: int, dim: int, noise: float, seed: int) -> tuple:
    """Unit features of ``num_ids`` identity centres plus isotropic noise.

    Returns:
        tuple[np.ndarray, np.ndarray]: (n, dim) float32 features and (n,) ids
        (consecutive rows share an identity).
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_ids, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    ids = np.arange(n) * num_ids // n
    x = centres[ids] + noise / np.sqrt(dim) * rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, ids


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def faiss_clustering(n: int = 68126, small_n: int = 4000, dim: int = 512) -> List[dict]:
    """``cluster_pseudo_labels`` on n x dim features through faiss' GPU index.

    Also clusters the first ``small_n`` rows on the GPU and in a child process
    that sees no GPU (faiss CPU index) and requires identical labels.
    """
    import faiss

    from tpr_mm.clustering import cluster_pseudo_labels

    if faiss.get_num_gpus() == 0 or not hasattr(faiss, 'GpuIndexFlatIP'):
        reason = f'skipped: faiss CPU build (faiss {faiss.__version__}, get_num_gpus() == 0)'
        return [make_row('faiss gpu clustering', 'skipped', 0.0, reason)]
    rows = []
    x, _ = identity_features(n, 11003, dim, noise=0.5, seed=0)
    t0 = time.perf_counter()
    labels = cluster_pseudo_labels(x)
    took = time.perf_counter() - t0
    clusters = len(set(labels.tolist()) - {-1})
    figure = (
        f'{n} x {dim}: {clusters} clusters, {100 * float(np.mean(labels < 0)):.1f} % outliers, '
        f'{took:.1f} s, peak RSS {_peak_rss_gib():.1f} GiB'
    )
    rows.append(make_row('faiss gpu clustering', 'ok', took, figure))
    t0 = time.perf_counter()
    small = np.ascontiguousarray(x[:small_n])
    on_gpu = cluster_pseudo_labels(small)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, 'x.npy'), os.path.join(tmp, 'labels.npy')
        np.save(src, small)
        env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
        proc = subprocess.run(
            [sys.executable, '-c', _CPU_CLUSTER, src, dst], env=env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or [''])[-1][:160]
            return rows + [make_row('faiss gpu = cpu labels', 'FAIL', 0.0, f'CPU run: {tail}')]
        on_cpu = np.load(dst)
    same = np.array_equal(on_gpu, on_cpu)
    figure = f'N={small_n}: labels {"identical" if same else "DIFFER"} ' + (
        f'({int((on_gpu != on_cpu).sum())} rows differ)' if not same else ''
    )
    status = 'ok' if same else 'FAIL'
    rows.append(
        make_row('faiss gpu = cpu labels', status, time.perf_counter() - t0, figure.strip())
    )
    return rows


def metric_on_device(
    device: str = 'cuda', n: int = 19848, num_ids: int = 1000, small_n: int = 3000
) -> List[dict]:
    """``rank_metrics_from_features`` on ``device`` at ICFG-PEDES test size.

    Also computes the small-size metrics in float64 on ``device`` and on the
    CPU and requires them equal (to 1e-9 percentage points).
    """
    from tpr_mm.evaluation.functional import rank_metrics_from_features

    x, ids = identity_features(2 * n, num_ids, 512, noise=4.0, seed=1)
    q, g = torch.from_numpy(x[0::2]), torch.from_numpy(x[1::2])
    q_ids, g_ids = torch.from_numpy(ids[0::2]), torch.from_numpy(ids[1::2])
    if device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    m = rank_metrics_from_features(q.to(device), g.to(device), q_ids.to(device), g_ids.to(device))
    if device == 'cuda':
        torch.cuda.synchronize()
    took = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == 'cuda' else 0.0
    sane = all(0.0 <= v <= 100.0 for v in m.values())
    figure = f'{n}x{n}: R1 {m["R1"]:.2f} mAP {m["mAP"]:.2f}, {took:.2f} s, peak {peak:.2f} GiB'
    rows = [make_row(f'metric {device} icfg size', 'ok' if sane else 'FAIL', took, figure)]
    t0 = time.perf_counter()
    k = max(1, small_n * num_ids // n)  # identities < k: every query keeps its positives
    qm, gm = q_ids < k, g_ids < k
    args = (q[qm].double(), g[gm].double(), q_ids[qm], g_ids[gm])
    on_dev = rank_metrics_from_features(*(a.to(device) for a in args))
    on_cpu = rank_metrics_from_features(*args)
    diff = max(abs(on_dev[k] - on_cpu[k]) for k in on_cpu)
    status = 'ok' if set(on_dev) == set(on_cpu) and diff <= 1e-9 else 'FAIL'
    size = f'{int(qm.sum())}x{int(gm.sum())}'
    figure = f'{size} float64: max |{device} - cpu| = {diff:.2e} points ({", ".join(on_cpu)})'
    rows.append(make_row(f'metric {device} = cpu', status, time.perf_counter() - t0, figure))
    return rows
