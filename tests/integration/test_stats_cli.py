"""``media-core stats``: the storage table, success rate and processing times of a real database."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.repositories.sql import create_engine, sql_repository, upgrade
from entrypoints.cli import main
from media_core.model import FailureCode, UploadStatus
from tests.support.repositories import T0, make_upload


async def _seed(data_dir: Path) -> None:
    engine = create_engine(f"sqlite:///{data_dir / 'media.db'}")
    try:
        await upgrade(engine)
        repository = sql_repository(engine)
        for index, (size, uploaded, ready) in enumerate(((1000, 10, 40), (3000, 20, 80))):
            await repository.add(
                make_upload(
                    f"r{index}",
                    file_size=size,
                    status=UploadStatus.READY,
                    duration=2.0,
                    progress=100,
                    playback_id=f"pb{index}",
                    uploaded_at=T0 + timedelta(seconds=uploaded),
                    ready_at=T0 + timedelta(seconds=ready),
                    updated_at=T0 + timedelta(seconds=ready),
                )
            )
        await repository.add(
            make_upload(
                "f0",
                file_size=500,
                status=UploadStatus.FAILED,
                failure_code=FailureCode.SIZE_MISMATCH,
            )
        )
        await repository.add(
            make_upload(
                "c0", file_size=700, status=UploadStatus.FAILED, failure_code=FailureCode.CANCELLED
            )
        )
        await repository.add(make_upload("m0", provider="mux", file_size=2048))
    finally:
        await engine.dispose()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An embedded-default data directory holding five uploads, named by the environment."""
    asyncio.run(_seed(tmp_path))
    monkeypatch.setenv("MEDIA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MEDIA_PROVIDER", "fake")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


def test_stats_prints_the_table(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Counts and bytes per provider and status, totals, success rate and percentiles."""
    main(["stats"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["provider", "status", "videos", "bytes", "size"]
    rows = [line.split() for line in lines[2:7]]
    assert rows == [
        ["fake", "failed", "2", "1200", "1.2", "KiB"],
        ["fake", "ready", "2", "4000", "3.9", "KiB"],
        ["mux", "uploading", "1", "2048", "2.0", "KiB"],
        ["total", "5", "7248", "7.1", "KiB"],
        [],
    ]
    assert "success rate: 66.7% (2 ready of 3 finished)" in lines
    assert "cancelled: 1 (not counted as failures)" in lines
    assert "created → ready: p50 40.00s  p95 1m20s  p99 1m20s  (last 2 ready)" in lines
    assert "uploaded → ready: p50 30.00s  p95 1m00s  p99 1m00s  (last 2 ready)" in lines


def test_stats_json(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--json`` gives the same figures to scripts."""
    main(["stats", "--json", "--recent", "1"])
    report = json.loads(capsys.readouterr().out)
    assert report["storage"] == [
        {"provider": "fake", "status": "failed", "videos": 2, "bytes": 1200},
        {"provider": "fake", "status": "ready", "videos": 2, "bytes": 4000},
        {"provider": "mux", "status": "uploading", "videos": 1, "bytes": 2048},
    ]
    assert report["successRate"] == pytest.approx(2 / 3)
    assert report["finished"] == {"ready": 2, "failed": 1, "cancelled": 1}
    assert report["readySeconds"] == {"count": 1, "p50": 80.0, "p95": 80.0, "p99": 80.0}
    assert report["processingSeconds"] == {"count": 1, "p50": 60.0, "p95": 60.0, "p99": 60.0}


def test_stats_on_an_empty_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing stored yet: zero totals and no rate rather than a division by zero."""
    monkeypatch.setenv("MEDIA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MEDIA_PROVIDER", "fake")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    main(["stats"])
    out = capsys.readouterr().out
    assert "total" in out
    assert "success rate: n/a (nothing finished yet)" in out
    assert "created → ready: n/a (no ready uploads)" in out
