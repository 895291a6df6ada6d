# Copyright (c) tpr_mm contributors. All rights reserved.
"""Bad inputs stop a real run with a message naming them, before anything is written."""

import copy
import glob
import json
import os
import re
import shutil
from types import SimpleNamespace

import pytest

from tpr_mm.datasets import CUHKPEDES
from tpr_mm.datasets.transforms import TokenizeCaption, tokenize_caption
from tpr_mm.engine.hooks import DataIssueReportHook
from tpr_mm.engine.hooks.data_issue_hook import SharedCount, count_truncated_captions
from tpr_mm.registry import RUNNERS


def _copy_data(tiny_data, tmp_path):
    root = str(tmp_path / 'data')
    shutil.copytree(tiny_data, root)
    return root


def _train_cfg(tiny_cfg, work, root, max_epochs=1):
    """The tiny baseline reading ``root`` as plain CUHK-PEDES, without validation."""
    cfg = tiny_cfg(work, max_epochs=max_epochs)
    ds = cfg.train_dataloader.dataset
    cfg.train_dataloader.dataset = dict(
        type='CUHKPEDES', data_root=root, split='train', modality='pair', pipeline=ds.pipeline
    )
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.save_best = None
    return cfg


def _records(root):
    with open(os.path.join(root, 'reid_raw.json')) as f:
        return json.load(f)


def _write(root, content):
    with open(os.path.join(root, 'reid_raw.json'), 'w') as f:
        f.write(content if isinstance(content, str) else json.dumps(content, indent=1))


def _no_checkpoint(work):
    return not glob.glob(os.path.join(str(work), '*.pth'))


def _break_missing_file(root):
    os.remove(os.path.join(root, 'reid_raw.json'))
    return FileNotFoundError, r"annotation file '.*reid_raw\.json' not found"


def _break_json(root):
    _write(root, json.dumps(_records(root), indent=1)[:-40])
    return ValueError, r'reid_raw\.json: malformed JSON at line \d+, column \d+'


def _break_field(root):
    recs = _records(root)
    del recs[4]['captions']
    _write(root, recs)
    return ValueError, r"reid_raw\.json: record 4: missing required field 'captions'"


def _break_type(root):
    recs = _records(root)
    recs[2]['id'] = '7'
    _write(root, recs)
    return ValueError, r"record 2: field 'id' must be an int, got str"


def _break_caption(root):
    recs = _records(root)
    recs[3]['captions'][1] = '  \t '
    _write(root, recs)
    return ValueError, r"record 3: field 'captions'\[1\] is empty or whitespace-only"


def _break_split(root):
    recs = _records(root)
    recs[5]['split'] = 'Train'
    _write(root, recs)
    return ValueError, r"record 5: field 'split' is 'Train'.*unknown_split='error'"


def _break_encoding(root):
    recs = _records(root)
    recs[1]['captions'][0] = 'a caf\u00e9 jacket'
    data = json.dumps(recs, ensure_ascii=False).encode('latin-1')
    with open(os.path.join(root, 'reid_raw.json'), 'wb') as f:
        f.write(data)
    pos = data.index(b'\xe9')
    return ValueError, rf'reid_raw\.json: not UTF-8 text: byte {pos} \(line 1\)'


def _break_id_range(root):
    recs = _records(root)
    recs[6]['id'] = 2**64
    _write(root, recs)
    return ValueError, r"record 6: field 'id' is 18446744073709551616, larger than the int64"


def _break_path_escape(root):
    recs = _records(root)
    recs[7]['file_path'] = '../../../etc/hostname'
    _write(root, recs)
    return ValueError, r"record 7: field 'file_path' has a '\.\.' component"


def _break_absolute_path(root):
    recs = _records(root)
    recs[2]['file_path'] = os.path.abspath(os.path.join(root, 'imgs', recs[2]['file_path']))
    _write(root, recs)
    return ValueError, r"record 2: field 'file_path' is an absolute path"


def _break_image(root):
    recs = _records(root)
    path = os.path.join(root, 'imgs', recs[0]['file_path'])
    with open(path, 'wb') as f:
        f.write(b'not an image')
    return OSError, 'cannot read image file .*' + re.escape(recs[0]['file_path'])


def _delete_image(root):
    path = os.path.join(root, 'imgs', _records(root)[1]['file_path'])
    os.remove(path)
    # found when the dataset is built, not at the first batch that reads it
    return FileNotFoundError, (
        r"reid_raw\.json: record 1: field 'file_path' names a missing image: .*"
        + re.escape(os.path.basename(path))
        + r" \(1 of 24 'train' images missing\)"
    )


@pytest.mark.parametrize(
    'breaker',
    [
        _break_missing_file,
        _break_json,
        _break_field,
        _break_type,
        _break_caption,
        _break_split,
        _break_encoding,
        _break_id_range,
        _break_path_escape,
        _break_absolute_path,
        _break_image,
        _delete_image,
    ],
)
def test_training_stops_naming_the_bad_input(breaker, tiny_cfg, tiny_data, tmp_path):
    root = _copy_data(tiny_data, tmp_path)
    exc, pattern = breaker(root)
    cfg = _train_cfg(tiny_cfg, tmp_path / 'work', root)
    cfg.train_dataloader.dataset['unknown_split'] = 'error'
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=False)
    with pytest.raises(exc, match=pattern):
        RUNNERS.build(cfg).train()
    assert _no_checkpoint(tmp_path / 'work')


def test_skip_policy_logs_each_file_and_the_totals(tiny_cfg, tiny_data, tmp_path):
    root = _copy_data(tiny_data, tmp_path)
    recs = [r for r in _records(root) if r['split'] == 'train']
    bad = [recs[0]['file_path'], recs[5]['file_path']]
    with open(os.path.join(root, 'imgs', bad[0]), 'wb') as f:
        f.write(b'\x89PNG broken')
    os.remove(os.path.join(root, 'imgs', bad[1]))
    work = tmp_path / 'work'
    cfg = _train_cfg(tiny_cfg, work, root, max_epochs=2)
    cfg.train_dataloader.dataset['max_refetch'] = 50
    cfg.train_dataloader.dataset['pipeline'][0] = dict(type='LoadPersonImage', on_error='skip')
    cfg.train_dataloader.num_workers = 2  # counts must survive worker processes
    RUNNERS.build(cfg).train()
    with open(glob.glob(str(work / '2*' / '2*.log'))[0]) as f:
        log = f.read()
    skips = re.findall(
        r'skipped unreadable image \(\d+ so far\): (?:image file not found: '
        r'(\S+)|cannot read image file (\S+?):)',
        log,
    )
    skips = [a or b for a, b in skips]
    assert {os.path.relpath(p, os.path.join(root, 'imgs')) for p in skips} == set(bad)
    assert len(skips) >= 2 * 2 * 2  # 2 images x 2 captions x 2 epochs, plus unlucky redraws
    per_epoch = [int(n) for n in re.findall(r'epoch \d: (\d+) unreadable image\(s\) skipped', log)]
    total = re.findall(r'(\d+) unreadable image\(s\) skipped during training in total', log)
    assert len(per_epoch) == 2 and sum(per_epoch) == len(skips)
    assert total == [str(len(skips))]


def test_skip_policy_needs_refetch_and_is_refused_for_evaluation(tiny_cfg, tmp_path):
    cfg = tiny_cfg(tmp_path / 'work', max_epochs=1)
    cfg.train_dataloader.dataset.pipeline[0] = dict(type='LoadPersonImage', on_error='skip')
    with pytest.raises(ValueError, match=r'SyntheticPEDES \(train\).*set max_refetch >= 1'):
        RUNNERS.build(cfg).train()
    cfg = tiny_cfg(tmp_path / 'work2', max_epochs=1)
    cfg.test_dataloader.dataset.pipeline[0] = dict(type='LoadPersonImage', on_error='skip')
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = cfg.param_scheduler = None
    with pytest.raises(ValueError, match=r'\(test\).*is for training only'):
        RUNNERS.build(cfg).test()


def test_truncation_is_counted_exactly_and_reported_once_per_dataset(tiny_data, monkeypatch):
    pipeline = [TokenizeCaption(context_length=30)]
    train = CUHKPEDES(tiny_data, split='train', modality='pair', pipeline=pipeline)
    val = CUHKPEDES(tiny_data, split='val', modality='text', pipeline=pipeline)
    captions = [r['captions'] for r in _records(tiny_data) if r['split'] == 'train']
    naive = sum(tokenize_caption(c, 30)[1] for caps in captions for c in caps)
    assert 0 < naive < sum(map(len, captions))  # some, not all, are long at 30 tokens
    truncated, total, examples = count_truncated_captions(train, 30)
    assert (truncated, total) == (naive, sum(map(len, captions))) and examples

    logged = []
    monkeypatch.setattr(
        'tpr_mm.engine.hooks.data_issue_hook.print_log', lambda msg, **kwargs: logged.append(msg)
    )
    hook = DataIssueReportHook()
    runner = SimpleNamespace(
        train_dataloader=SimpleNamespace(dataset=train),
        val_loop=SimpleNamespace(dataloader=SimpleNamespace(dataset=val)),
    )
    for _ in range(3):  # three epochs: train scanned once, val once
        hook.before_train(runner)
        hook.before_val(runner)
    assert len(logged) == 2
    assert logged[0].startswith(
        f'CUHKPEDES (train): {naive} of {total} captions are longer than 30 tokens'
    )
    assert logged[1].startswith('CUHKPEDES (val): ')


def test_shared_count_behaves_like_the_int_it_replaces():
    count = SharedCount(2)
    before = count
    count += 1
    assert count is before and int(count) == 3 and count == 3 and f'{count} so far' == '3 so far'
    assert copy.deepcopy(count) is count  # a copied pipeline keeps counting in one place


def _test_tool(monkeypatch, args):
    import runpy
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    monkeypatch.setattr(sys, 'argv', ['test.py'] + [str(a) for a in args])
    runpy.run_path(os.path.join(root, 'tools', 'test.py'), run_name='__main__')


@pytest.mark.parametrize('case', ['directory', 'under_a_file', 'no_metric'])
def test_test_tool_checks_out_before_testing(case, tiny_cfg, tmp_path, monkeypatch):
    """A bad --out fails in seconds, before a (long) test whose metrics it would lose."""
    cfg = tiny_cfg(tmp_path / 'work')
    (tmp_path / 'a_file').write_text('x')
    out = {
        'directory': tmp_path,
        'under_a_file': tmp_path / 'a_file' / 'rankings.json',
        'no_metric': tmp_path / 'rankings.json',
    }[case]
    if case == 'no_metric':
        cfg.test_evaluator = dict(type='DumpResults', out_file_path=str(tmp_path / 'x.pkl'))
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    missing_checkpoint = tmp_path / 'never_read.pth'
    with pytest.raises(SystemExit) as exc:
        _test_tool(monkeypatch, [cfg_path, missing_checkpoint, '--out', out])
    expected = {
        'directory': f'--out {out}: is a directory',
        'under_a_file': f'--out {out}: cannot create its folder',
        'no_metric': '--out needs a TextImageRetrievalMetric test evaluator; '
        "the config has ['DumpResults']",
    }[case]
    assert str(exc.value).startswith(expected)
