# Copyright (c) tpr_mm contributors. All rights reserved.
from .data_sample import TextReIDDataSample
from .retrieval_features import RetrievalFeatures

__all__ = ['TextReIDDataSample', 'RetrievalFeatures']
