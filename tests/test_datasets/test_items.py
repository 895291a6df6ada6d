# Copyright (c) tpr_mm contributors. All rights reserved.
from types import SimpleNamespace

import numpy as np
import pytest

from tpr_mm.datasets.items import expand_items, shown_identities

RECORDS = [
    SimpleNamespace(raw_id=7, path='a.jpg', captions=['one', 'two']),
    SimpleNamespace(raw_id=9, path='b.jpg', captions=['three']),
]


def test_shown_identities_modes():
    true = np.array([0, 0, 1, 2, 2], dtype=np.int64)
    assert shown_identities(true, 'keep', 0) is true
    assert (shown_identities(true, 'drop', 0) == -1).all()
    scrambled = shown_identities(true, 'scramble', 3)
    assert sorted(scrambled.tolist()) == sorted(true.tolist())
    np.testing.assert_array_equal(scrambled, shown_identities(true, 'scramble', 3))
    with pytest.raises(ValueError, match='identity must be one of'):
        shown_identities(true, 'shuffle', 0)


@pytest.mark.parametrize('modality,count', [('pair', 3), ('text', 3), ('image', 2)])
def test_expand_items_one_item_per_view(modality, count):
    items, item_image = expand_items(RECORDS, np.array([4, 5]), modality, 'imgs', True)
    assert len(items) == count and item_image.dtype == np.int64
    # Each item carries its own image's label and raw id, whatever the view.
    for item, img in zip(items, item_image.tolist()):
        assert item['image_id'] == img and item['pid'] == [4, 5][img]
        assert item['raw_id'] == RECORDS[img].raw_id and item['modality'] == modality
        assert ('img_path' in item) == (modality != 'text')
    if modality != 'image':
        assert [i['caption'] for i in items] == ['one', 'two', 'three']
        assert [i['caption_id'] for i in items] == [0, 1, 2]
    else:
        assert items[1]['img_path'].endswith('b.jpg')


def test_expand_items_hides_raw_ids_when_asked():
    items, _ = expand_items(RECORDS, np.array([-1, -1]), 'pair', 'imgs', keep_raw_ids=False)
    assert all(i['raw_id'] == -1 and i['pid'] == -1 for i in items)
