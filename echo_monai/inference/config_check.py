"""Refuse bundle command-line overrides that name no config key (a typo would otherwise be ignored).

``python -m monai.bundle run --config_file configs/train.json --max_epoch 5`` silently adds a new key
``max_epoch`` and trains for the configured ``max_epochs``. Bundles call :func:`check_cli_overrides` in
their ``initialize`` list, so such a run stops before any data is read, naming the closest keys.
"""

from __future__ import annotations

import ast
import difflib
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from monai.bundle import ConfigParser

__all__ = ["RUN_ARGUMENTS", "check_cli_overrides", "config_ids", "unknown_overrides"]

#: Arguments of ``monai.bundle run`` itself (not config keys).
RUN_ARGUMENTS = frozenset({
    "run_id", "init_id", "final_id", "meta_file", "config_file", "logging_file", "tracking", "args_file",
    "workflow_name", "workflow_type", "properties_path",
})


def config_ids(config: Any, prefix: str = "") -> set[str]:
    """Every id of a parsed config (``a``, ``a#b``, ``a#0``...), as ``monai.bundle`` addresses them."""
    ids: set[str] = set()
    items = config.items() if isinstance(config, dict) else enumerate(config) if isinstance(config, list) else ()
    for key, value in items:
        cid = f"{prefix}#{key}" if prefix else str(key)
        ids.add(cid)
        ids |= config_ids(value, cid)
    return ids


def _config_files(value: str) -> list[str]:
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parsed = [p.strip(" '\"") for p in text.strip("[]").split(",")]
        return [str(p) for p in parsed]
    return [p for p in text.split(",") if p]


def _parse_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(config files, override keys) of a ``monai.bundle run`` command line (fire's ``--key value`` form)."""
    files: list[str] = []
    keys: list[str] = []
    for i, arg in enumerate(argv):
        if not arg.startswith("--"):
            continue
        name, _, inline = arg[2:].partition("=")
        if name == "config_file":
            value = inline or (argv[i + 1] if i + 1 < len(argv) else "")
            files += _config_files(value)
        elif name and name not in RUN_ARGUMENTS:
            keys.append(name)
    return files, keys


def unknown_overrides(config_files: Iterable[str | os.PathLike], keys: Iterable[str]) -> dict[str, list[str]]:
    """Override keys that are in none of ``config_files``, each with up to 3 close existing keys.

    A key with ``::`` separators is accepted as MONAI writes ``#`` that way too.
    """
    parser = ConfigParser()
    parser.read_config([os.fspath(f) for f in config_files])
    known = config_ids(parser.get())
    bad = {}
    for key in keys:
        normal = key.replace("::", "#").lstrip("+")
        if normal not in known:
            bad[key] = difflib.get_close_matches(normal, sorted(known), n=3, cutoff=0.6)
    return bad


def check_cli_overrides(argv: Sequence[str] | None = None) -> bool:
    """Raise ``ValueError`` if this ``monai.bundle run`` command line overrides a key no config file has.

    Does nothing when the process is not ``monai.bundle run`` (e.g. a bundle run from Python with
    ``ConfigWorkflow``, where overrides are checked by the caller). Returns True when checked.
    """
    argv = list(sys.argv if argv is None else argv)
    is_bundle_run = len(argv) > 1 and argv[1] == "run" and argv[0].replace("\\", "/").endswith("monai/bundle/__main__.py")
    if not is_bundle_run:
        return False
    files, keys = _parse_argv(argv[2:])
    if not files or not keys:
        return True
    bad = unknown_overrides(files, keys)
    if bad:
        lines = [f"--{k}" + (f" (did you mean {', '.join('--' + m for m in near)}?)" if near else "")
                 for k, near in bad.items()]
        raise ValueError(f"unknown config key(s) on the command line: {'; '.join(lines)}. Nothing was run: "
                         f"an override must name a key of {', '.join(files)} (nested keys as a#b).")
    return True
