# Copyright (c) tpr_mm contributors. All rights reserved.
"""Plot training curves from MMEngine's scalar logs as a PNG.

    python tools/analysis/plot_curves.py work_dirs/demo --out curves.png
    # compare runs; extra scalars get their own panel
    python tools/analysis/plot_curves.py work_dirs/a work_dirs/b --labels base cpcl \
        --out cmp.png [--metrics t2i/R1 t2i/mAP] [--extra lr pseudo/img_nmi]

Reads every ``<work_dir>/<timestamp>/vis_data/scalars.json`` (JSON lines;
training lines carry ``iter`` and loss terms per logged iteration, validation
lines the ``t2i/*`` metrics per validation epoch). Runs resumed into the same
work dir are merged in timestamp order, a later run replacing the steps it
repeats.
"""

import argparse
import glob
import json
import os.path as osp
from typing import Dict, List, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)

Series = Dict[str, Dict[int, float]]  # scalar name -> {step: value}


def load_scalars(work_dir: str) -> Dict[str, Series]:
    """Merged scalars of a work dir.

    Returns:
        dict: ``'train'`` (loss terms and other per-iteration scalars keyed by
        global iteration) and ``'val'`` (metrics keyed by epoch), each
        ``{name: {step: value}}``.

    Raises:
        FileNotFoundError: no ``scalars.json`` under ``work_dir``.
    """
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(
            f'no <timestamp>/vis_data/scalars.json under {work_dir}; '
            'is it an MMEngine work dir with a finished log interval?'
        )
    out: Dict[str, Series] = {'train': {}, 'val': {}}
    for path in files:
        with open(path) as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f'{path} line {line_no}: not JSON ({exc})') from None
                if 'step' not in rec:
                    continue
                kind = 'train' if 'iter' in rec else 'val'
                step = int(rec['step'])
                for key, value in rec.items():
                    if key in ('step', 'iter', 'epoch') or not isinstance(value, (int, float)):
                        continue
                    out[kind].setdefault(key, {})[step] = float(value)
    return out


def _xy(series: Dict[int, float]):
    steps = sorted(series)
    return steps, [series[s] for s in steps]


def plot_curves(
    runs: Sequence[Dict[str, Series]],
    labels: Sequence[str],
    metrics: Sequence[str] = ('t2i/R1', 't2i/mAP'),
    extra: Sequence[str] = (),
    log_loss: bool = False,
) -> plt.Figure:
    """Loss terms by iteration, validation metrics by epoch, extras by step."""
    panels = 3 if extra else 2
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.2), squeeze=False)
    ax_loss, ax_val = axes[0][0], axes[0][1]
    for run, label in zip(runs, labels):
        prefix = f'{label}: ' if len(runs) > 1 else ''
        for key in sorted(k for k in run['train'] if k.startswith('loss')):
            ax_loss.plot(
                *_xy(run['train'][key]), label=prefix + key, linewidth=2.0 if key == 'loss' else 1.0
            )
        for key in metrics:
            if key in run['val']:
                ax_val.plot(*_xy(run['val'][key]), marker='o', label=prefix + key)
        for key in extra:
            series = run['train'].get(key) or run['val'].get(key)
            if series:
                axes[0][2].plot(*_xy(series), label=prefix + key)
    ax_loss.set(title='training losses', xlabel='iteration', ylabel='loss')
    if log_loss:  # loss terms often differ by orders of magnitude
        ax_loss.set_yscale('symlog', linthresh=1e-3)
    ax_val.set(title='validation', xlabel='epoch', ylabel='%')
    if extra:
        axes[0][2].set(title='other scalars', xlabel='step')
    for ax in axes[0]:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, 'no data', ha='center', va='center', transform=ax.transAxes)
    fig.tight_layout()
    return fig


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dirs', nargs='+', help='MMEngine work dir(s)')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--labels', nargs='+', help='one per work dir (default: folder names)')
    parser.add_argument('--metrics', nargs='+', default=['t2i/R1', 't2i/mAP'])
    parser.add_argument('--extra', nargs='+', default=[], help='more scalars, e.g. lr')
    parser.add_argument('--log-loss', action='store_true', help='log-scale loss axis')
    args = parser.parse_args(argv)
    labels = args.labels or [osp.basename(osp.normpath(w)) for w in args.work_dirs]
    if len(labels) != len(args.work_dirs):
        parser.error(f'{len(args.work_dirs)} work dirs but {len(labels)} labels')
    runs = [load_scalars(w) for w in args.work_dirs]
    fig = plot_curves(runs, labels, args.metrics, args.extra, args.log_loss)
    fig.savefig(args.out, dpi=100)
    plt.close(fig)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
