# Copyright (c) tpr_mm contributors. All rights reserved.
import pytest
from search_helpers import make_tiny_model


@pytest.fixture(scope='session')
def tiny_model(tmp_path_factory):
    """(config path, checkpoint A, checkpoint B): same config, different weights."""
    return make_tiny_model(str(tmp_path_factory.mktemp('tiny_model')))
