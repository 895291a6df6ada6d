# Copyright (c) tpr_mm contributors. All rights reserved.
from .retrieval_metric import TextImageRetrievalMetric

__all__ = ['TextImageRetrievalMetric']
