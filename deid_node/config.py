"""YAML configuration → typed, validated settings.

Every error names the file and the dotted key that is wrong and says what was expected,
because the person reading it is a PACS admin editing YAML, not a Python developer.
Each subsystem parses its own section through :class:`Section`, so the schema of a
section lives beside the code that uses it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "conf" / "deid-node.yaml"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2,
               "G": 1024**3, "GB": 1024**3, "T": 1024**4, "TB": 1024**4}
_MISSING = object()


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message says where and what to do."""


@dataclass(frozen=True)
class Section:
    """One mapping of the config file, with typed getters that report `file: key` on error."""

    data: Mapping[str, Any]
    source: str
    prefix: str = ""
    base_dir: Path = field(default_factory=Path.cwd)

    def _key(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def _fail(self, key: str, msg: str) -> ConfigError:
        return ConfigError(f"{self.source}: '{self._key(key)}' {msg}")

    def get(self, key: str, default: Any = _MISSING) -> Any:
        if key in self.data and self.data[key] is not None:
            return self.data[key]
        if default is _MISSING:
            raise self._fail(key, "is required but missing")
        return default

    def section(self, key: str) -> "Section":
        value = self.data.get(key) or {}
        if not isinstance(value, Mapping):
            raise self._fail(key, f"must be a mapping, got {type(value).__name__}")
        return Section(value, self.source, self._key(key), self.base_dir)

    def str(self, key: str, default: Any = _MISSING) -> str:
        value = self.get(key, default)
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise self._fail(key, f"must be a string, got {value!r}")
        return str(value)

    def int(self, key: str, default: Any = _MISSING, minimum: int | None = None,
            maximum: int | None = None) -> int:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, f"must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise self._fail(key, f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self._fail(key, f"must be <= {maximum}, got {value}")
        return value

    def float(self, key: str, default: Any = _MISSING, minimum: float | None = None,
              maximum: float | None = None) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._fail(key, f"must be a number, got {value!r}")
        if minimum is not None and value < minimum:
            raise self._fail(key, f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self._fail(key, f"must be <= {maximum}, got {value}")
        return float(value)

    def bool(self, key: str, default: Any = _MISSING) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, f"must be true or false, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = _MISSING) -> str:
        value = self.str(key, default)
        if value not in choices:
            raise self._fail(key, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def list(self, key: str, default: Any = _MISSING) -> list[Any]:
        value = self.get(key, default)
        if not isinstance(value, list):
            raise self._fail(key, f"must be a list, got {value!r}")
        return value

    def str_list(self, key: str, default: Any = _MISSING) -> list[str]:
        values = self.list(key, default)
        for v in values:
            if not isinstance(v, str):
                raise self._fail(key, f"must be a list of strings, got item {v!r}")
        return list(values)

    def size(self, key: str, default: Any = _MISSING) -> int:
        """A byte size: an integer or a string such as '512MB' or '2 GB'."""
        value = self.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip().upper().replace(" ", "")
        num = text.rstrip("KMGTB")
        unit = text[len(num):]
        try:
            if unit not in _SIZE_UNITS:
                raise ValueError
            return int(float(num) * _SIZE_UNITS[unit])
        except ValueError:
            raise self._fail(key, f"must be a size such as 512MB or 2GB, got {value!r}") from None

    def path(self, key: str, default: Any = _MISSING) -> Path:
        """A path; relative paths are taken relative to the project root (base_dir)."""
        p = Path(os.path.expanduser(self.str(key, default)))
        return p if p.is_absolute() else (self.base_dir / p)

    def keys(self) -> Iterator[str]:
        return iter(self.data)


def load_raw(path: Path | None = None) -> Section:
    """Read a config file into the root :class:`Section`.

    Relative paths in the file resolve against the project root for the shipped default
    config, and against the config file's own folder otherwise.
    """
    path = Path(path) if path else DEFAULT_CONFIG
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; pass --config FILE or create it "
                          f"from {DEFAULT_CONFIG}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    base = PROJECT_ROOT if path.resolve() == DEFAULT_CONFIG else path.resolve().parent
    return Section(data, str(path), "", base)
