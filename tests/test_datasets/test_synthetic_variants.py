# Copyright (c) tpr_mm contributors. All rights reserved.
"""Generator variants: partial captions, one-attribute siblings, a disjoint corpus."""

import json

import pytest

from tpr_mm.datasets.synthetic import generate_synthetic_pedes, synthetic_params_match
from tpr_mm.datasets.synthetic.attributes import make_caption
from tpr_mm.datasets.synthetic.generator import _normalize_params
from tpr_mm.datasets.synthetic.variants import draw_identities, identity_keys

SMALL = dict(num_train_ids=6, num_val_ids=2, num_test_ids=4, images_per_id=2, seed=3)


def _records(root):
    return json.loads((root / 'reid_raw.json').read_text())


def test_defaults_leave_params_and_identities_unchanged(tmp_path):
    plain = _normalize_params(**SMALL)
    assert plain == _normalize_params(**SMALL, partial_captions=False, sibling_fraction=0.0)
    assert 'partial_captions' not in plain and 'exclude_identities_of' not in plain
    generate_synthetic_pedes(str(tmp_path / 'd'), image_size=(32, 16), **SMALL)
    # a dataset written without variants matches the same params with variants switched off
    assert synthetic_params_match(
        str(tmp_path / 'd'), image_size=(32, 16), partial_captions=False, **SMALL
    )


def test_exclude_identities_of_gives_a_disjoint_corpus():
    bench = _normalize_params(**SMALL)
    corpus = _normalize_params(
        num_train_ids=40, num_val_ids=0, num_test_ids=1, seed=3, exclude_identities_of=bench
    )
    keys = identity_keys(corpus)
    assert len(keys) == 41
    assert not keys & identity_keys(bench)
    # same seed without exclusion would have shared identities: the exclusion did something
    same_seed = _normalize_params(num_train_ids=40, num_val_ids=0, num_test_ids=1, seed=3)
    assert identity_keys(same_seed) & identity_keys(bench)


def test_siblings_differ_in_exactly_one_attribute():
    p = _normalize_params(**{**SMALL, 'num_train_ids': 10}, sibling_fraction=0.5)
    ids = draw_identities(p)
    assert len({a.key() for a in ids}) == len(ids)
    for i in range(0, 8, 2):  # 16 ids x 0.5 = 8 ids = 4 pairs
        diff = [x != y for x, y in zip(ids[i].key(), ids[i + 1].key())]
        assert sum(diff) == 1, (ids[i], ids[i + 1])
    plain = draw_identities(_normalize_params(**{**SMALL, 'num_train_ids': 10}))
    assert ids[8:] == plain[8:] and ids[0::2][:4] == plain[0::2][:4]
    with pytest.raises(ValueError, match='sibling_fraction'):
        _normalize_params(**SMALL, sibling_fraction=1.5)


def test_partial_captions_name_fewer_attributes(tmp_path):
    generate_synthetic_pedes(
        str(tmp_path / 'p'), image_size=(32, 16), partial_captions=True, **SMALL
    )
    generate_synthetic_pedes(str(tmp_path / 'f'), image_size=(32, 16), **SMALL)
    part, full = _records(tmp_path / 'p'), _records(tmp_path / 'f')
    assert [r['file_path'] for r in part] == [r['file_path'] for r in full]
    words = [len(c.split()) for r in part for c in r['captions']]
    full_words = [len(c.split()) for r in full for c in r['captions']]
    assert max(words) < min(full_words) + 10 and sum(words) < 0.7 * sum(full_words)
    meta = json.loads((tmp_path / 'p' / 'synthetic_meta.json').read_text())
    assert meta['params']['partial_captions'] is True
    # the image files are the same bytes: only the captions changed
    a = (tmp_path / 'p' / 'imgs' / part[0]['file_path']).read_bytes()
    assert a == (tmp_path / 'f' / 'imgs' / full[0]['file_path']).read_bytes()


def test_partial_caption_names_two_or_three_slots():
    import numpy as np

    from tpr_mm.datasets.synthetic.variants import make_partial_caption

    attrs = draw_identities(_normalize_params(**SMALL))[0]
    rng = np.random.default_rng(0)
    for _ in range(50):
        _text, slots = make_partial_caption(attrs, rng)
        assert 2 <= len(slots) <= 3
        _t, full_slots = make_caption(attrs, rng)
        assert set(slots) <= set(full_slots) | {'bag', 'hat', 'hair', 'shoes'}
