# Copyright (c) tpr_mm contributors. All rights reserved.
from .base_loss import BaseLoss
from .cmpc_loss import CMPCLoss, cmpc_loss
from .cmpm_loss import CMPMLoss, cmpm_loss
from .diversity_loss import DiversityLoss, diversity_loss
from .feature_distill_loss import FeatureDistillLoss, feature_distill_loss
from .id_loss import IDLoss, id_loss
from .itc_loss import ITCLoss, itc_loss
from .mlm_loss import MLMLoss, mlm_loss
from .prototype_contrast_loss import (
    CrossModalPrototypeLoss,
    IntraModalPrototypeLoss,
    prototype_contrast_loss,
)
from .pseudo_sdm_loss import PseudoLabelSDMLoss, pseudo_sdm_loss
from .ranking_loss import HardestNegativeRankingLoss, hardest_negative_ranking_loss
from .relation_distill_loss import RelationDistillLoss, relation_distill_loss
from .sdm_loss import SDMLoss, sdm_loss
from .tal_loss import TALLoss, tal_per_sample

__all__ = [
    'BaseLoss',
    'SDMLoss',
    'sdm_loss',
    'ITCLoss',
    'itc_loss',
    'IDLoss',
    'id_loss',
    'FeatureDistillLoss',
    'feature_distill_loss',
    'RelationDistillLoss',
    'relation_distill_loss',
    'IntraModalPrototypeLoss',
    'CrossModalPrototypeLoss',
    'prototype_contrast_loss',
    'PseudoLabelSDMLoss',
    'pseudo_sdm_loss',
    'CMPMLoss',
    'cmpm_loss',
    'CMPCLoss',
    'cmpc_loss',
    'DiversityLoss',
    'diversity_loss',
    'HardestNegativeRankingLoss',
    'hardest_negative_ranking_loss',
    'TALLoss',
    'tal_per_sample',
    'MLMLoss',
    'mlm_loss',
]
