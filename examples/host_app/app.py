"""A host application with its own users and videos, embedding media-core under ``/media``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.repositories import sql
from entrypoints.container import Container, build_container, resolve
from entrypoints.http.app import create_app
from entrypoints.http.keys import SERVICE
from entrypoints.settings import Settings
from media_core import (
    DomainEvent,
    NotAuthenticated,
    UploadDeleted,
    UploadFailed,
    UploadReady,
    UploadRequested,
)

host_metadata = sa.MetaData()
videos = sa.Table(
    "host_videos",
    host_metadata,
    sa.Column("media_upload_id", sa.String(255), primary_key=True),
    sa.Column("user_id", sa.String(255), nullable=False, index=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("playback_id", sa.String(255)),
    sa.Column("thumbnail_url", sa.Text),
)
ENGINE = web.AppKey("host_engine", AsyncEngine)
MEDIA = web.AppKey("media_app", web.Application)


class HeaderAuthenticator:
    """Stands in for the host's own sessions: the user id comes in ``X-User``."""

    async def authenticate(self, request: web.Request) -> str:
        """The user behind the request, or ``NotAuthenticated``."""
        user = request.headers.get("X-User", "").strip()
        if not user:
            raise NotAuthenticated("sign in first")
        return user


class VideoSync:
    """Keeps the host's ``host_videos`` rows in step with media-core's domain events."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def __call__(self, event: DomainEvent) -> None:
        """Insert, update or delete the host's row for the event's upload."""
        upload = event.upload
        async with self.engine.begin() as conn:
            if isinstance(event, UploadRequested):
                await conn.execute(
                    videos.insert().values(
                        media_upload_id=upload.id,
                        user_id=upload.owner_id,
                        title=upload.metadata.title,
                        status=upload.status.value,
                        playback_id=upload.playback_id,
                    )
                )
            elif isinstance(event, UploadReady | UploadFailed):
                await conn.execute(
                    videos.update()
                    .where(videos.c.media_upload_id == upload.id)
                    .values(
                        status=upload.status.value,
                        playback_id=upload.playback_id,
                        thumbnail_url=upload.thumbnail_url,
                    )
                )
            elif isinstance(event, UploadDeleted):
                await conn.execute(videos.delete().where(videos.c.media_upload_id == upload.id))


async def my_videos(request: web.Request) -> web.Response:
    """The host's own listing, from its own table."""
    user = await HeaderAuthenticator().authenticate(request)
    async with request.app[ENGINE].connect() as conn:
        rows = (await conn.execute(videos.select().where(videos.c.user_id == user))).mappings()
        return web.json_response([dict(row) for row in rows])


async def delete_user(request: web.Request) -> web.Response:
    """Deleting a user deletes their media everywhere; the event handler removes the rows."""
    media = request.app[MEDIA]
    count = await media[SERVICE].delete_all_for_user(request.match_info["user"])
    return web.json_response({"deletedUploads": count})


def build(settings: Settings) -> tuple[web.Application, Container]:
    """The host app with media-core mounted under ``/media``."""
    container = build_container(settings)
    media = create_app(container, authenticator=HeaderAuthenticator())
    host = web.Application()
    host[MEDIA] = media

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        url = settings.effective_database_url
        await sql.upgrade(url)  # media-core's tables, by its own migrations
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(host_metadata.create_all)  # the host's tables, its own way
        app[ENGINE] = engine
        publisher = await resolve(container.publisher)
        unsubscribe = publisher.subscribe(VideoSync(engine))
        yield
        unsubscribe()
        await engine.dispose()

    host.cleanup_ctx.append(lifecycle)
    host.router.add_get("/videos", my_videos)
    host.router.add_delete("/users/{user}", delete_user)
    host.add_subapp("/media", media)
    return host, container


def main() -> None:
    """Run the example on http://127.0.0.1:8090."""
    # The fake needs no worker processes. With providers=("local",), run them beside the host:
    # MEDIA_DATA_DIR=.media-core-example MEDIA_PUBLIC_URL=http://127.0.0.1:8090/media \
    #   media-core worker
    settings = Settings(
        providers=("fake",),
        data_dir=Path(".media-core-example"),
        port=8090,
        public_url="http://127.0.0.1:8090/media",
    )
    app, _ = build(settings)
    web.run_app(app, host="127.0.0.1", port=8090)


if __name__ == "__main__":
    main()
