"""The self-hosted ``local`` provider: this machine probes, thumbnails and transcodes (PyAV).

Processing is :mod:`.pipeline` over :mod:`.probe`, :mod:`.ladder`, :mod:`.hls` (with
:mod:`.playlists`) and :mod:`.thumbnails`; around it,
:mod:`.provider` (the ``VideoProvider``), :mod:`.worker` (jobs claimed with a lease),
:mod:`.jobs` (the ``local_jobs`` table), :mod:`.storage` (one interface, a folder by default) and
:mod:`.http` (the routes it contributes).
"""

from adapters.providers.local._notify import Notifier
from adapters.providers.local.http import local_routes
from adapters.providers.local.jobs import Job, JobState, SqlJobStore
from adapters.providers.local.provider import LocalVideoProvider
from adapters.providers.local.storage import FolderStorage, MediaStorage
from adapters.providers.local.worker import LocalWorker, WorkerSettings

__all__ = [
    "FolderStorage",
    "Job",
    "JobState",
    "LocalVideoProvider",
    "LocalWorker",
    "MediaStorage",
    "Notifier",
    "SqlJobStore",
    "WorkerSettings",
    "local_routes",
]
