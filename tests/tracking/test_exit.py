"""At exit every open run is ended, even when another's store has gone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from tests.conftest import PG_ADMIN_URL

SCRIPT = """
import sys
import sqlalchemy as sa
import cairn
from cairn.store import Store

url, admin, blobs = sys.argv[1:]
kept = cairn.start_run("kept")
gone = cairn.start_run("gone", store=Store(url, blobs))
print(kept.id, flush=True)
name = url.rsplit("/", 1)[1]
engine = sa.create_engine(admin.replace("postgresql://", "postgresql+psycopg://"),
                          isolation_level="AUTOCOMMIT")
with engine.connect() as conn:  # the second run's database goes before the process ends
    conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
"""


@pytest.mark.postgres
def test_a_run_whose_store_is_gone_does_not_keep_the_others_open(
    workspace: Path, pg_url: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, pg_url, PG_ADMIN_URL, str(workspace / "other-blobs")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    kept = done.stdout.strip()
    assert cairn.get_run(kept).status == "finished"
    assert "could not end run" in done.stderr and "Traceback" not in done.stderr
