# Copyright (c) tpr_mm contributors. All rights reserved.
"""Visualisation: the retrieval-grid visualizer shared by tools and APIs."""

from .retrieval_visualizer import RetrievalHit, RetrievalQuery, RetrievalVisualizer

__all__ = ['RetrievalHit', 'RetrievalQuery', 'RetrievalVisualizer']
