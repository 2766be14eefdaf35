"""Every attachment test runs on both blob stores (local disk, S3 on moto over HTTP)
times both database profiles; a test may pin `settings_env` to one store."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.support.attachments import LOCAL, S3_KEYS


@pytest.fixture(params=["local", "s3"])
def settings_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "local":
        return dict(LOCAL)
    endpoint = request.getfixturevalue("s3_endpoint")
    return {"MINIO_ENDPOINT": endpoint, **S3_KEYS, "MINIO_BUCKET": f"sav-{uuid4().hex[:12]}"}
