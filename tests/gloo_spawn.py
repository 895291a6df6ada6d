# Copyright (c) tpr_mm contributors. All rights reserved.
"""Start gloo ranks for a test, relaunching once if gloo's C++ code aborts one.

Rarely a rank dies with SIGABRT ("terminate called without an active
exception") inside the gloo backend's TCP transport, with no Python traceback
(cf. pytorch/gloo#514; seen about once in 30 launches on the project's 2-core
machine). That is not what a test checks, so it is retried once on a fresh
port, with a warning; any other failure, or a second abort, fails the test.
"""

import signal
import socket
import warnings
from typing import Callable, Tuple

import torch.multiprocessing as mp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def spawn_gloo(worker: Callable, make_args: Callable[[int], Tuple], nprocs: int = 2) -> None:
    """``mp.spawn(worker, make_args(port), nprocs)``, relaunched once after a SIGABRT.

    Args:
        worker: called as ``worker(rank, *make_args(port))`` in each process; it
            should write its result to a file named by rank, which a relaunch
            overwrites.
        make_args: builds the worker's arguments for a rendezvous port.
        nprocs: number of ranks.
    """
    for attempt in range(2):
        try:
            mp.spawn(worker, args=make_args(free_port()), nprocs=nprocs, join=True)
            return
        except mp.ProcessExitedException as err:
            if attempt or err.exit_code != -signal.SIGABRT:
                raise
            warnings.warn(f'gloo aborted a rank ({err}); relaunching once', stacklevel=2)
