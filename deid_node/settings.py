"""The whole node's settings: the config file's sections, each parsed into a typed object.

Command-line flags (`--port`, `--ae-title`, `--forward`, `--var`) override the file in the
spirit of dcmtk's tools. Subsystems with their own section (profile, phi, pixels) parse it
themselves; this module only hands them their :class:`Section`.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .config import ConfigError, Section, load_raw

_AE_RE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # 16 chars, no backslash, no control


def _ae_title(section: Section, key: str, default: Any = ...) -> str:
    value = section.str(key) if default is ... else section.str(key, default)
    if not _AE_RE.match(value) or not value.strip():
        raise ConfigError(f"{section.source}: '{section._key(key)}' must be a DICOM AE title "
                          f"(1-16 printable characters, no backslash); got {value!r}")
    return value.strip()


@dataclass(frozen=True)
class TlsSettings:
    enabled: bool = False
    certificate: Path | None = None
    private_key: Path | None = None
    ca_certificates: Path | None = None
    require_client_certificate: bool = False

    @classmethod
    def from_section(cls, s: Section) -> "TlsSettings":
        enabled = s.bool("enabled", False)

        def opt(key: str) -> Path | None:
            return s.path(key) if s.get(key, None) is not None else None

        tls = cls(enabled, opt("certificate"), opt("private_key"), opt("ca_certificates"),
                  s.bool("require_client_certificate", False))
        if enabled:
            for key in ("certificate", "private_key"):
                path = getattr(tls, key)
                if path is not None and not path.is_file():
                    raise ConfigError(f"{s.source}: '{s._key(key)}' file {path} does not exist")
        return tls


@dataclass(frozen=True)
class NodeSettings:
    ae_title: str
    bind: str
    port: int
    var: Path
    workers: int
    worker_nice: int = 10

    @classmethod
    def from_section(cls, s: Section) -> "NodeSettings":
        return cls(_ae_title(s, "ae_title", "DEID_NODE"), s.str("bind", "127.0.0.1"),
                   s.int("port", 11112, minimum=0, maximum=65535), s.path("var", "var"),
                   s.int("workers", 2, minimum=1, maximum=64),
                   s.int("worker_nice", 10, minimum=0, maximum=19))


@dataclass(frozen=True)
class ReceiverSettings:
    allowed_calling_ae_titles: tuple[str, ...] = ()
    allowed_ips: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    max_instance_size: int = 2 * 1024**3
    spool_quota: int = 20 * 1024**3
    min_free_disk: int = 1024**3
    tls: TlsSettings = field(default_factory=TlsSettings)

    @classmethod
    def from_section(cls, s: Section) -> "ReceiverSettings":
        nets = []
        for item in s.str_list("allowed_ips", []):
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ConfigError(f"{s.source}: '{s._key('allowed_ips')}' has {item!r}, which "
                                  "is not an IP address or CIDR network") from None
        return cls(tuple(a.strip() for a in s.str_list("allowed_calling_ae_titles", [])),
                   tuple(nets), s.size("max_instance_size", "2GB"), s.size("spool_quota", "20GB"),
                   s.size("min_free_disk", "1GB"), TlsSettings.from_section(s.section("tls")))


@dataclass(frozen=True)
class RetrySettings:
    initial_delay: float = 1.0
    max_delay: float = 300.0
    max_attempts_on_failure_status: int = 5

    @classmethod
    def from_section(cls, s: Section) -> "RetrySettings":
        return cls(s.float("initial_delay", 1.0, minimum=0.01), s.float("max_delay", 300.0, minimum=0.01),
                   s.int("max_attempts_on_failure_status", 5, minimum=1))


@dataclass(frozen=True)
class DestinationSettings:
    type: str
    path: Path | None = None
    host: str | None = None
    port: int | None = None
    ae_title: str | None = None
    calling_ae_title: str | None = None
    associations: int = 2
    tls: TlsSettings = field(default_factory=TlsSettings)
    retry: RetrySettings = field(default_factory=RetrySettings)

    @classmethod
    def from_section(cls, s: Section, node: NodeSettings) -> "DestinationSettings":
        kind = s.choice("type", ("folder", "dicom"), "folder")
        retry = RetrySettings.from_section(s.section("retry"))
        if kind == "folder":
            return cls("folder", path=s.path("path", str(node.var / "forwarded")), retry=retry)
        return cls("dicom", host=s.str("host"), port=s.int("port", minimum=1, maximum=65535),
                   ae_title=_ae_title(s, "ae_title"),
                   calling_ae_title=_ae_title(s, "calling_ae_title", node.ae_title),
                   associations=s.int("associations", 2, minimum=1, maximum=8),
                   tls=TlsSettings.from_section(s.section("tls")), retry=retry)

    @classmethod
    def parse_forward(cls, spec: str, node: NodeSettings, retry: RetrySettings) -> "DestinationSettings":
        """`AET@HOST:PORT` (dicom) or a folder path, as given to `--forward`."""
        m = re.match(r"^([^@]{1,16})@(\[[^\]]+\]|[^:]+):(\d+)$", spec)
        if m:
            host = m.group(2).strip("[]")
            return cls("dicom", host=host, port=int(m.group(3)), ae_title=m.group(1),
                       calling_ae_title=node.ae_title, retry=retry)
        if "@" in spec:
            raise ConfigError(f"--forward {spec!r}: expected AET@HOST:PORT (e.g. "
                              "RESEARCH@pacs.example.org:104) or a folder path")
        return cls("folder", path=Path(spec).resolve(), retry=retry)


@dataclass(frozen=True)
class QuarantineSettings:
    uncertainty_threshold: float = 0.5

    @classmethod
    def from_section(cls, s: Section) -> "QuarantineSettings":
        return cls(s.float("uncertainty_threshold", 0.5, minimum=0.0, maximum=1.0))


@dataclass(frozen=True)
class AuditSettings:
    file: Path | None
    stderr: bool

    @classmethod
    def from_section(cls, s: Section, node: NodeSettings) -> "AuditSettings":
        # `file: ""` turns the file off; a missing key means the default under var/
        off = "file" in s.data and s.data["file"] in ("", None)
        file = None if off else s.path("file", str(node.var / "log" / "audit.jsonl"))
        return cls(file, s.bool("stderr", True))


_KNOWN = {"node", "receiver", "destination", "quarantine", "audit", "profile", "phi", "pixels",
          "review"}


@dataclass(frozen=True)
class Settings:
    """Everything the node needs; :meth:`load` validates the whole file up front."""

    source: str
    root: Section
    node: NodeSettings
    receiver: ReceiverSettings
    destination: DestinationSettings
    quarantine: QuarantineSettings
    audit: AuditSettings

    @property
    def var(self) -> Path:
        return self.node.var

    @property
    def key_file(self) -> Path:
        return self.section("profile").path("key_file")

    def section(self, name: str) -> Section:
        return self.root.section(name)

    @classmethod
    def load(cls, path: Path | None = None, *, port: int | None = None, ae_title: str | None = None,
             forward: str | None = None, var: Path | None = None, bind: str | None = None) -> "Settings":
        root = load_raw(path)
        unknown = sorted(set(root.keys()) - _KNOWN)
        if unknown:
            raise ConfigError(f"{root.source}: unknown section(s) {', '.join(unknown)}; known "
                              f"sections are {', '.join(sorted(_KNOWN))}")
        node = NodeSettings.from_section(root.section("node"))
        if var is not None:
            # a different var folder moves every default path below it as well
            node = replace(node, var=Path(var).resolve())
            root = Section({**root.data, "node": {**(root.data.get("node") or {}), "var": str(node.var)}},
                           root.source, "", root.base_dir)
            root = _rebase_var(root, node.var)
        root = _var_defaults(root, node.var)
        if port is not None:
            node = replace(node, port=port)
        if ae_title is not None:
            node = replace(node, ae_title=ae_title)
        if bind is not None:
            node = replace(node, bind=bind)
        dest_section = root.section("destination")
        destination = DestinationSettings.from_section(dest_section, node)
        if forward is not None:
            destination = DestinationSettings.parse_forward(forward, node, destination.retry)
        return cls(root.source, root, node, ReceiverSettings.from_section(root.section("receiver")),
                   destination, QuarantineSettings.from_section(root.section("quarantine")),
                   AuditSettings.from_section(root.section("audit"), node))


def _var_defaults(root: Section, var: Path) -> Section:
    """Files of other sections whose default place is the var folder (site key, crosswalk)."""
    data = dict(root.data)
    profile = dict(data.get("profile") or {})
    profile.setdefault("key_file", str(var / "site.key"))
    crosswalk = dict(profile.get("crosswalk") or {})
    crosswalk.setdefault("path", str(var / "crosswalk.jsonl"))
    profile["crosswalk"] = crosswalk
    data["profile"] = profile
    return Section(data, root.source, "", root.base_dir)


def _rebase_var(root: Section, var: Path) -> Section:
    """With --var, paths written as var/... in the file follow the new var folder."""

    def rebase(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: rebase(v) for k, v in value.items()}
        if isinstance(value, str) and (value == "var" or value.startswith("var/")):
            return str(var / value[4:]) if value != "var" else str(var)
        return value

    return Section(rebase(dict(root.data)), root.source, "", root.base_dir)
