"""Reading and managing existing uploads: status, listing, usage, cancel, delete, playback, and
the reconciler's expiry of unfinished ones."""

from __future__ import annotations

from datetime import datetime

from media_core.errors import Conflict, ProviderError, UploadNotFound
from media_core.events import UploadDeleted
from media_core.model import MediaUpload, Page, UploadStatus
from media_core.ports import Playback, Usage
from media_core.services._base import ServiceBase, log
from media_core.state_machine import abandon, cancel, expire
from media_core.strict import plausible_id


class ManagingUploads(ServiceBase):
    """The use cases on uploads that exist, each through the provider that holds the upload."""

    __slots__ = ()

    async def expire_upload(self, upload_id: str) -> bool:
        """FAILED (``expired``) if still UPLOADING after its upload URL expired.

        True if this call failed it.
        """
        transition = await self._mutate(
            upload_id, lambda current: expire(current, self.clock.now())
        )
        return transition.changed

    async def abandon_upload(self, upload_id: str, *, created_before: datetime) -> bool:
        """FAILED (``provider_error``) if still UPLOADING without a provider slot and created
        before ``created_before``: its create died between our first write and the last one.

        True if this call failed it.
        """
        transition = await self._mutate(
            upload_id, lambda current: abandon(current, created_before, self.clock.now())
        )
        return transition.changed

    async def get_status(self, owner_id: str, id_or_playback_id: str) -> MediaUpload:
        """The caller's upload by our id or its playback id; anyone else's is not found.

        A value that has no id's shape (:func:`~media_core.strict.plausible_id`) is not found
        either, without a query: no store is asked to look up NUL bytes or 5,000 characters.
        """
        if not plausible_id(id_or_playback_id):
            raise UploadNotFound("no upload by that id")
        upload = await self.repository.get(id_or_playback_id)
        if upload is None:
            upload = await self.repository.get_by_playback_id(id_or_playback_id)
        if upload is None or upload.owner_id != owner_id:
            raise UploadNotFound("no upload by that id")
        return upload

    async def usage(self, owner_id: str) -> Usage:
        """What the owner's uploads that did not fail take up; compare with :attr:`quota`."""
        return await self.repository.usage_for_owner(owner_id)

    async def list_uploads(self, owner_id: str, *, limit: int, cursor: str | None) -> Page:
        """The caller's uploads, newest first."""
        return await self.repository.list_for_owner(owner_id, limit=limit, cursor=cursor)

    async def cancel_upload(self, owner_id: str, id_or_playback_id: str) -> MediaUpload:
        """Cancel an unfinished upload: FAILED with code ``cancelled``, and the slot closed.

        ``ProviderNotConfigured``, with nothing changed, when its provider was removed.
        """
        upload = await self.get_status(owner_id, id_or_playback_id)
        provider = self.providers.holding(upload)
        transition = await self._mutate(
            upload.id, lambda current: cancel(current, self.clock.now())
        )
        stored = transition.upload
        try:
            if stored.status is UploadStatus.FAILED and upload.status is UploadStatus.UPLOADING:
                await provider.cancel_upload(stored)
            else:
                await provider.delete_video(stored)
        except ProviderError as exc:
            # Our record is final either way; the reconciler or the provider's own expiry
            # cleans up a slot we could not close now.
            log.warning("provider cleanup after cancel failed: %s", exc.detail)
        return stored

    async def delete_upload(self, owner_id: str, id_or_playback_id: str) -> None:
        """Delete the caller's upload here and at its provider.

        ``ProviderNotConfigured``, with nothing deleted, when its provider was removed: its
        copy there would be left behind unseen.
        """
        upload = await self.get_status(owner_id, id_or_playback_id)
        provider = self.providers.holding(upload)
        if upload.status is UploadStatus.UPLOADING:
            await provider.cancel_upload(upload)
        elif upload.provider_asset_id or upload.playback_id:
            await provider.delete_video(upload)
        await self.repository.delete(upload.id)
        await self._publish((UploadDeleted(upload=upload, occurred_at=self.clock.now()),))

    async def playback(self, owner_id: str, id_or_playback_id: str) -> Playback:
        """How the owner plays a READY upload (signed when PRIVATE), through its provider; once
        that provider is removed, from the stored ids where that is possible (public)."""
        upload = await self.get_status(owner_id, id_or_playback_id)
        if upload.status is not UploadStatus.READY:
            raise Conflict(f"upload {upload.id} is {upload.status.value}, not ready")
        provider = self.providers.get(upload.provider)
        if provider is None:
            return self.providers.stored_playback(upload)
        return await provider.playback(upload, self.clock.now())

    async def delete_all_for_user(self, owner_id: str) -> int:
        """Remove every upload of a user (the host deletes the user); returns how many.

        Each video is deleted at its own provider first (best effort: a provider that fails,
        or is no longer configured, is logged, and its copy expires or is removed by hand),
        then every record goes in one write.
        """
        uploads: list[MediaUpload] = []
        cursor: str | None = None
        while True:
            page = await self.repository.list_for_owner(owner_id, limit=100, cursor=cursor)
            uploads.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        for upload in uploads:
            try:
                provider = self.providers.holding(upload)
                if upload.status is UploadStatus.UPLOADING:
                    await provider.cancel_upload(upload)
                elif upload.provider_asset_id or upload.playback_id:
                    await provider.delete_video(upload)
            except ProviderError as exc:
                log.warning("provider cleanup of upload %s failed: %s", upload.id, exc.detail)
        count = await self.repository.delete_all_for_user(owner_id)
        now = self.clock.now()
        await self._publish(tuple(UploadDeleted(upload=u, occurred_at=now) for u in uploads))
        return count
