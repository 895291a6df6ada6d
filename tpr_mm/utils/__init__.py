# Copyright (c) tpr_mm contributors. All rights reserved.
"""Small utilities that do not belong to a model or data component.

Names are resolved lazily so that ``python tools/analysis/collect_env.py`` does
not import its own module twice (runpy warns about that).
"""

__all__ = ['collect_env_info', 'format_env']


def __getattr__(name: str):
    if name in __all__:
        from . import collect_env

        return getattr(collect_env, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
