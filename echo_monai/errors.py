"""The project's documented error types.

Every reader, transform and data script raises one of these for bad input, naming the file and the
problem in words a user understands. Nothing else should escape from bad data.
"""

from __future__ import annotations

import os

__all__ = ["ECGError", "EchoDataError"]


class EchoDataError(ValueError):
    """Input data that cannot be used: unreadable, truncated, inconsistent or unsupported.

    Args:
        path: the file (or other source) the problem is in; ``None`` when there is no file.
        problem: what is wrong, in a user's words.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{os.path.basename(self.path)}: {problem}" if self.path else problem)

    def __reduce__(self):
        # Rebuilt from (path, problem), so the error survives a trip through a worker process intact.
        return (type(self), (self.path, self.problem))


class ECGError(EchoDataError):
    """An ECG that cannot be used for gating (flat, clipped, too noisy, too short, bad sampling rate)."""
