"""What goes wrong with a run folder or a checkpoint: one line for the user, never a traceback."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A file that is not a LadLe checkpoint, or a run folder that cannot be resumed as asked."""


class RunMismatchError(CheckpointError):
    """A sound checkpoint of another model, model config, dataset or feature net than the run asks for."""
