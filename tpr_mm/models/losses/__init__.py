# Copyright (c) tpr_mm contributors. All rights reserved.
from .id_loss import IDLoss, id_loss
from .itc_loss import ITCLoss, itc_loss
from .sdm_loss import SDMLoss, sdm_loss

__all__ = ['SDMLoss', 'sdm_loss', 'ITCLoss', 'itc_loss', 'IDLoss', 'id_loss']
