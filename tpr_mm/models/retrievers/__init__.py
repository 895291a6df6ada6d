# Copyright (c) tpr_mm contributors. All rights reserved.
from .cfine_retriever import CFineRetriever
from .lcr2s_student import LCR2SStudent
from .lcr2s_teacher import LCR2STeacher
from .rde_retriever import RDERetriever
from .text_image_retriever import TextImageRetriever

__all__ = ['TextImageRetriever', 'LCR2STeacher', 'LCR2SStudent', 'CFineRetriever', 'RDERetriever']
