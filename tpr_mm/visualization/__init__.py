# Copyright (c) tpr_mm contributors. All rights reserved.
"""Visualisation helpers (retrieval grids, training curves)."""

__all__: list = []
