# Copyright (c) tpr_mm contributors. All rights reserved.
from .text_image_retriever import TextImageRetriever

__all__ = ['TextImageRetriever']
