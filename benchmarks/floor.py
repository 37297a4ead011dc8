"""The floor: the unavoidable work of routes 1-3 in a bare aiohttp app, as fast as we can make it.

It shares no code with media-core. Each route does what the service must do and nothing more:

- ``POST /webhook``: read the raw body, verify the ``t=…,v1=…`` HMAC-SHA256 signature and its
  age, parse the JSON, read the upload's row, then record the delivery (at most once) and write
  the new row under its version guard, both or neither, and answer a small JSON body. The SQL is
  the service's own (whole row read, whole row written).
- ``GET /status/{id}``: verify the bearer JWT (HS256), read the row, answer its JSON.
- ``POST /create``: verify the JWT, parse and check the body, insert the row, answer 201.

Like the service, it remembers verified tokens until they expire, and it pools its PostgreSQL
connections in the cheapest way we know (:class:`FreeList`).

Run: ``python benchmarks/floor.py --db postgresql://… --port 9000`` (or ``--db sqlite:///file``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import jwt
from aiohttp import web

SECRET = os.environ.get("FLOOR_WEBHOOK_SECRET", "bench-webhook-secret").encode()
JWT_SECRET = os.environ.get("FLOOR_JWT_SECRET", "bench-jwt-secret-bench-jwt-secret-0123")
TOLERANCE = 300
RANK = {"uploading": 0, "processing": 1, "ready": 2, "failed": 2}
COLUMNS = (
    "id, owner_id, provider, provider_upload_id, provider_asset_id, playback_id, file_name, "
    "file_size, mime_type, status, progress, metadata, duration, thumbnail_url, aspect_ratio, "
    "failure_code, failure_reason, created_at, updated_at, upload_expires_at, uploaded_at, "
    "ready_at, version"
)


def new_progress(row: Any, event: dict[str, Any]) -> int:
    if event["status"] == "ready":
        return 100
    return max(int(row["progress"]), int(event.get("progress") or 0))


def verify(header: str | None, body: bytes) -> bool:
    if not header:
        return False
    timestamp = 0
    signatures = []
    for part in header.split(","):
        key, _, value = part.partition("=")
        if key == "t":
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if abs(time.time() - timestamp) > TOLERANCE:
        return False
    expected = hmac.new(SECRET, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)


VERIFIED: dict[str, tuple[str, float]] = {}  # token -> (sub, exp), as the service remembers


def user_of(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    token = header[7:]
    known = VERIFIED.get(token)
    if known is not None and time.time() <= known[1]:
        return known[0]
    try:
        claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        return None
    if len(VERIFIED) >= 10_000:
        VERIFIED.clear()
    VERIFIED[token] = (str(claims["sub"]), float(claims["exp"]))
    return str(claims["sub"])


def iso(value: datetime | str | None) -> str | None:
    """The service's format: ISO 8601 in UTC with microseconds and Z."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite keeps naive UTC text "YYYY-MM-DD HH:MM:SS.ffffff"
        return value.replace(" ", "T") + "Z"
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


def row_json(row: Any) -> dict[str, Any]:
    metadata = row["metadata"]
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    return {
        "id": row["id"],
        "playbackId": row["playback_id"],
        "status": row["status"],
        "progress": row["progress"],
        "thumbnailUrl": row["thumbnail_url"],
        "duration": row["duration"],
        "aspectRatio": row["aspect_ratio"],
        "provider": row["provider"],
        "fileName": row["file_name"],
        "fileSize": row["file_size"],
        "mimeType": row["mime_type"],
        "metadata": metadata,
        "failureCode": row["failure_code"],
        "failureReason": row["failure_reason"],
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
        "readyAt": iso(row["ready_at"]),
    }


# The service's statements (adapters/repositories/sql/_repository.py), written out again: the
# whole row is read, and the whole row is written back guarded by its version.
NAMES = [name.strip() for name in COLUMNS.split(",")]
SET_NAMES = [name for name in NAMES if name != "id"]
N = len(SET_NAMES)
PG_SET = ", ".join(f"{name} = ${index}" for index, name in enumerate(SET_NAMES, 1))
PG_BY_ID = f"SELECT {COLUMNS} FROM media_uploads WHERE id = $1"
PG_APPLY = (
    "WITH d AS (INSERT INTO webhook_deliveries (provider, delivery_id, received_at) "
    f"VALUES (${N + 3}, ${N + 4}, ${N + 5}) ON CONFLICT DO NOTHING RETURNING 1), "
    f"u AS (UPDATE media_uploads SET {PG_SET} "
    f"WHERE id = ${N + 1} AND version = ${N + 2} AND EXISTS (SELECT 1 FROM d) RETURNING 1) "
    "SELECT CASE WHEN (SELECT count(*) FROM d) = 0 THEN 0 "
    "ELSE 1 / (SELECT count(*) FROM u) END"
)
PG_INSERT = (
    f"INSERT INTO media_uploads ({COLUMNS}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(NAMES) + 1))})"
)
SQLITE_BY_ID = PG_BY_ID.replace("$1", "?")
SQLITE_UPDATE = (
    f"UPDATE media_uploads SET {', '.join(f'{name} = ?' for name in SET_NAMES)} "
    "WHERE id = ? AND version = ?"
)
SQLITE_INSERT = f"INSERT INTO media_uploads ({COLUMNS}) VALUES ({', '.join('?' for _ in NAMES)})"


def next_row(row: dict[str, Any], event: dict[str, Any], now: Any) -> dict[str, Any] | None:
    """The row after ``event`` (the state machine's rules, flattened), or None if unchanged."""
    current, status = row["status"], event["status"]
    if RANK[current] == 2 or RANK[status] < RANK[current]:
        return None
    new = dict(row)
    new["status"] = status
    new["progress"] = new_progress(row, event)
    new["uploaded_at"] = row["uploaded_at"] or now
    if status == "ready":
        new["playback_id"] = event.get("playbackId")
        new["duration"] = event.get("duration")
        new["thumbnail_url"] = event.get("thumbnailUrl") or row["thumbnail_url"]
        new["ready_at"] = now
    new["updated_at"] = now
    new["version"] = row["version"] + 1
    return new


def new_upload_row(values: dict[str, Any]) -> dict[str, Any]:
    """Every column of a new upload, as the service inserts it."""
    row = dict.fromkeys(NAMES)
    row.update(
        id=values["id"],
        owner_id=values["owner_id"],
        provider="fake",
        file_name=values["file_name"],
        file_size=values["file_size"],
        mime_type=values["mime_type"],
        status="uploading",
        progress=0,
        metadata=values["metadata"],
        created_at=values["created_at"],
        updated_at=values["created_at"],
        version=0,
    )
    return row


class FreeList:
    """The cheapest pool we know: idle connections in a list, waiters in a deque.

    asyncpg's pool makes a task (shield) and a timer per release and sends a reset query;
    taking and returning a connection here are list operations. A connection that saw an
    error is closed rather than reused. Waits are bounded like the service's: all have the same
    bound and queue in order, so one timer set for the oldest waiter serves them all.
    """

    def __init__(self, connections: list[Any]) -> None:
        self.idle = connections
        self.waiters: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self.timer: asyncio.TimerHandle | None = None

    def expire(self) -> None:
        self.timer = None
        loop = asyncio.get_running_loop()
        while self.waiters and (self.waiters[0][0] <= loop.time() or self.waiters[0][1].done()):
            _, waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(TimeoutError("no connection became free"))
        if self.waiters:
            self.timer = loop.call_at(self.waiters[0][0], self.expire)

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        if self.idle:
            conn = self.idle.pop()
        else:
            loop = asyncio.get_running_loop()
            waiter = loop.create_future()
            self.waiters.append((loop.time() + 10, waiter))
            if self.timer is None:
                self.timer = loop.call_at(self.waiters[0][0], self.expire)
            conn = await waiter
        try:
            yield conn
        except BaseException:
            conn.terminate()  # not reused: the floor's runs see no errors
            raise
        while self.waiters:
            _, waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self.idle.append(conn)


class Postgres:
    """asyncpg with prepared statements, ten connections, and the timeouts every external call
    needs (statement_timeout on the server, a command timeout in the client)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def start(self) -> None:
        connections = [
            await asyncpg.connect(
                self.url, command_timeout=35, server_settings={"statement_timeout": "30000"}
            )
            for _ in range(10)
        ]
        self.pool = FreeList(connections)

    async def apply(self, event: dict[str, Any]) -> str:
        # The same two statements as the service: read the row, then one statement that
        # records the delivery and writes the row guarded by the version read, or neither.
        async with self.pool.acquire() as conn:
            for _ in range(10):
                row = await conn.fetchrow(PG_BY_ID, event["uploadId"])
                if row is None:
                    return "unknown_upload"
                new = next_row(dict(row.items()), event, datetime.now(UTC))
                if new is None:
                    inserted = await conn.fetchval(
                        "INSERT INTO webhook_deliveries (provider, delivery_id, received_at) "
                        "VALUES ('fake', $1, now()) ON CONFLICT DO NOTHING RETURNING 1",
                        event["eventId"],
                    )
                    return "unchanged" if inserted else "duplicate"
                try:
                    outcome = await conn.fetchval(
                        PG_APPLY,
                        *[new[name] for name in SET_NAMES],
                        row["id"],
                        row["version"],
                        "fake",
                        event["eventId"],
                        datetime.now(UTC),
                    )
                except asyncpg.DivisionByZeroError:
                    continue  # lost a race: read again
                return "applied" if outcome == 1 else "duplicate"
            return "conflict"

    async def get(self, upload_id: str) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetchrow(PG_BY_ID, upload_id)

    async def insert(self, row: dict[str, Any]) -> None:
        full = new_upload_row(row)
        full["metadata"] = json.dumps(full["metadata"], separators=(",", ":"))
        async with self.pool.acquire() as conn:
            await conn.execute(PG_INSERT, *[full[name] for name in NAMES])


class Sqlite:
    """The fastest way we know on SQLite: lookups on the event loop's thread (WAL readers do not
    wait), each write transaction one job on a single writer thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.writer = ThreadPoolExecutor(max_workers=1)

    async def start(self) -> None:
        self.reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.reader.row_factory = sqlite3.Row
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")

    def _apply(self, event: dict[str, Any]) -> str:
        conn = self.conn
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        conn.execute("BEGIN IMMEDIATE")
        try:
            cursor = conn.execute(
                "INSERT INTO webhook_deliveries (provider, delivery_id, received_at) "
                "VALUES ('fake', ?, ?) ON CONFLICT DO NOTHING",
                (event["eventId"], now),
            )
            if cursor.rowcount != 1:
                conn.execute("ROLLBACK")
                return "duplicate"
            row = conn.execute(SQLITE_BY_ID, (event["uploadId"],)).fetchone()
            current = None if row is None else dict(zip(NAMES, row, strict=True))
            new = None if current is None else next_row(current, event, now)
            if current is None or new is None:
                conn.execute("COMMIT")
                return "unchanged"
            values = [new[name] for name in SET_NAMES]
            conn.execute(SQLITE_UPDATE, [*values, current["id"], current["version"]])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return "applied"

    async def apply(self, event: dict[str, Any]) -> str:
        return await asyncio.get_running_loop().run_in_executor(self.writer, self._apply, event)

    async def get(self, upload_id: str) -> Any:
        return self.reader.execute(SQLITE_BY_ID, (upload_id,)).fetchone()

    def _insert(self, row: dict[str, Any]) -> None:
        full = new_upload_row(row)
        created = row["created_at"].replace(tzinfo=None).isoformat(" ", "microseconds")
        full.update(created_at=created, updated_at=created, metadata=json.dumps(full["metadata"]))
        self.conn.execute(SQLITE_INSERT, [full[name] for name in NAMES])

    async def insert(self, row: dict[str, Any]) -> None:
        await asyncio.get_running_loop().run_in_executor(self.writer, self._insert, row)


def build_app(db: Postgres | Sqlite) -> web.Application:
    dumps = json.dumps

    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(request.headers.get("Media-Core-Signature"), body):
            return web.Response(status=401)
        event = json.loads(body)
        outcome = await db.apply(event)
        return web.Response(
            text=dumps({"outcome": outcome, "id": event["uploadId"], "status": event["status"]}),
            content_type="application/json",
        )

    async def status(request: web.Request) -> web.Response:
        user = user_of(request)
        if user is None:
            return web.Response(status=401)
        row = await db.get(request.match_info["id"])
        if row is None or row["owner_id"] != user:
            return web.Response(status=404)
        return web.Response(text=dumps(row_json(row)), content_type="application/json")

    async def create(request: web.Request) -> web.Response:
        user = user_of(request)
        if user is None:
            return web.Response(status=401)
        data = await request.json()
        size = data.get("fileSize")
        if not isinstance(size, int) or size <= 0 or data.get("mimeType") != "video/mp4":
            return web.Response(status=422)
        now = datetime.now(UTC)
        upload_id = os.urandom(13).hex()
        await db.insert(
            {
                "id": upload_id,
                "owner_id": user,
                "file_name": data["fileName"],
                "file_size": size,
                "mime_type": data["mimeType"],
                "metadata": data.get("metadata", {}),
                "created_at": now,
            }
        )
        url = f"http://127.0.0.1/upload/{upload_id}"
        return web.Response(
            status=201,
            text=dumps(
                {
                    "id": upload_id,
                    "uploadUrl": url,
                    "playbackId": None,
                    "status": "ready_for_upload",
                    "upload": {
                        "url": url,
                        "method": "PUT",
                        "protocol": "put",
                        "headers": {"Content-Type": "video/mp4"},
                        "expiresAt": iso(now + timedelta(hours=1)),
                        "chunkSize": 8388608,
                    },
                }
            ),
            content_type="application/json",
        )

    async def start(_: web.Application) -> None:
        await db.start()

    app = web.Application()
    app.on_startup.append(start)
    app.router.add_post("/api/v1/media/webhook/upload-complete", webhook)
    app.router.add_get("/api/v1/media/status/{id}", status)
    app.router.add_post("/api/v1/media/upload/direct", create)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.db.startswith("sqlite"):
        db: Postgres | Sqlite = Sqlite(args.db.split("///", 1)[1])
    else:
        db = Postgres(args.db.replace("postgresql+asyncpg://", "postgresql://"))
    web.run_app(build_app(db), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
