"""Loading PyTorch weights files that may come from anyone, without running code from them.

``torch.load`` unpickles: a crafted ``.pt`` file can run arbitrary code when loaded with
``weights_only`` off. Weights shared between sites are untrusted input, so every load in echo_monai
goes through ``weights_only=True`` (tensors, containers and plain values only) and a refusal names the
file and says why.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from echo_monai.errors import EchoDataError

__all__ = ["safe_torch_load"]


def safe_torch_load(path: str | os.PathLike, *, map_location: str = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with every failure an :class:`EchoDataError`.

    Args:
        path: a ``.pt`` / ``.pth`` / ``.ckpt`` file (state dict or checkpoint of state dicts).
        map_location: device the tensors are loaded onto.

    Returns:
        what the file holds (typically a ``dict`` of tensors, or of dicts of tensors).

    Raises:
        EchoDataError: missing file; a file holding pickled Python objects other than tensors and plain
            containers (refused, never executed); or a file that is not a PyTorch file at all.
    """
    import torch  # imported here so that the readers do not pay for torch when they never load weights

    path = Path(path).expanduser()
    if not path.is_file():
        raise EchoDataError(path, "weights file not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's weights-only unpickler raises this for any global it does not allow (a class, a function):
        # exactly what a code-running checkpoint needs, so it is refused and the reason shown.
        first = str(exc).strip().splitlines()
        detail = next((line for line in first if "GLOBAL" in line or "global" in line), first[0] if first else "")
        raise EchoDataError(path, "refused: the file holds pickled Python objects, not only tensors "
                                  f"({detail.strip()[:200]}); only plain weights files are loaded, "
                                  "since unpickling arbitrary objects can run code") from exc
    except Exception as exc:  # zip, EOF and runtime errors all mean "not a weights file"
        raise EchoDataError(path, f"cannot read as a PyTorch weights file ({type(exc).__name__}: "
                                  f"{str(exc)[:200]})") from exc
