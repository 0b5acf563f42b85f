"""Reading a frozen config dataclass from a YAML file in ``configs/<kind>/`` or from any YAML path."""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

CONFIGS_ROOT = Path(__file__).resolve().parents[1] / "configs"


def config_names(kind: str) -> list[str]:
    """Names of the YAML files shipped in ``configs/<kind>``."""
    return sorted(p.stem for p in (CONFIGS_ROOT / kind).glob("*.yaml"))


def read_config(cls: type, kind: str, what: str, name_or_path: str | Path, **overrides: Any
                ) -> tuple[Path, dict[str, Any]]:
    """Values for ``cls`` from ``configs/<kind>/<name>.yaml`` (or a YAML path) with ``overrides`` on top.

    ``what`` names the config in messages ("model", "training stage"). Unknown keys, in the file or the
    overrides, are an error naming the file.
    """
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = CONFIGS_ROOT / kind / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ValueError(f"unknown {what} {str(name_or_path)!r}; available: {', '.join(config_names(kind))}")
    elif not path.is_file():
        raise FileNotFoundError(f"{path}: {what} config not found")
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of config keys, got {type(values).__name__}")
    values.update(overrides)
    unknown = sorted(set(values) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"{path}: unknown {what} config keys {unknown}")
    return path, values
