# Copyright (c) tpr_mm contributors. All rights reserved.
"""MMEngine Runner with safe checkpoint loading."""
from mmengine.runner import Runner

from tpr_mm.registry import RUNNERS

from .safe_loading import mmengine_safe_globals


@RUNNERS.register_module()
class TPRRunner(Runner):
    """:class:`mmengine.runner.Runner` that loads and resumes checkpoints with
    PyTorch's safe unpickler, allowlisting only MMEngine's own meta types.

    Select it in a config with ``runner_type = 'TPRRunner'`` (the base
    runtime config does).
    """

    def load_checkpoint(self, filename: str, *args, **kwargs):
        with mmengine_safe_globals():
            return super().load_checkpoint(filename, *args, **kwargs)

    def resume(self, filename: str, *args, **kwargs) -> None:
        with mmengine_safe_globals():
            return super().resume(filename, *args, **kwargs)
