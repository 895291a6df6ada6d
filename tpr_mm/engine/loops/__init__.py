# Copyright (c) tpr_mm contributors. All rights reserved.
from .retrieval_loop import RetrievalTestLoop, RetrievalValLoop

__all__ = ['RetrievalValLoop', 'RetrievalTestLoop']
