# Copyright (c) tpr_mm contributors. All rights reserved.
import json
import os.path as osp
from unittest import mock

import numpy as np
import pytest

from tpr_mm.datasets.base_text_reid import BaseTextReIDDataset
from tpr_mm.datasets.cuhk_pedes import CUHKPEDES
from tpr_mm.datasets.icfg_pedes import ICFGPEDES
from tpr_mm.datasets.rstp_reid import RSTPReid
from tpr_mm.registry import DATASETS

DATA = osp.join(osp.dirname(__file__), '..', 'data')
ROOTS = {
    CUHKPEDES: osp.join(DATA, 'CUHK-PEDES'),
    ICFGPEDES: osp.join(DATA, 'ICFG-PEDES'),
    RSTPReid: osp.join(DATA, 'RSTPReid'),
}
LOG = 'tpr_mm.datasets.annotation.print_log'


def raw_records(cls):
    with open(osp.join(ROOTS[cls], cls.ANN_FILE)) as f:
        return json.load(f)


def make_root(tmp_path, records, ann_name='reid_raw.json', imgs=True):
    tmp_path.mkdir(parents=True, exist_ok=True)
    if imgs:
        (tmp_path / 'imgs').mkdir()
    text = records if isinstance(records, str) else json.dumps(records, indent=1)
    (tmp_path / ann_name).write_text(text)
    return str(tmp_path)


def rec(rid, split='train', caps=('a man in black.', 'he has a bag.'), path=None):
    return {'id': rid, 'file_path': path or f'x/{rid}.png', 'captions': list(caps), 'split': split}


def items(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


def irra_reference(cls, split):
    """Naive IRRA-style parse: train pairs, or the four parallel val/test lists."""
    root, key = ROOTS[cls], cls.PATH_KEY
    known = ('train', 'test')
    chosen = [
        r for r in raw_records(cls) if (r['split'] if r['split'] in known else 'val') == split
    ]
    img_path = [osp.join(root, 'imgs', r[key]) for r in chosen]
    if split == 'train':
        offset = 1 if cls is CUHKPEDES else 0
        return [
            (r['id'] - offset, i, img_path[i], c)
            for i, r in enumerate(chosen)
            for c in r['captions']
        ]
    return {
        'image_pids': [r['id'] for r in chosen],
        'img_paths': img_path,
        'caption_pids': [r['id'] for r in chosen for _ in r['captions']],
        'captions': [c for r in chosen for c in r['captions']],
    }


SPLITS = [(CUHKPEDES, s) for s in ('train', 'val', 'test')] + [(ICFGPEDES, 'train')]
SPLITS += [(ICFGPEDES, 'test')] + [(RSTPReid, s) for s in ('train', 'val', 'test')]


@pytest.mark.parametrize('cls,split', SPLITS)
def test_views_match_irra_reference(cls, split):
    ref = irra_reference(cls, split)
    pair, image, text = (
        cls(ROOTS[cls], split=split, modality=m) for m in ('pair', 'image', 'text')
    )
    if split == 'train':
        assert [(d['pid'], d['image_id'], d['img_path'], d['caption']) for d in items(pair)] == ref
        assert pair.num_ids == len({r[0] for r in ref}) == pair.pids.max() + 1
    else:
        assert [d['pid'] for d in items(image)] == ref['image_pids']  # raw ids kept
        assert [d['img_path'] for d in items(image)] == ref['img_paths']
        assert [d['pid'] for d in items(text)] == ref['caption_pids']
        assert [d['caption'] for d in items(text)] == ref['captions']
        assert pair.num_ids == len(set(ref['image_pids']))
    n_img = len({d['image_id'] for d in items(pair)})
    assert len(image) == image.num_images == n_img
    assert len(pair) == len(text) == pair.num_captions == image.num_captions
    for ds in (pair, image, text):
        assert ds.metainfo['num_images'] == n_img and ds.metainfo['split'] == split
        np.testing.assert_array_equal(ds.pids, [d['pid'] for d in items(ds)])
        np.testing.assert_array_equal(ds.true_pids(), ds.pids)
    assert [d['caption_id'] for d in items(text)] == list(range(len(text)))
    assert [d['image_id'] for d in items(image)] == list(range(len(image)))
    assert all('img_path' not in d for d in items(text))
    assert all('caption' not in d and 'caption_id' not in d for d in items(image))


def test_fixture_view_sizes_and_keys():
    expect = {
        (CUHKPEDES, 'train'): (3, 4, 9),
        (CUHKPEDES, 'val'): (2, 3, 6),
        (CUHKPEDES, 'test'): (2, 3, 14),
        (ICFGPEDES, 'train'): (3, 4, 4),
        (ICFGPEDES, 'test'): (2, 3, 3),
        (RSTPReid, 'train'): (2, 3, 6),
        (RSTPReid, 'val'): (1, 2, 4),
        (RSTPReid, 'test'): (2, 2, 4),
    }
    for (cls, split), (n_ids, n_img, n_cap) in expect.items():
        ds = cls(ROOTS[cls], split=split, modality='pair')
        assert (ds.num_ids, ds.num_images, ds.num_captions, len(ds)) == (n_ids, n_img, n_cap, n_cap)
    info = CUHKPEDES(ROOTS[CUHKPEDES], modality='pair')[3]  # pipeline=[] returns the dict
    keys = 'img_path caption pid image_id caption_id raw_id modality sample_idx'
    assert set(info) == set(keys.split())
    assert info['sample_idx'] == 3 and info['modality'] == 'pair'


def test_cuhk_ten_caption_image_in_order():
    text = CUHKPEDES(ROOTS[CUHKPEDES], split='test', modality='text')
    ten = next(r for r in raw_records(CUHKPEDES) if r['file_path'] == 'test_query/p2703_s3526.jpg')
    assert len(ten['captions']) == 10
    first = items(text)[:10]
    assert [d['caption'] for d in first] == ten['captions']
    assert {d['image_id'] for d in first} == {0} and [d['caption_id'] for d in first] == list(
        range(10)
    )
    assert items(text)[10]['image_id'] == 1


def test_train_id_remapping(tmp_path):
    cuhk = CUHKPEDES(ROOTS[CUHKPEDES], split='train', modality='image')
    np.testing.assert_array_equal(cuhk.pids, [d['raw_id'] - 1 for d in items(cuhk)])
    root = make_root(tmp_path, [rec(17), rec(5), rec(9), rec(17), rec(40, 'test'), rec(3, 'test')])
    train = CUHKPEDES(root, split='train', modality='image')
    np.testing.assert_array_equal(train.pids, [2, 0, 1, 2])  # sorted raw order: 5, 9, 17
    assert [d['raw_id'] for d in items(train)] == [17, 5, 9, 17] and train.num_ids == 3
    test = CUHKPEDES(root, split='test', modality='text')
    np.testing.assert_array_equal(test.pids, [40, 40, 3, 3])


def test_rstp_flat_img_path():
    ds = RSTPReid(ROOTS[RSTPReid], split='train', modality='image')
    assert items(ds)[0]['img_path'] == osp.join(ROOTS[RSTPReid], 'imgs', '0000_c14_0031.jpg')
    assert RSTPReid.PATH_KEY == 'img_path' and ICFGPEDES.ANN_FILE == 'ICFG-PEDES.json'


def typo_records():
    return [
        rec(1),
        rec(2, 'Train'),
        rec(3, 'val'),
        rec(4, 'vaild'),
        rec(5, 'test'),
        rec(6, 'Train'),
    ]


def test_unknown_split_val_warns(tmp_path):
    root = make_root(tmp_path, typo_records())
    with mock.patch(LOG) as log:
        val = CUHKPEDES(root, split='val', modality='image')
    assert [d['raw_id'] for d in items(val)] == [2, 3, 4, 6]  # IRRA: all non train/test -> val
    msg = log.call_args.args[0]
    assert '3 record(s)' in msg and "'Train'" in msg and "'vaild'" in msg and 'val' in msg
    many = [rec(i, s) for i, s in enumerate(['a', 'b', 'c', 'd', 'e', 'train'])]
    with mock.patch(LOG) as log:
        CUHKPEDES(make_root(tmp_path / 'many', many))
    assert '5 record(s)' in log.call_args.args[0] and 'and 2 more' in log.call_args.args[0]


def test_unknown_split_error_and_ignore(tmp_path):
    root = make_root(tmp_path, typo_records())
    with pytest.raises(ValueError, match=r"record 1: field 'split' is 'Train'"):
        CUHKPEDES(root, split='train', unknown_split='error')
    with mock.patch(LOG) as log:
        val = CUHKPEDES(root, split='val', modality='image', unknown_split='ignore')
        train = CUHKPEDES(root, split='train', modality='image', unknown_split='ignore')
    assert [d['raw_id'] for d in items(val)] == [3] and [d['raw_id'] for d in items(train)] == [1]
    assert '3 record(s)' in log.call_args.args[0] and 'dropped' in log.call_args.args[0]


def test_icfg_has_no_val_split():
    with pytest.raises(ValueError, match=r"split 'val' has no records.*train=4, val=0, test=3"):
        ICFGPEDES(ROOTS[ICFGPEDES], split='val')


def test_identity_drop_and_scramble():
    root = ROOTS[CUHKPEDES]
    keep = CUHKPEDES(root, split='test', modality='pair')
    drop = CUHKPEDES(root, split='test', modality='pair', identity='drop')
    assert not drop.has_identity_labels and not drop.metainfo['has_identity_labels']
    assert keep.has_identity_labels
    np.testing.assert_array_equal(drop.pids, -1)
    np.testing.assert_array_equal(drop.true_pids(), keep.pids)
    for k, d in zip(items(keep), items(drop)):
        assert d['pid'] == -1 and d['raw_id'] == -1  # no identity leaks through the items
        assert {x: v for x, v in d.items() if x not in ('pid', 'raw_id')} == {
            x: v for x, v in k.items() if x not in ('pid', 'raw_id')
        }


def test_identity_scramble(tmp_path):
    rng = np.random.default_rng(3)
    root = make_root(tmp_path, [rec(int(i)) for i in rng.integers(0, 40, size=57)])
    keep = CUHKPEDES(root, modality='image')
    scr = CUHKPEDES(root, modality='pair', identity='scramble', identity_seed=7)
    scr_img = CUHKPEDES(root, modality='image', identity='scramble', identity_seed=7)
    other = CUHKPEDES(root, modality='image', identity='scramble', identity_seed=8)
    assert scr.has_identity_labels and all(d['raw_id'] == -1 for d in items(scr))
    assert sorted(scr_img.pids) == sorted(keep.pids)  # a permutation over images
    assert not np.array_equal(scr_img.pids, keep.pids)
    assert not np.array_equal(scr_img.pids, other.pids)
    np.testing.assert_array_equal(scr_img.true_pids(), keep.pids)
    # the pair view uses the same image-level permutation: captions of an image agree
    np.testing.assert_array_equal(scr.pids, np.repeat(scr_img.pids, 2))
    np.testing.assert_array_equal(scr.true_pids(), np.repeat(keep.pids, 2))


@pytest.mark.parametrize('serialize', [True, False])
def test_subsets_keep_pids_aligned(serialize):
    root = ROOTS[CUHKPEDES]
    full = CUHKPEDES(root, split='test', modality='text', serialize_data=serialize, identity='drop')
    sub = CUHKPEDES(
        root,
        split='test',
        modality='text',
        serialize_data=serialize,
        identity='drop',
        indices=[13, 0, 11],
    )
    assert [d['caption_id'] for d in items(sub)] == [13, 0, 11]
    np.testing.assert_array_equal(sub.true_pids(), full.true_pids()[[13, 0, 11]])
    head = full.get_subset(4)
    np.testing.assert_array_equal(head.true_pids(), full.true_pids()[:4])
    full.get_subset_(-3)
    assert len(full) == 3 and [d['caption_id'] for d in items(full)] == [11, 12, 13]
    np.testing.assert_array_equal(full.true_pids(), [12005, 12004, 12004])


def test_lazy_init_and_registry():
    ds = DATASETS.build(
        {
            'type': 'CUHKPEDES',
            'data_root': ROOTS[CUHKPEDES],
            'split': 'test',
            'modality': 'image',
            'lazy_init': True,
            'pipeline': [],
        }
    )
    assert isinstance(ds, CUHKPEDES) and not ds._fully_initialized
    assert len(ds) == 3 and ds.num_ids == 2
    for name, cls in (('ICFGPEDES', ICFGPEDES), ('RSTPReid', RSTPReid)):
        assert isinstance(DATASETS.build({'type': name, 'data_root': ROOTS[cls]}), cls)
    base = DATASETS.build(
        {
            'type': 'BaseTextReIDDataset',
            'data_root': ROOTS[CUHKPEDES],
            'ann_file': 'reid_raw.json',
            'split': 'val',
        }
    )
    assert base.num_images == 3 and base.metainfo['dataset_name'] == 'text-reid'
    with pytest.raises(ValueError, match='no default ANN_FILE'):
        BaseTextReIDDataset(ROOTS[CUHKPEDES])


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'reid_raw\.json.*caption_all\.json has no split'):
        CUHKPEDES(str(tmp_path))
    (tmp_path / 'ICFG_PEDES.json').write_text('[]')
    with pytest.raises(
        FileNotFoundError,
        match=r'ICFG-PEDES\.json.*READMEs say ICFG_PEDES\.json'
        r".*found \['ICFG_PEDES\.json'\]",
    ):
        ICFGPEDES(str(tmp_path))
    root = make_root(tmp_path / 'no_imgs', [rec(1)], imgs=False)
    with pytest.raises(FileNotFoundError, match=r"image folder '.*imgs' not found"):
        CUHKPEDES(root, lazy_init=True)


@pytest.mark.parametrize(
    'content,pattern',
    [
        (
            '[\n {"id": 1,\n  "split": train}\n]',
            'malformed JSON at line 3, column 12: Expecting value',
        ),
        ('{"data": []}', 'top level must be a JSON list.*got dict'),
        ([5], 'record 0: must be a JSON object, got int'),
        (
            [rec(1), {'id': 2, 'captions': ['a'], 'split': 'train'}],
            r"record 1: missing required field 'file_path'",
        ),
        ([dict(rec(1), id=True)], "record 0: field 'id' must be an int, got bool"),
        ([dict(rec(1), id='7')], "record 0: field 'id' must be an int, got str"),
        ([dict(rec(1), id=-1)], "record 0: field 'id' must be non-negative"),
        ([dict(rec(1), split=1)], "record 0: field 'split' must be a str, got int"),
        ([dict(rec(1), file_path=3)], "record 0: field 'file_path' must be a str, got int"),
        ([dict(rec(1), file_path=' ')], "record 0: field 'file_path' is empty"),
        (
            [dict(rec(1), captions='a man')],
            "record 0: field 'captions' must be a list of str, got str",
        ),
        ([dict(rec(1), captions=[])], "record 0: field 'captions' is an empty list"),
        (
            [rec(1), dict(rec(2), captions=['ok', None])],
            r"record 1: field 'captions'\[1\] must be a str, got null",
        ),
        ([dict(rec(1), captions=['ok', 'fine', ''])], r"record 0: field 'captions'\[2\] is empty"),
        (
            [dict(rec(1), captions=[' \t\n'])],
            r"record 0: field 'captions'\[0\] is empty or whitespace",
        ),
        # identities become int64: one beyond it is named, not an OverflowError
        ([rec(1), dict(rec(2), id=2**63)], r"record 1: field 'id' is 9223372036854775808, larger"),
        ('[{"id": 1' + '0' * 5000 + '}]', 'cannot decode the JSON: Exceeds the limit'),
        # image paths that would read outside the image folder
        ([dict(rec(1), file_path='/etc/passwd')], "record 0: field 'file_path' is an absolute"),
        ([rec(1), dict(rec(2), file_path='../../x.png')], "record 1: field 'file_path' has a '..'"),
        ([dict(rec(1), file_path='a/../../b.png')], r"field 'file_path' has a '\.\.' component"),
        ([dict(rec(1), file_path='a\\..\\b.png')], r"field 'file_path' has a '\.\.' component"),
        ([dict(rec(1), file_path='C:/x.png')], "field 'file_path' is an absolute path"),
        ([dict(rec(1), file_path='\\\\host\\x.png')], "field 'file_path' is an absolute path"),
    ],
)
def test_bad_annotations_are_named(tmp_path, content, pattern):
    root = make_root(tmp_path, content)
    with pytest.raises(ValueError, match=pattern) as err:
        CUHKPEDES(root)
    assert osp.join(root, 'reid_raw.json') in str(err.value)


@pytest.mark.parametrize(
    'kwargs,pattern',
    [
        ({'split': 'Val'}, 'split must be one of'),
        ({'modality': 'both'}, 'modality must be'),
        ({'identity': 'hide'}, 'identity must be'),
        ({'unknown_split': 'x'}, 'unknown_split must'),
    ],
)
def test_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        CUHKPEDES(ROOTS[CUHKPEDES], **kwargs)
    with pytest.raises(TypeError, match='does not accept'):
        CUHKPEDES(ROOTS[CUHKPEDES], data_prefix={'img_path': 'x'})
