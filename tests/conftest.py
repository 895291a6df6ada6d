# Copyright (c) tpr_mm contributors. All rights reserved.
"""Suite-wide settings.

``make test`` runs the suite on pytest-xdist workers, one per core. Each
worker is limited to one thread (torch, faiss and, through the environment,
every subprocess a test starts) so that the workers share the cores instead
of oversubscribing them. A plain ``pytest`` run keeps the library defaults.
"""

import os

if os.environ.get('PYTEST_XDIST_WORKER'):
    os.environ['OMP_NUM_THREADS'] = '1'
    import torch

    torch.set_num_threads(1)
    import faiss

    faiss.omp_set_num_threads(1)
