# Copyright (c) tpr_mm contributors. All rights reserved.
"""Print the environment report to attach to a bug report.

Usage::

    python tools/analysis/collect_env.py
"""

from tpr_mm.utils import collect_env_info, format_env


def main() -> None:
    print(format_env(collect_env_info()))


if __name__ == '__main__':
    main()
