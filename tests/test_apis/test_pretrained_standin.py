# Copyright (c) tpr_mm contributors. All rights reserved.
"""The pretrained stand-in: a corpus disjoint from every benchmark, and the cached tool run."""

import json
import os
import subprocess
import sys

import pytest
from mmengine.config import Config

from tpr_mm.apis.pretrained_standin import make_pretrained_standin
from tpr_mm.datasets.synthetic.generator import _normalize_params
from tpr_mm.datasets.synthetic.variants import identity_keys
from tpr_mm.testing.configs import shrink_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = os.path.join(ROOT, 'configs', 'clip_itc_pretrain_standin.py')


def _params(dataset):
    """Generator parameters of a SyntheticPEDES dataset config, normalised."""
    keys = ('num_train_ids', 'num_val_ids', 'num_test_ids', 'images_per_id')
    keys += ('captions_per_image', 'image_size', 'seed')
    return _normalize_params(
        **{k: dataset[k] for k in keys}, **(dataset.get('generator_options') or {})
    )


def _benchmark(name):
    return _params(Config.fromfile(os.path.join(ROOT, 'configs', name)).test_dataloader.dataset)


def test_corpus_is_disjoint_from_every_benchmark_and_unlabelled():
    cfg = Config.fromfile(CFG)
    assert cfg.train_dataloader.dataset.identity == 'drop'
    corpus = _params(cfg.train_dataloader.dataset)
    demo = _benchmark('clip_sdm_synthetic.py')
    medium = _params(
        Config.fromfile(
            os.path.join(ROOT, 'configs/evidence/clip_sdm_medium.py')
        ).test_dataloader.dataset
    )
    # the exclusion list names exactly the benchmarks' real parameters
    assert corpus['exclude_identities_of'] == [demo, medium]
    keys = identity_keys(corpus)
    assert len(keys) == 1031
    assert not keys & identity_keys(demo)
    assert not keys & identity_keys(medium)


def test_labels_must_be_dropped(tmp_path):
    cfg = Config.fromfile(CFG)
    cfg.train_dataloader.dataset.identity = 'keep'
    with pytest.raises(ValueError, match="identity must be 'drop'"):
        make_pretrained_standin(cfg, str(tmp_path))


@pytest.mark.slow
def test_tool_end_to_end_and_cached(tmp_path):
    data = str(tmp_path / 'corpus')
    cfg = shrink_config(Config.fromfile(CFG), str(tmp_path / 'unused'), data, max_epochs=1)
    assert cfg.train_dataloader.dataset.generator_options.exclude_identities_of
    cfg_path = str(tmp_path / 'standin_tiny.py')
    cfg.dump(cfg_path)
    ev = shrink_config(
        Config.fromfile(os.path.join(ROOT, 'configs', 'clip_sdm_synthetic.py')),
        str(tmp_path / 'unused'),
        str(tmp_path / 'bench'),
    )
    ev_path = str(tmp_path / 'eval_tiny.py')
    ev.dump(ev_path)
    out = str(tmp_path / 'standin')
    tool = os.path.join(ROOT, 'tools', 'dataset_converters', 'make_pretrained_standin.py')
    env = dict(os.environ, PYTHONPATH=ROOT)

    def run():
        proc = subprocess.run(
            [sys.executable, tool, cfg_path, '--out', out, '--zero-shot-config', ev_path],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    log = run()
    assert '(reused: no)' in log
    ckpt = os.path.join(out, 'standin.pth')
    stamp = os.path.getmtime(ckpt)
    meta = json.loads(open(os.path.join(out, 'standin_meta.json')).read())
    assert meta['corpus']['identity'] == 'drop' and meta['max_epochs'] == 1
    zero = json.loads(open(os.path.join(out, 'zero_shot.json')).read())
    assert 0.0 <= zero['t2i/R1'] <= 100.0
    assert '(reused: yes)' in run()
    assert os.path.getmtime(ckpt) == stamp


def test_retraining_replaces_only_its_own_training_folder(tmp_path):
    from tpr_mm.apis.pretrained_standin import RUN_MARKER, make_pretrained_standin

    data = str(tmp_path / 'corpus')
    cfg = shrink_config(Config.fromfile(CFG), str(tmp_path / 'unused'), data, max_epochs=1)
    out = str(tmp_path / 'standin')
    assert make_pretrained_standin(cfg, out)['reused'] == 'no'
    marker = os.path.join(out, 'run', RUN_MARKER)
    assert os.path.isfile(marker)
    cfg.experiment_name = 'standin_retrain'  # a second runner in this process
    assert make_pretrained_standin(cfg, out, force=True)['reused'] == 'no'  # its own folder
    os.remove(marker)  # now nothing proves the folder is ours
    run = os.path.join(out, 'run')

    def files():
        return {
            n: os.path.getmtime(os.path.join(run, n))
            for n in os.listdir(run)
            if os.path.isfile(os.path.join(run, n)) and not n.endswith('.py')
        }  # MMEngine rewrites its config copy <name>.py at every launch (resumes too)

    before = files()
    assert 'last_checkpoint' in before and any(n.startswith('best_') for n in before)
    cfg.experiment_name = 'standin_refused'
    with pytest.raises(FileExistsError, match='refusing to start a new training run'):
        make_pretrained_standin(cfg, out, force=True)
    assert files() == before  # untouched, and not marked as ours
