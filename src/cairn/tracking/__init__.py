"""Run tracking: params, metrics, tags, artifacts, and what each run ran with."""

from cairn.tracking.artifacts import ArtifactRef
from cairn.tracking.query import RunRecord, get_run, search_runs
from cairn.tracking.run import Run
from cairn.tracking.start import resume_run, start_run

__all__ = ["ArtifactRef", "Run", "RunRecord", "get_run", "search_runs", "resume_run", "start_run"]
