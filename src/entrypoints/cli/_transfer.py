"""Sending a file's bytes where a create response says, as a browser client does.

Three protocols, chosen by the response's ``upload.protocol``:

- ``put``: one PUT of the whole file, or ``Content-Range`` chunks of ``chunkSize`` answered 308
  until the last (Mux and the fake provider). Resuming asks ``Content-Range: bytes */<size>``
  and continues after the ``Range`` the server reports.
- ``form``: one ``multipart/form-data`` POST with the file in ``file`` (Cloudflare basic uploads);
  it cannot resume, so it starts again.
- ``tus``: tus 1.0 on the upload resource: ``HEAD`` for ``Upload-Offset``, then ``PATCH`` chunks.

Every sender reports progress through ``advance(bytes)`` and raises :class:`TransferError` when
the upload URL refuses or the connection fails (the bytes stored so far stay stored).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import httpx
from attrs import frozen

PIECE = 256 * 1024
"""How much is read and sent at a time, so the progress bar moves smoothly."""
DEFAULT_CHUNK = 8 * 1024 * 1024
TUS_VERSION = "1.0.0"

Advance = Callable[[int], object]


class TransferError(Exception):
    """The upload URL refused the bytes or could not be reached."""


@frozen
class Source:
    """The file being sent, and where its progress goes."""

    path: Path
    size: int
    mime_type: str
    advance: Advance


def send(client: httpx.Client, upload: Mapping[str, Any], source: Source, *, resume: bool) -> int:
    """Send ``source`` by the protocol ``upload`` names; return the offset it resumed from."""
    protocol = upload.get("protocol", "put")
    url = str(upload["url"])
    headers = {str(k): str(v) for k, v in (upload.get("headers") or {}).items()}
    chunk = upload.get("chunkSize")
    chunk_size = chunk if isinstance(chunk, int) and chunk > 0 else 0
    try:
        if protocol == "tus":
            return _tus(client, url, headers, source, chunk_size or DEFAULT_CHUNK)
        if protocol == "form":
            _form(client, url, headers, source)
            return 0
        return _put(client, url, headers, source, chunk_size or source.size, resume=resume)
    except httpx.HTTPError as exc:
        raise TransferError(f"the upload URL could not be reached: {exc}") from exc


def _pieces(handle: BinaryIO, length: int, advance: Advance) -> Iterator[bytes]:
    left = length
    while left > 0:
        piece = handle.read(min(PIECE, left))
        if not piece:
            raise TransferError("the file got shorter while it was being sent")
        left -= len(piece)
        yield piece
        advance(len(piece))


def _refused(response: httpx.Response) -> TransferError:
    text = response.text[:300].strip()
    return TransferError(f"the upload URL answered {response.status_code}: {text or '(empty)'}")


def _put(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    source: Source,
    chunk: int,
    *,
    resume: bool,
) -> int:
    size = source.size
    offset = _put_offset(client, url, headers, size) if resume else 0
    start = offset
    if offset:
        source.advance(offset)
    with source.path.open("rb") as handle:
        handle.seek(offset)
        while offset < size or size == 0:
            end = min(offset + chunk, size)
            request_headers = {
                **headers,
                "Content-Type": source.mime_type,
                "Content-Length": str(end - offset),
            }
            if chunk < size or offset:
                request_headers["Content-Range"] = f"bytes {offset}-{end - 1}/{size}"
            response = client.put(
                url, content=_pieces(handle, end - offset, source.advance), headers=request_headers
            )
            if response.status_code == 308:
                offset = _range_end(response.headers.get("Range"))
                handle.seek(offset)
                continue
            if response.status_code >= 300:
                raise _refused(response)
            break
    return start


def _put_offset(client: httpx.Client, url: str, headers: dict[str, str], size: int) -> int:
    """How many bytes the upload URL already holds (Mux's resumable-upload query)."""
    response = client.put(url, content=b"", headers={**headers, "Content-Range": f"bytes */{size}"})
    if response.status_code == 308:
        return _range_end(response.headers.get("Range"))
    if response.status_code < 300:
        return size  # it already has everything
    raise _refused(response)


def _range_end(header: str | None) -> int:
    """``bytes=0-1023`` → 1024; no header → 0."""
    if not header:
        return 0
    match = re.fullmatch(r"bytes=0-(\d+)", header.strip())
    if match is None:
        raise TransferError(f"the upload URL reported an unexpected Range: {header!r}")
    return int(match.group(1)) + 1


def _form(client: httpx.Client, url: str, headers: dict[str, str], source: Source) -> None:
    with source.path.open("rb") as handle:
        response = client.post(
            url, files={"file": (source.path.name, handle, source.mime_type)}, headers=headers
        )
    if response.status_code >= 300:
        raise _refused(response)
    source.advance(source.size)


def _tus(
    client: httpx.Client, url: str, headers: dict[str, str], source: Source, chunk: int
) -> int:
    tus = {**headers, "Tus-Resumable": TUS_VERSION}
    head = client.head(url, headers=tus)
    if head.status_code >= 300:
        raise _refused(head)
    offset = int(head.headers.get("Upload-Offset", "0"))
    start = offset
    if offset:
        source.advance(offset)
    with source.path.open("rb") as handle:
        handle.seek(offset)
        while offset < source.size:
            length = min(chunk, source.size - offset)
            response = client.patch(
                url,
                content=_pieces(handle, length, source.advance),
                headers={
                    **tus,
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                    "Content-Length": str(length),
                },
            )
            if response.status_code >= 300:
                raise _refused(response)
            offset = int(response.headers.get("Upload-Offset", offset + length))
    return start
