"""Installed versions of named packages, for manifests and benchmark reports."""

from __future__ import annotations

from importlib import metadata


def package_versions(names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """name -> version for each installed package; absent ones are left out."""
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
