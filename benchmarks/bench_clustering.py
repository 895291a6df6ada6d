# Copyright (c) tpr_mm contributors. All rights reserved.
"""Benchmark of the CPCL pseudo-label clustering at CUHK-PEDES scale.

Synthetic but structured features: identities share one of a few hundred
"looks" (so kNN lists mix similar identities), every CUHK-like identity has a
few images with two captions each, and a small fraction of pairs are pure
outliers. In the image modality both captions of an image carry the *same*
image feature (exact duplicates, as in per-pair clustering); in the text
modality every pair has its own feature.

Usage::

    PYTHONPATH=. python benchmarks/bench_clustering.py --n 68126 --threads 2
    PYTHONPATH=. python benchmarks/bench_clustering.py --no-reference   # ours only
    PYTHONPATH=. python benchmarks/bench_clustering.py --n 3000 --check-dense
    PYTHONPATH=. python benchmarks/bench_clustering.py --dist overlap   # or neardup, dominant

``--dist`` picks the feature distribution: ``looks`` (the structured
CLIP-like features above, default) or one of the adversarial distributions of
``tests/test_clustering/distributions.py`` (``overlap``: identity
centres plus isotropic noise of the same norm; ``neardup``: near-duplicate
features and one large near-identical group; ``dominant``: one shared direction
carrying most of the norm).

Runs ``cluster_pseudo_labels`` ("ours"), OPLM on its labels, and the
implementation before the speed work (``previous``,
``tests/test_clustering/previous_steps.py``) in one process, and prints for
each wall time, CPU time (user + system, all threads), its own peak RSS (the
kernel's VmHWM, reset before each call) and the load average, then the
previous/ours ratios and whether the labels are identical (and, with
``--check-dense``, the ARI against the dense oracle of the tests).
"""

import argparse
import os
import resource
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'test_clustering'))

from distributions import DISTRIBUTIONS, make_distribution  # noqa: E402


def make_features(n: int, dim: int = 512, modality: str = 'image', seed: int = 0) -> np.ndarray:
    """Deterministic CLIP-like features of ``n`` image-text pairs.

    Each feature is ``a * shared + b * identity + c * noise`` of unit
    directions (CLIP embeddings share a strong common direction); identity
    directions mix a group "look" with a personal part.
    """
    rng = np.random.default_rng(seed)
    n_ids = max(1, round(n * 11003 / 68126))
    n_groups = max(1, n_ids // 20)

    def unit(*shape):
        v = rng.standard_normal(shape, dtype=np.float32)
        v /= np.linalg.norm(v, axis=-1, keepdims=True)
        return v

    shared = unit(dim)
    looks = unit(n_groups, dim)
    ident = np.sqrt(0.35) * looks[rng.integers(0, n_groups, n_ids)] + np.sqrt(0.65) * unit(
        n_ids, dim
    )
    ident /= np.linalg.norm(ident, axis=1, keepdims=True)
    # ~3.1 images per identity, two captions per image -> ~6.2 pairs per identity.
    imgs_per_id = 1 + rng.poisson(2.1, n_ids)
    img_owner = np.repeat(np.arange(n_ids), imgs_per_id)
    pair_img = np.repeat(np.arange(len(img_owner)), 2)
    if len(pair_img) < n:
        pair_img = np.concatenate([pair_img, rng.integers(0, len(img_owner), n - len(pair_img))])
    pair_img = np.sort(pair_img[:n])
    pair_id = img_owner[pair_img]

    a, b, c = (0.55, 0.7, 0.45) if modality == 'image' else (0.6, 0.6, 0.55)
    noise = unit(len(img_owner), dim)[pair_img] if modality == 'image' else unit(n, dim)
    feats = ident[pair_id]
    feats *= b
    feats += a * shared
    feats += c * noise
    del noise
    outliers = rng.random(n) < 0.03
    feats[outliers] = a * shared + np.sqrt(1 - a * a) * unit(int(outliers.sum()), dim)
    perm = rng.permutation(n)  # no index order hints
    return np.ascontiguousarray(feats[perm], dtype=np.float32)


def _status_gib(field: str) -> float:
    with open('/proc/self/status') as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith(field + ':'))
    return kb / 2**20


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so each call gets its own peak."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime  # every thread, user + system


def measure(name: str, fn, *args, **kwargs):
    """Run ``fn`` once; print and return wall, CPU, peak RSS and load."""
    own_peak = _reset_peak()
    rss0, load0 = _status_gib('VmRSS'), os.getloadavg()[0]
    t0, c0 = time.perf_counter(), _cpu_s()
    out = fn(*args, **kwargs)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    peak = (
        _status_gib('VmHWM')
        if own_peak
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    )
    load1 = os.getloadavg()[0]
    print(
        f'{name:10s}: wall {wall:6.1f} s | CPU {cpu:6.1f} s (user+sys) | peak RSS {peak:.2f} GiB '
        f'({rss0:.2f} before{"" if own_peak else ", process-wide"}) | 1-min load {load0:.1f} -> '
        f'{load1:.1f} on {os.cpu_count()} cores',
        flush=True,
    )
    return out, dict(wall=wall, cpu=cpu, peak=peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n', type=int, default=68126)
    parser.add_argument('--dim', type=int, default=512)
    parser.add_argument('--modality', choices=['image', 'text'], default='image')
    parser.add_argument('--dist', choices=('looks',) + DISTRIBUTIONS, default='looks')
    parser.add_argument('--threads', type=int, default=2, help='faiss / torch threads')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--no-reference', action='store_true', help='skip the previous version')
    parser.add_argument('--check-dense', action='store_true', help='ARI vs dense oracle')
    args = parser.parse_args()

    import faiss
    import torch

    from tpr_mm.clustering import cluster_pseudo_labels
    from tpr_mm.clustering.oplm import outlier_pseudo_label_mining

    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)

    if args.dist == 'looks':
        feats = make_features(args.n, args.dim, args.modality, args.seed)
    else:
        feats = make_distribution(args.dist, args.n, args.dim, args.seed)
    print(
        f'N={args.n} D={args.dim} dist={args.dist} modality={args.modality} '
        f'threads={args.threads} faiss_gpus={faiss.get_num_gpus()}',
        flush=True,
    )
    cfg = dict(k1=30, k2=6, eps=0.6, min_samples=4)  # configs/_base_/cpcl_runtime.py
    labels, ours = measure('ours', cluster_pseudo_labels, feats, **cfg)
    print(f'clusters       : {int(labels.max()) + 1}')
    print(f'outlier ratio  : {(labels < 0).mean():.4f}')
    # OPLM (rule 'paired') with a shuffled copy of the labels as the partner
    # modality: every outlier has a clustered partner, the worst case.
    partner = labels[np.random.default_rng(args.seed).permutation(args.n)]
    measure('oplm', outlier_pseudo_label_mining, labels, partner, feats, feats)
    if not args.no_reference:
        from previous_steps import previous_cluster_pseudo_labels

        ref, prev = measure('previous', previous_cluster_pseudo_labels, feats, **cfg)
        print(
            f'ratio previous/ours: wall {prev["wall"] / ours["wall"]:.2f}x, '
            f'CPU {prev["cpu"] / ours["cpu"]:.2f}x, peak RSS {prev["peak"] / ours["peak"]:.2f}x; '
            f'identical labels={bool(np.array_equal(labels, ref))}'
        )
    if args.check_dense:
        from dense_reference import adjusted_rand_index, dense_cluster_pseudo_labels

        t0 = time.perf_counter()
        ref = dense_cluster_pseudo_labels(feats, **cfg)
        print(
            f'dense oracle   : {time.perf_counter() - t0:.1f} s, '
            f'ARI={adjusted_rand_index(labels, ref):.6f}, '
            f'identical labels={bool((labels == ref).all())}'
        )


if __name__ == '__main__':
    main()
