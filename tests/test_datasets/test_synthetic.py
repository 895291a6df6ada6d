# Copyright (c) tpr_mm contributors. All rights reserved.
import json
import re

import numpy as np
import pytest
from PIL import Image

from tpr_mm.datasets.synthetic import (
    COLOR_WORDS,
    COLORS,
    NOUNS,
    generate_synthetic_pedes,
    load_synthetic_attributes,
    make_caption,
    read_synthetic_meta,
    render_person,
    sample_identities,
    synthetic_params_match,
    tokenize_caption,
)
from tpr_mm.datasets.synthetic import generator as gen_mod

SMALL = {
    'num_train_ids': 7,
    'num_val_ids': 3,
    'num_test_ids': 5,
    'images_per_id': 3,
    'captions_per_image': 2,
    'image_size': (67, 29),
    'seed': 3,
}
FIELDS = {'split', 'captions', 'file_path', 'processed_tokens', 'id'}


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp('syn') / 'data'
    stats = generate_synthetic_pedes(str(root), **SMALL)
    return root, stats


def _records(root):
    return json.loads((root / 'reid_raw.json').read_text())


def _slot_named(caption: str, words) -> bool:
    return any(re.search(rf'\b{re.escape(w)}\b', caption) for w in words)


def test_layout_and_schema(small):
    root, stats = small
    assert stats == {
        'train': {'ids': 7, 'images': 21, 'captions': 42},
        'val': {'ids': 3, 'images': 9, 'captions': 18},
        'test': {'ids': 5, 'images': 15, 'captions': 30},
    }
    records = _records(root)
    assert len(records) == 45
    ids_by_split = {'train': set(), 'val': set(), 'test': set()}
    prev_id = 0
    for i, rec in enumerate(records):
        assert set(rec) == FIELDS, f'record {i}'
        assert isinstance(rec['id'], int) and rec['id'] >= prev_id  # grouped by id
        prev_id = rec['id']
        ids_by_split[rec['split']].add(rec['id'])
        assert re.fullmatch(rf'{rec["split"]}/{rec["id"]}_[0-2]\.png', rec['file_path'])
        caps, toks = rec['captions'], rec['processed_tokens']
        assert len(caps) == 2 and len(set(caps)) == 2
        assert all(isinstance(c, str) and c.strip() for c in caps)
        assert len(toks) == 2 and toks == [tokenize_caption(c) for c in caps]
        assert all(t and all(isinstance(w, str) and w == w.lower() for w in t) for t in toks)
        with Image.open(root / 'imgs' / rec['file_path']) as img:
            assert img.mode == 'RGB' and img.size == (29, 67)
    # 1-based contiguous ids: train first, then val, then test.
    assert ids_by_split == {
        'train': set(range(1, 8)),
        'val': set(range(8, 11)),
        'test': set(range(11, 16)),
    }
    assert len(list((root / 'imgs').rglob('*.png'))) == 45
    meta = read_synthetic_meta(str(root))
    assert meta['params'] == {**SMALL, 'image_size': [67, 29]} and meta['stats'] == stats
    assert 'tpr_mm_version' in meta
    assert [p.name for p in root.parent.iterdir()] == ['data']  # no temp dirs left


def test_deterministic(small, tmp_path):
    root, _ = small
    again = tmp_path / 'again'
    generate_synthetic_pedes(str(again), **SMALL)
    for name in ('reid_raw.json', 'synthetic_attributes.json', 'synthetic_meta.json'):
        assert (root / name).read_bytes() == (again / name).read_bytes(), name
    for rec in _records(root):
        a = np.asarray(Image.open(root / 'imgs' / rec['file_path']))
        b = np.asarray(Image.open(again / 'imgs' / rec['file_path']))
        assert np.array_equal(a, b), rec['file_path']
    other = tmp_path / 'other'
    generate_synthetic_pedes(str(other), **{**SMALL, 'seed': 4})
    assert (root / 'reid_raw.json').read_bytes() != (other / 'reid_raw.json').read_bytes()


def test_params_match_reuse_and_regenerate(tmp_path):
    root = tmp_path / 'd'
    tiny = {
        'num_train_ids': 2,
        'num_val_ids': 0,
        'num_test_ids': 1,
        'images_per_id': 1,
        'image_size': (33, 17),
    }
    assert not synthetic_params_match(str(root), **tiny)
    generate_synthetic_pedes(str(root), **tiny)
    assert synthetic_params_match(str(root), **tiny)
    assert not synthetic_params_match(str(root), **{**tiny, 'seed': 1})
    assert not synthetic_params_match(str(root))  # defaults differ
    with pytest.raises(TypeError, match='colour'):
        synthetic_params_match(str(root), colour=1)
    marker = root / 'marker'
    marker.write_text('x')
    generate_synthetic_pedes(str(root), **tiny)  # matching: reused untouched
    assert marker.read_text() == 'x'
    # ours, different params, but holding a file it did not write: refused, untouched
    with pytest.raises(FileExistsError, match=r"'marker'"):
        generate_synthetic_pedes(str(root), **{**tiny, 'seed': 1})
    assert marker.read_text() == 'x' and synthetic_params_match(str(root), **tiny)
    marker.unlink()
    generate_synthetic_pedes(str(root), **{**tiny, 'seed': 1})  # ours, different: replaced
    assert synthetic_params_match(str(root), **{**tiny, 'seed': 1})
    (root / 'reid_raw.json').write_text('[]')  # a damaged own set: overwrite restores it
    generate_synthetic_pedes(str(root), overwrite=True, **{**tiny, 'seed': 1})
    assert len(_records(root)) == 3


@pytest.mark.parametrize(
    'bad', [{'image_size': (8, 8)}, {'num_train_ids': 0}, {'images_per_id': 1.5}, {'seed': -1}]
)
def test_invalid_params(tmp_path, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        generate_synthetic_pedes(str(tmp_path / 'x'), **bad)


def _crash_after(monkeypatch, n):
    real, calls = gen_mod._save_image, []

    def flaky(img, path):
        calls.append(path)
        if len(calls) > n:
            raise RuntimeError('simulated crash')
        real(img, path)

    monkeypatch.setattr(gen_mod, '_save_image', flaky)


def test_crash_leaves_nothing_half_written(tmp_path, monkeypatch):
    root = tmp_path / 'd'
    tiny = {
        'num_train_ids': 3,
        'num_val_ids': 1,
        'num_test_ids': 2,
        'images_per_id': 2,
        'image_size': (41, 19),
    }
    _crash_after(monkeypatch, 5)
    with pytest.raises(RuntimeError, match='simulated'):
        generate_synthetic_pedes(str(root), **tiny)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()

    generate_synthetic_pedes(str(root), **tiny)
    before = (root / 'reid_raw.json').read_bytes()
    _crash_after(monkeypatch, 3)
    with pytest.raises(RuntimeError, match='simulated'):
        generate_synthetic_pedes(str(root), **{**tiny, 'seed': 9})
    # The old complete dataset is still there, untouched, and nothing else.
    assert [p.name for p in tmp_path.iterdir()] == ['d']
    assert synthetic_params_match(str(root), **tiny)
    assert (root / 'reid_raw.json').read_bytes() == before
    assert len(list((root / 'imgs').rglob('*.png'))) == 12


def test_identities_distinct():
    ids = sample_identities(1000, np.random.default_rng(0))
    assert len({a.key() for a in ids}) == 1000
    for field in ('upper_type', 'lower_type', 'bag_type', 'hat_type', 'upper_color'):
        assert len({getattr(a, field) for a in ids}) >= 3, field


def test_caption_names_attributes():
    rng = np.random.default_rng(5)
    for attrs in sample_identities(60, rng):
        for view in ('front', 'back', 'side', None):
            text, slots = make_caption(attrs, rng, view)
            assert text and text[0].isupper() and text.endswith('.')
            assert len(slots) >= 4 and {'upper', 'lower'} <= set(slots)
            assert not re.search(r'\b(left|right)\b', text)
            expect = {
                'upper': (attrs.upper_color, attrs.upper_type),
                'lower': (attrs.lower_color, attrs.lower_type),
                'shoes': (attrs.shoes_color, 'shoes'),
                'hair': (attrs.hair_color, None),
                'bag': (attrs.bag_color, attrs.bag_type),
                'hat': (attrs.hat_color, attrs.hat_type),
            }
            for slot in slots:
                color, kind = expect[slot]
                assert _slot_named(text, COLOR_WORDS[color]), (slot, text)
                words = ('hair',) if kind is None else NOUNS[kind]
                assert _slot_named(text, words), (slot, text)


def test_dataset_captions_match_identity(small):
    root, _ = small
    attrs = load_synthetic_attributes(str(root))
    per_id = {}
    for rec in _records(root):
        a = attrs[rec['id']]
        for cap in rec['captions']:
            assert _slot_named(cap, COLOR_WORDS[a.upper_color])
            assert _slot_named(cap, COLOR_WORDS[a.lower_color])
            assert not re.search(rf'\b{rec["id"]}\b', cap)  # no id leak
        per_id.setdefault(rec['id'], []).extend(rec['captions'])
    for pid, caps in per_id.items():
        a, text = attrs[pid], ' '.join(caps)
        for color in (a.shoes_color, a.hair_color, a.bag_color, a.hat_color):
            assert color is None or _slot_named(text, COLOR_WORDS[color]), (pid, color)


def test_render_sizes_and_views():
    a = sample_identities(1, np.random.default_rng(1))[0]
    views = set()
    for k, size in enumerate([(37, 15), (128, 48), (64, 64)] * 4):
        img, view = render_person(a, np.random.default_rng(k), size)
        assert img.mode == 'RGB' and img.size == (size[1], size[0])
        views.add(view)
    assert views == {'front', 'back', 'side'}


def _hist(img, box):
    h, w, _ = img.shape
    crop = img[int(box[0] * h) : int(box[1] * h), int(box[2] * w) : int(box[3] * w)] // 64
    idx = (crop[..., 0] * 16 + crop[..., 1] * 4 + crop[..., 2]).ravel()
    return np.bincount(idx, minlength=64) / idx.size


def test_learnable_without_clip(tmp_path):
    """Body regions identify a person far above chance; the background does not."""
    root = tmp_path / 'l'
    generate_synthetic_pedes(
        str(root),
        num_train_ids=1,
        num_val_ids=0,
        num_test_ids=30,
        images_per_id=4,
        captions_per_image=1,
        image_size=(96, 36),
    )
    recs = [r for r in _records(root) if r['split'] == 'test']
    imgs = [np.asarray(Image.open(root / 'imgs' / r['file_path'])) for r in recs]
    ids = np.array([r['id'] for r in recs])
    chance = 3 / (len(recs) - 1)

    def nn_rank1(boxes):
        feats = np.stack([np.concatenate([_hist(i, b) for b in boxes]) for i in imgs])
        dist = np.abs(feats[:, None] - feats[None]).sum(-1)
        np.fill_diagonal(dist, np.inf)
        return (ids[dist.argmin(1)] == ids).mean()

    body = nn_rank1([(0.28, 0.42, 0.4, 0.6), (0.6, 0.8, 0.35, 0.65)])  # torso, legs
    background = nn_rank1([(0.0, 0.12, 0.0, 0.2)])
    assert body > 8 * chance and background < 3 * chance, (body, background, chance)
    # The caption's top colour is the dominant torso colour in most images.
    attrs, palette = load_synthetic_attributes(str(root)), np.array(list(COLORS.values()))
    hits = 0
    for img, rec in zip(imgs, recs):
        a, h, w = attrs[rec['id']], img.shape[0], img.shape[1]
        med = np.median(
            img[int(0.28 * h) : int(0.42 * h), int(0.4 * w) : int(0.6 * w)].reshape(-1, 3), 0
        )
        name = list(COLORS)[int(((palette - med) ** 2).sum(1).argmin())]
        hits += name in (a.upper_color, a.stripe_color, a.bag_color)
    assert hits / len(recs) > 0.6
