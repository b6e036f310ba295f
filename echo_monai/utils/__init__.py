"""Small safety utilities shared by readers, scripts and bundles: safe weights loading, atomic writes,
and containment of user-given relative paths inside a data root."""

from echo_monai.utils.files import atomic_write, resolve_inside
from echo_monai.utils.weights import safe_torch_load

__all__ = ["atomic_write", "resolve_inside", "safe_torch_load"]
