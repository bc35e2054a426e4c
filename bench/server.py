"""A moto S3 server in its own process on loopback (never sharing the measured client's GIL)."""

from __future__ import annotations

import os
from typing import ContextManager

from etcetera.testing import TEST_KEY_ID, TEST_SECRET, make_bucket, moto_server_process

REGION = "us-east-1"


def moto_process() -> ContextManager[str]:
    """Start `python -m moto.server` on a free 127.0.0.1 port; yield its endpoint URL."""
    return moto_server_process(timeout=30)


def aws_env(base_dir: str) -> dict[str, str]:
    """Environment for awscli/boto3 children: test credentials, no user config files read."""
    empty = os.path.join(base_dir, "aws-empty-config")
    open(empty, "a").close()
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID=TEST_KEY_ID, AWS_SECRET_ACCESS_KEY=TEST_SECRET, AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE=empty, AWS_SHARED_CREDENTIALS_FILE=empty, AWS_EC2_METADATA_DISABLED="true",
               AWS_PAGER="")
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    return env


__all__ = ["moto_process", "aws_env", "make_bucket", "REGION"]
