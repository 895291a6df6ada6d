# Copyright (c) tpr_mm contributors. All rights reserved.
import pytest
from tool_helpers import make_tiny_model, write_person_images


@pytest.fixture(scope='session')
def tiny_model(tmp_path_factory):
    """(config path, checkpoint A, checkpoint B): same config, different weights."""
    return make_tiny_model(str(tmp_path_factory.mktemp('tiny_model')))


@pytest.fixture(scope='session')
def gallery(tmp_path_factory):
    """A folder of 9 images, 2 of them in a subfolder."""
    root = tmp_path_factory.mktemp('gallery')
    (root / 'cam2').mkdir()
    paths = write_person_images(str(root), 7, seed=0)
    paths += write_person_images(str(root / 'cam2'), 2, seed=1)
    (root / 'notes.txt').write_text('not an image')
    return str(root), sorted(paths)
