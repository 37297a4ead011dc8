"""Where the local provider keeps media: behind one small interface, a folder by default.

Keys are relative, slash-separated names (``sources/<upload id>``, ``videos/<playback id>/…``).
Processing writes into a local scratch directory and publishes it under a key when complete, so
a reader never sees half an output, and an object store can take the folder's place later
without touching the processing code (it would upload on ``publish`` and serve by URL).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path, PurePosixPath
from typing import Protocol


class MediaStorage(Protocol):
    """Stored media by key; every method is blocking file I/O (call it off the event loop)."""

    def put(self, key: str, file: Path) -> int:
        """Move ``file`` under ``key`` (replacing what was there); returns its size."""
        ...

    def publish(self, key: str, directory: Path) -> int:
        """Move a finished ``directory`` under ``key`` at once; returns the bytes it holds."""
        ...

    def path(self, key: str) -> Path:
        """A local file to read ``key`` from (it may not exist)."""
        ...

    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` at once (readers see the old or the new)."""
        ...

    def read(self, key: str) -> bytes | None:
        """The bytes under ``key``, or None."""
        ...

    def size(self, key: str) -> int:
        """Bytes stored under ``key`` (a file, or everything below a prefix); 0 if absent."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key`` and everything below it; absent is not an error."""
        ...

    def scratch(self, name: str) -> Path:
        """An empty local directory to build an output in (what an earlier attempt left is
        removed first)."""
        ...

    def total(self) -> int:
        """Bytes stored, all together (scratch space excluded)."""
        ...


class FolderStorage:
    """:class:`MediaStorage` in a folder of this machine (or a share mounted by every worker)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._work = root / ".work"
        self._work.mkdir(parents=True, exist_ok=True)

    def put(self, key: str, file: Path) -> int:
        """Move ``file`` under ``key`` (a rename when both are on one file system)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(file, target)
        return target.stat().st_size

    def publish(self, key: str, directory: Path) -> int:
        """Replace ``key`` with ``directory`` by renames, so readers see the old or the new."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        old = self._work / f"old-{uuid.uuid4().hex}"
        if target.exists():
            target.rename(old)
        shutil.move(directory, target)
        shutil.rmtree(old, ignore_errors=True)
        return _bytes(target)

    def path(self, key: str) -> Path:
        """The file of ``key``; refuses keys that would leave the folder."""
        parts = PurePosixPath(key).parts
        if not parts or any(part in ("..", ".", "") or part.startswith(".") for part in parts):
            raise ValueError(f"invalid storage key {key!r}")
        return self.root.joinpath(*parts)

    def write(self, key: str, data: bytes) -> None:
        """Write a sibling file, then rename it over ``key``."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        temporary.write_bytes(data)
        temporary.replace(target)

    def read(self, key: str) -> bytes | None:
        """The file's bytes, or None."""
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def size(self, key: str) -> int:
        """Bytes under ``key``."""
        return _bytes(self.path(key))

    def delete(self, key: str) -> None:
        """Remove ``key`` (a file or a directory)."""
        target = self.path(key)
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)

    def scratch(self, name: str) -> Path:
        """``<root>/.work/<name>``, emptied."""
        directory = self._work / name
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        return directory

    def total(self) -> int:
        """Bytes of every stored file outside the scratch space."""
        return sum(_bytes(child) for child in self.root.iterdir() if child.name != self._work.name)


def _bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(directory, name)).st_size
            except FileNotFoundError:  # removed while we walked
                continue
    return total
