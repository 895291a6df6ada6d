# Copyright (c) tpr_mm contributors. All rights reserved.
from .mid_epoch_resume_loop import MidEpochResumeTrainLoop
from .retrieval_loop import RetrievalTestLoop, RetrievalValLoop

__all__ = ['MidEpochResumeTrainLoop', 'RetrievalValLoop', 'RetrievalTestLoop']
