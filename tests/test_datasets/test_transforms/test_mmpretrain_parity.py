# Copyright (c) tpr_mm contributors. All rights reserved.
"""Which image transforms are MMCV's / MMPretrain's and why the others are ours.

Each case runs ours and the toolbox's on the same input with the same random
draws, against the field's torchvision pipeline (anosorae/IRRA:datasets/build.py).
"""

import glob

import mmcv.transforms
import numpy as np
import pytest
import torch
import torchvision.transforms as T
from mmengine.config import Config
from PIL import Image

from tpr_mm.datasets.transforms import CLIP_MEAN, CLIP_STD
from tpr_mm.datasets.transforms import processing as ours_module
from tpr_mm.registry import TRANSFORMS

CAPTION_ONLY = dict(caption='a woman in a red coat', pid=1, sample_idx=0)


def _image(shape=(37, 19, 3), seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize('interpolation', ['bilinear', 'bicubic'])
@pytest.mark.parametrize('shape', [(50, 20, 3), (24, 11, 3), (10, 5, 3)])
def test_mmcv_resize_with_pillow_equals_torchvision_resize(interpolation, shape):
    img = _image(shape)
    resize = TRANSFORMS.build(
        dict(type='Resize', scale=(11, 24), backend='pillow', interpolation=interpolation)
    )
    mode = getattr(T.InterpolationMode, interpolation.upper())
    expect = np.asarray(T.Resize((24, 11), interpolation=mode)(Image.fromarray(img)))
    out = resize(dict(img=img.copy()))
    assert np.array_equal(out['img'], expect) and out['img_shape'] == (24, 11)
    assert 'img' not in resize(dict(CAPTION_ONLY))  # caption-only items pass
    assert type(resize) is mmcv.transforms.Resize  # found through tpr_mm -> mmpretrain -> mmengine


def test_every_config_resizes_with_mmcv_pillow_backend():
    # cv2's bilinear differs from PIL's by up to tens of grey levels: the field resizes with PIL.
    files = [
        p for p in glob.glob('configs/**/*.py', recursive=True) if "'Resize'" in open(p).read()
    ]
    seen = 0
    for path in files:
        for value in Config.fromfile(path).to_dict().values():
            for t in value if isinstance(value, list) else []:
                if isinstance(t, dict) and t.get('type') == 'Resize':
                    assert t.get('backend') == 'pillow', path
                    seen += 1
    assert seen >= 10  # the train and test pipelines of every pipeline base


def test_flip_equals_mmcv_random_flip_but_mmcv_needs_an_image():
    img = _image()
    ours = TRANSFORMS.build(dict(type='RandomHorizontalFlip', prob=1.0))
    mmcv_flip = TRANSFORMS.build(dict(type='RandomFlip', prob=1.0, direction='horizontal'))
    assert np.array_equal(ours(dict(img=img.copy()))['img'], mmcv_flip(dict(img=img.copy()))['img'])
    assert ours(dict(CAPTION_ONLY)) == CAPTION_ONLY
    with pytest.raises(KeyError, match='img'):
        mmcv_flip(dict(CAPTION_ONLY))


def test_pad_crop_equals_mmpretrain_random_crop_on_the_same_offsets(monkeypatch):
    from mmpretrain.datasets.transforms import RandomCrop

    img, pad = _image((12, 7, 3)), 3
    theirs = RandomCrop(crop_size=img.shape[:2], padding=pad)
    ours = TRANSFORMS.build(dict(type='PadRandomCrop', padding=pad))
    ranges = {}

    def replay(name, inclusive, draws):
        def draw(a, b):
            ranges.setdefault(name, set()).add((a, b + 1 if inclusive else b))
            return next(draws)

        return draw

    for top in range(2 * pad + 1):
        for left in range(2 * pad + 1):
            # random.randint has an inclusive upper bound, np.random.randint an exclusive one
            monkeypatch.setattr(
                ours_module.random, 'randint', replay('ours', True, iter([top, left]))
            )
            monkeypatch.setattr(np.random, 'randint', replay('theirs', False, iter([top, left])))
            a = ours(dict(img=img.copy()))['img']
            b = theirs(dict(img=img.copy()))['img']
            assert np.array_equal(a, b), (top, left)
    assert ranges['ours'] == ranges['theirs'] == {(0, 2 * pad + 1)}
    monkeypatch.undo()
    assert ours(dict(CAPTION_ONLY)) == CAPTION_ONLY
    with pytest.raises(KeyError, match='img'):
        theirs(dict(CAPTION_ONLY))


class _TorchDraws:
    """Python-``random``-like draws taken from torch's generator in torchvision's order."""

    def random(self):
        return torch.rand(1).item()

    def uniform(self, a, b):
        return torch.empty(1).uniform_(a, b).item()

    def randint(self, a, b):
        return int(torch.randint(a, b + 1, size=(1,)).item())


def _torchvision_erased(img: np.ndarray, seed: int) -> np.ndarray:
    """Mask that IRRA's T.RandomErasing(scale=(0.02, 0.4), value=mean) erases, after Normalize."""
    norm = T.Normalize(CLIP_MEAN, CLIP_STD)(T.ToTensor()(Image.fromarray(img)))
    torch.manual_seed(seed)
    out = T.RandomErasing(p=1.0, scale=(0.02, 0.4), value=list(CLIP_MEAN))(norm.clone())
    return (out != norm).any(0).numpy()


def test_erasing_follows_torchvision_and_mmpretrain_does_not(monkeypatch):
    from mmpretrain.datasets.transforms import RandomErasing

    img = np.zeros((24, 8, 3), np.uint8)  # no pixel equals the fill or the mean
    ours = TRANSFORMS.build(dict(type='RandomErasingImage', prob=1.0))
    monkeypatch.setattr(ours_module, 'random', _TorchDraws())
    theirs = RandomErasing(erase_prob=1.0, aspect_range=(0.3, 3.3), fill_color=ours.fill.tolist())
    differ = 0
    for seed in range(40):
        expect = _torchvision_erased(img, seed)
        torch.manual_seed(seed)  # our p-draw replays torchvision's forward's torch.rand(1)
        got = (ours(dict(img=img.copy()))['img'] != 0).any(-1)
        assert np.array_equal(got, expect), seed
        np.random.seed(seed)
        differ += not np.array_equal((theirs(dict(img=img.copy()))['img'] != 0).any(-1), expect)
    assert differ > 0
    # MMPretrain's never reaches the bottom row with a rectangle shorter than the image.
    monkeypatch.setattr(np.random, 'randint', lambda a, b: b - 1)
    monkeypatch.setattr(np.random, 'uniform', lambda a, b: (a + b) / 2)
    erased = (theirs(dict(img=img.copy()))['img'] != 0).any(-1)
    assert erased.any() and not erased[-1].any()
    with pytest.raises(KeyError, match='img'):
        theirs(dict(CAPTION_ONLY))


def test_loading_and_packing_stay_ours(tmp_path):
    from mmpretrain.datasets.transforms import LoadImageFromFile, PackInputs

    img = _image()
    path = tmp_path / 'a.png'
    Image.fromarray(img).save(path)
    ours = TRANSFORMS.build(dict(type='LoadPersonImage'))(dict(img_path=str(path)))
    mmcv_loaded = LoadImageFromFile()(dict(img_path=str(path)))
    assert np.array_equal(ours['img'], img)
    assert np.array_equal(mmcv_loaded['img'], img[..., ::-1])  # BGR: our pipeline is RGB
    with pytest.raises(KeyError):
        LoadImageFromFile()(dict(CAPTION_ONLY))  # caption-only items have no img_path
    item = dict(img=img, text=np.arange(5), pid=2, sample_idx=0)
    packed = TRANSFORMS.build(dict(type='PackTextReIDInputs'))(dict(item))
    assert set(packed['inputs']) == {'img', 'text'}
    theirs = PackInputs()(dict(item))
    assert torch.is_tensor(theirs['inputs'])  # the image only: captions need a second input
