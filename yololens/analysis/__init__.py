"""Analysis of the objects table: 2-D projections, separability metrics and the stage report."""

from yololens.analysis.projection import ProjectionResult, Projector, load_projection, project
from yololens.analysis.stages import StageReport, stages

__all__ = ["ProjectionResult", "Projector", "StageReport", "load_projection", "project", "stages"]
