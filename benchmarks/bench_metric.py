# Copyright (c) tpr_mm contributors. All rights reserved.
"""Exact chunked rank metrics vs the naive full sort: time, peak memory, agreement.

    PYTHONPATH=. python benchmarks/bench_metric.py --size icfg      # 19,848 x 19,848
    PYTHONPATH=. python benchmarks/bench_metric.py --size cuhk      # 6,156 x 3,074
    PYTHONPATH=. python benchmarks/bench_metric.py --queries 5000 --gallery 4000 --dim 256 --ids 300

Synthetic features with identity structure: identities belong to attribute
groups (hard negatives); an identity's centroid is its group's vector plus an
identity offset, and every caption/image is the centroid plus noise, so the
metrics are realistic (ICFG-like at ``--size icfg``), not 0 or 100.

Candidates, each timed in a fresh ``spawn`` subprocess (the inputs are built
first; the clock and the memory high-water mark start after that):

* ``matmul``     bare ``query_feats @ gallery_feats.T`` (the Q×G similarity);
* ``mm_chunk``   the same product in the query chunks ``ours_feat`` uses, discarded;
* ``naive``      :func:`naive_rank_metrics` on that matrix (full stable argsort);
* ``ours_sim``   :func:`rank_metrics` on that matrix;
* ``ours_feat``  :func:`rank_metrics_from_features` (chunked matmul inside).

Peak memory is the resident-set high-water mark (Linux ``VmHWM``, reset via
``/proc/self/clear_refs`` after the inputs exist) minus the resident size at
that moment, so it counts what the candidate allocates, torch included.
"""

import os

# On a shared machine, OpenMP threads spin-waiting for busy cores slow every torch op
# (measured 10-100x on tiny ops); passive waiting costs microseconds when cores are free.
# Set before torch loads; the spawned candidates inherit it. Same for every candidate.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

SIZES = {  # queries, gallery, dim, identities, query noise, gallery noise
    'tiny': (301, 203, 32, 41, 20.0, 10.0),
    'cuhk': (6156, 3074, 512, 1000, 25.0, 12.0),  # ~IRRA's CUHK-PEDES figures
    'icfg': (19848, 19848, 512, 1000, 38.0, 10.0),  # ~IRRA's ICFG-PEDES figures
    'large': (100000, 50000, 512, 5000, 38.0, 10.0),
}
KEYS = ('R1', 'R5', 'R10', 'mAP', 'mINP')


def make_features(
    num_q: int,
    num_g: int,
    dim: int,
    num_ids: int,
    query_noise: float = 30.0,
    gallery_noise: float = 12.0,
    seed: int = 0,
):
    """Unit-norm (Q, D) and (G, D) float32 features and int64 ids (torch).

    Identities fall in ``num_ids // 100`` groups (unit-variance group vectors,
    identity offsets of std 0.3); noise std per coordinate is ``noise / sqrt(512)``.
    """
    g = torch.Generator().manual_seed(seed)
    groups = torch.randn(max(1, num_ids // 100), dim, generator=g)
    centroid = groups[torch.randint(0, len(groups), (num_ids,), generator=g)]
    centroid += 0.3 * torch.randn(num_ids, dim, generator=g)
    g_ids = torch.randint(0, num_ids, (num_g,), generator=g)
    g_ids[: min(num_ids, num_g)] = torch.arange(min(num_ids, num_g))  # ids with an image
    present = torch.unique(g_ids)
    q_ids = present[torch.randint(0, len(present), (num_q,), generator=g)]

    def sample(ids, noise):
        x = centroid[ids] + noise / 512**0.5 * torch.randn(len(ids), dim, generator=g)
        return torch.nn.functional.normalize(x, dim=1)

    return sample(q_ids, query_noise), sample(g_ids, gallery_noise), q_ids, g_ids


def _rss_kb(field: str) -> int:
    with open('/proc/self/status') as f:
        return int(re.search(rf'{field}:\s+(\d+)', f.read()).group(1))


def _child(name: str, folder: str, repeat: int, chunk_size, queue) -> None:
    import gc

    from tpr_mm.evaluation.functional import (
        naive_rank_metrics,
        rank_metrics,
        rank_metrics_from_features,
    )
    from tpr_mm.evaluation.functional.ranking import _chunk_rows

    qf, gf = (torch.from_numpy(np.load(os.path.join(folder, f))) for f in ('qf.npy', 'gf.npy'))
    q_ids, g_ids = (np.load(os.path.join(folder, f)) for f in ('qid.npy', 'gid.npy'))
    sim = qf @ gf.T if name in ('naive', 'ours_sim') else None
    rows = _chunk_rows(len(gf), chunk_size)

    def chunked_matmul():
        out = torch.empty(rows, len(gf))
        for start in range(0, len(qf), rows):
            q = qf[start : start + rows]
            torch.mm(q, gf.T, out=out[: len(q)])

    run = {
        'matmul': lambda: (qf @ gf.T, None)[1],
        'mm_chunk': chunked_matmul,
        'naive': lambda: naive_rank_metrics(sim, q_ids, g_ids),
        'ours_sim': lambda: rank_metrics(sim, q_ids, g_ids, chunk_size=chunk_size),
        'ours_feat': lambda: rank_metrics_from_features(
            qf, gf, q_ids, g_ids, chunk_size=chunk_size
        ),
    }[name]
    gc.collect()
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # reset VmHWM to the current RSS
        exact = True
    except OSError:
        exact = False
    base = _rss_kb('VmRSS')
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
    queue.put(
        dict(
            time=min(times),
            peak_mb=(_rss_kb('VmHWM') - base) / 1024,
            exact_peak=exact,
            metrics=result,
        )
    )


def measure(name: str, folder: str, repeat: int, chunk_size=None) -> dict:
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, folder, repeat, chunk_size, queue))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        return dict(error=f'exit code {proc.exitcode}')
    return queue.get()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', choices=sorted(SIZES), default='icfg')
    parser.add_argument('--queries', type=int)
    parser.add_argument('--gallery', type=int)
    parser.add_argument('--dim', type=int)
    parser.add_argument('--ids', type=int)
    parser.add_argument('--skip-naive', action='store_true')
    parser.add_argument('--repeat', type=int, default=1, help='timed runs per candidate (min)')
    parser.add_argument('--chunk-size', type=int, default=None)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    num_q, num_g, dim, num_ids, q_noise, g_noise = SIZES[args.size]
    num_q, num_g = args.queries or num_q, args.gallery or num_g
    dim, num_ids = args.dim or dim, args.ids or num_ids
    dense_gb = num_q * num_g * 4 / 2**30
    skip_naive = args.skip_naive or (args.size == 'large' and args.queries is None)
    print(
        f'Q={num_q} G={num_g} D={dim} ids={num_ids} torch threads={torch.get_num_threads()} '
        f'OMP_WAIT_POLICY={os.environ["OMP_WAIT_POLICY"]} (similarity {dense_gb:.2f} GiB)'
    )
    names = ['matmul', 'mm_chunk', 'ours_feat']
    if dense_gb < 0.3 * os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:
        names += ['ours_sim'] + ([] if skip_naive else ['naive'])
    else:
        print('similarity matrix too large for this machine: matmul, ours_sim, naive skipped')
        names = ['mm_chunk', 'ours_feat']
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        qf, gf, q_ids, g_ids = make_features(
            num_q, num_g, dim, num_ids, q_noise, g_noise, args.seed
        )
        for name, arr in (('qf', qf), ('gf', gf), ('qid', q_ids), ('gid', g_ids)):
            np.save(os.path.join(folder, f'{name}.npy'), arr.numpy())
        del qf, gf
        for name in names:
            results[name] = measure(
                name, folder, 1 if name == 'naive' else args.repeat, args.chunk_size
            )
    print(f'{"candidate":<10} {"time s":>9} {"peak MB":>9} ' + ' '.join(f'{k:>8}' for k in KEYS))
    for name, res in results.items():
        if 'error' in res:
            print(f'{name:<10} failed: {res["error"]}')
            continue
        values = ' '.join(f'{res["metrics"][k]:8.3f}' for k in KEYS) if res['metrics'] else ''
        print(f'{name:<10} {res["time"]:9.3f} {res["peak_mb"]:9.1f} {values}')
    if not all(r.get('exact_peak', True) for r in results.values()):
        print('note: VmHWM could not be reset; peaks include input creation')
    ok = {n: r for n, r in results.items() if 'error' not in r}

    def ratio(a, b, key):
        return ok[a][key] / max(ok[b][key], 1e-9)

    for ours in ('ours_sim', 'ours_feat'):
        if ours in ok and 'naive' in ok:
            print(
                f'naive/{ours}: time {ratio("naive", ours, "time"):.1f}x, '
                f'peak memory {ratio("naive", ours, "peak_mb"):.1f}x'
            )
    if 'ours_feat' in ok and 'matmul' in ok:
        print(f'ours_feat/matmul: time {ratio("ours_feat", "matmul", "time"):.2f}x')
    if 'ours_feat' in ok and 'mm_chunk' in ok:
        print(f'ours_feat/mm_chunk: time {ratio("ours_feat", "mm_chunk", "time"):.2f}x')
    if 'ours_sim' in ok and 'matmul' in ok:
        print(f'ours_sim/matmul: time {ratio("ours_sim", "matmul", "time"):.2f}x')
    ref = ok.get('naive', ok.get('ours_sim'))
    for ours in ('ours_sim', 'ours_feat'):
        if ours in ok and ref is not None and ref is not ok[ours]:
            diff = {k: abs(ok[ours]['metrics'][k] - ref['metrics'][k]) for k in KEYS}
            against = 'naive' if 'naive' in ok else 'ours_sim'
            print(
                f'max |{ours} - {against}|: ' + ', '.join(f'{k} {v:.2e}' for k, v in diff.items())
            )
    return results


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
