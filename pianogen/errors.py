"""The base of every error pianogen raises for a problem the user can fix.

The CLI prints these as one line (no traceback); notebooks show them as they are.
Modules subclass it (``BadMidi``, ``NoUsableData``, ``RenderError``, ``BookError``, ...), and
errors about invalid values are also ``ValueError`` so callers can catch either.
"""

__all__ = [
    "DataFolderMissing",
    "GenerateError",
    "NoTrainedModel",
    "PianogenError",
    "RunError",
]


class PianogenError(Exception):
    """A problem with the user's input, data or environment, explained in the message."""


class GenerateError(PianogenError, ValueError):
    """Generation cannot run as asked (missing model, short primer, bad sampling values)."""


class RunError(PianogenError, ValueError):
    """A run folder that cannot be used as asked (mismatch, corruption, missing files)."""


class NoTrainedModel(RunError, GenerateError):
    """A run folder without ``model.keras``: nothing to generate or evaluate yet."""


class DataFolderMissing(RunError, GenerateError):
    """The data folder a run's primers and held-out pieces come from does not exist."""
