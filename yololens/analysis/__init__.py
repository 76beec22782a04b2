"""Analysis of the objects table: 2-D projections, separability metrics and the stage report."""

from yololens.analysis.projection import ProjectionResult, Projector, load_projection, project
from yololens.analysis.stages import StageReport, compute_stages

__all__ = ["ProjectionResult", "Projector", "StageReport", "compute_stages", "load_projection", "project"]
