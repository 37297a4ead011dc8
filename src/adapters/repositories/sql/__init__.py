"""The SQL repository: SQLAlchemy 2 (async Core) on SQLite (aiosqlite) or PostgreSQL (asyncpg).

Running it::

    engine = create_engine("postgresql://user@db/media")  # or "sqlite:///data/media.db"
    await upgrade(engine)                                    # what `media-core migrate` does
    if not await schema_is_current(engine): ...              # what `serve` checks at start
    repository = SqliteMediaRepository(engine)               # or sql_repository(engine)
    ...
    await engine.dispose()

On PostgreSQL, give the repository a bare asyncpg pool for its hot statements (what ``serve``
does)::

    pool = create_driver_pool("postgresql://user@db/media")
    await pool.open()                                        # optional: connect now
    repository = PostgresMediaRepository(engine, driver_pool=pool)
    ...
    await pool.close()
    await engine.dispose()

Inside: one repository class per engine (``_sqlite.py`` with its writer thread in
``_sqlite_writer.py``, ``_postgres.py`` with ``DriverPool`` in ``_pool.py``) over one statement
module (``_statements.py``) and one row codec keyed by column name (``_codec.py``), both built
from the tables in ``_schema.py``; the queries off the hot path are shared, through SQLAlchemy
Core (``_cold.py``), and every database error passes one translator (``_errors.py``).

Tables: ``media_uploads`` (one row per upload; unique id, playback id, and (provider, provider
upload id); indexes for listing an owner's uploads newest first and for the reconciler's scan by
status and ``updated_at``; ``reconcile_after`` is the reconciler's lease, claimed with ``FOR UPDATE
SKIP LOCKED`` by the repositories' ``claim_stale``), ``webhook_deliveries`` (unique
(provider, delivery id), pruned by ``received_at`` with
``prune_deliveries``) and ``idempotency_keys`` (one row per owner and
``Idempotency-Key``, pruned by ``created_at``); ``local_jobs`` holds the local provider's
processing jobs (see ``adapters.providers.local.jobs``). Our migrations record
their revision in their own table, ``media_core_alembic_version`` (:data:`VERSION_TABLE`), so
they never touch a host application's ``alembic_version``.

Errors: a database that cannot be reached, times out, is locked for too long or drops the
connection raises ``media_core.errors.RepositoryUnavailable`` (HTTP 503); the transaction is
rolled back, so nothing is half-written.

Using media-core's tables in a host application's database
----------------------------------------------------------
Pick one of two ways.

1. **Separate migration histories** (simplest). Let media-core migrate its own tables, with
   ``media-core migrate`` or ``await upgrade(engine)``, in the host's database (on PostgreSQL,
   optionally in a schema of its own: ``create_engine(url, search_path="media")``). In the
   host's Alembic ``env.py``, make autogenerate leave our tables alone::

       from adapters.repositories.sql import metadata as media_core_metadata

       def include_object(obj, name, type_, reflected, compare_to):
           return not (type_ == "table" and name in media_core_metadata.tables)

       context.configure(..., target_metadata=host_metadata, include_object=include_object)

   A host table can still hold a foreign key to ``media_uploads.id`` or
   ``media_uploads.playback_id`` (the seed's ``Video`` relation); run ``media-core migrate``
   before the host's own migrations.

2. **One Alembic environment.** Add our revisions to the host's ``alembic.ini``::

       version_locations = %(here)s/migrations/versions <path printed by the line below>
       # python -c "from adapters.repositories.sql import VERSIONS_PATH; print(VERSIONS_PATH)"

   and give autogenerate both metadata objects:
   ``target_metadata = [host_metadata, media_core_metadata]``. Our revisions form their own
   branch, labelled ``media_core`` (:data:`BRANCH_LABEL`), rooted at no host revision: upgrade
   with ``alembic upgrade heads``. A host revision that needs our tables names the revision it
   needs in ``depends_on`` (the current one is ``head_revision()``). In this mode the host's
   Alembic history is the judge of an up-to-date schema (``alembic current`` against
   ``alembic heads``): our revisions are recorded in the host's ``alembic_version``, where a
   dependent host head may stand for ours, so :func:`schema_is_current` does not apply.

Deleting a user: call ``MediaService.delete_all_for_user(user_id)`` (or the repository's
``delete_all_for_user``) from the host's user-deletion code; there is no database-level cascade
to a users table we do not own.
"""

from adapters.repositories.sql._engine import async_url, create_driver_pool, create_engine
from adapters.repositories.sql._errors import is_unavailable
from adapters.repositories.sql._factory import SqlMediaRepository, sql_repository
from adapters.repositories.sql._migrate import (
    BRANCH_LABEL,
    MIGRATIONS_PATH,
    VERSIONS_PATH,
    SchemaStatus,
    alembic_config,
    head_revision,
    schema_is_current,
    schema_status,
    upgrade,
)
from adapters.repositories.sql._pool import DriverPool, PoolClosed, PoolTimeout
from adapters.repositories.sql._postgres import PostgresMediaRepository
from adapters.repositories.sql._schema import (
    VERSION_TABLE,
    UtcDateTime,
    idempotency_keys,
    local_jobs,
    media_uploads,
    metadata,
    webhook_deliveries,
)
from adapters.repositories.sql._sqlite import SqliteMediaRepository

__all__ = [
    "BRANCH_LABEL",
    "MIGRATIONS_PATH",
    "VERSIONS_PATH",
    "VERSION_TABLE",
    "DriverPool",
    "PoolClosed",
    "PoolTimeout",
    "PostgresMediaRepository",
    "SchemaStatus",
    "SqlMediaRepository",
    "SqliteMediaRepository",
    "UtcDateTime",
    "alembic_config",
    "async_url",
    "create_driver_pool",
    "create_engine",
    "head_revision",
    "idempotency_keys",
    "is_unavailable",
    "local_jobs",
    "media_uploads",
    "metadata",
    "schema_is_current",
    "schema_status",
    "sql_repository",
    "upgrade",
    "webhook_deliveries",
]
