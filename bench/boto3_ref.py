"""The reference client: a plain parallel boto3 upload/download (one ThreadPoolExecutor).

    python -m bench.boto3_ref up   DIR s3://bucket/prefix ENDPOINT WORKERS
    python -m bench.boto3_ref down s3://bucket/prefix DIR ENDPOINT WORKERS

Files up to PART bytes travel in one request each; larger files as multipart uploads and ranged
GETs of PART bytes, all parts on the same pool.  No hashing beyond what boto3 does itself: this
is the practical limit of the client library, what a hand-written script would achieve.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

PART = 16 << 20


def _client(endpoint: str, workers: int):
    return boto3.client("s3", endpoint_url=endpoint,
                        config=Config(max_pool_connections=workers, retries={"max_attempts": 5}))


def _split(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/") + "/" if prefix.strip("/") else ""


def upload(src: Path, url: str, endpoint: str, workers: int) -> None:
    s3 = _client(endpoint, workers)
    bucket, prefix = _split(url)
    files = [p for p in src.rglob("*") if p.is_file()]
    multipart: list[tuple[str, str, list]] = []

    def put(path: Path, key: str) -> None:
        with open(path, "rb") as fh:
            s3.put_object(Bucket=bucket, Key=key, Body=fh)

    def put_part(path: Path, key: str, upload_id: str, number: int, offset: int, length: int) -> dict:
        with open(path, "rb") as fh:
            fh.seek(offset)
            body = fh.read(length)
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)["ETag"]
        return {"PartNumber": number, "ETag": etag}

    with ThreadPoolExecutor(workers) as pool:
        futures = []
        for path in files:
            key = prefix + path.relative_to(src).as_posix()
            size = path.stat().st_size
            if size <= PART:
                futures.append(pool.submit(put, path, key))
                continue
            upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
            parts = [pool.submit(put_part, path, key, upload_id, i + 1, off, min(PART, size - off))
                     for i, off in enumerate(range(0, size, PART))]
            multipart.append((key, upload_id, parts))
        for f in futures:
            f.result()
        for key, upload_id, parts in multipart:
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                         MultipartUpload={"Parts": [p.result() for p in parts]})


def download(url: str, dst: Path, endpoint: str, workers: int) -> None:
    s3 = _client(endpoint, workers)
    bucket, prefix = _split(url)
    objects = [(o["Key"], o["Size"]) for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
               for o in page.get("Contents", [])]

    def get(key: str, path: Path, offset: int | None, length: int | None) -> None:
        kwargs = {} if offset is None else {"Range": f"bytes={offset}-{offset + length - 1}"}
        body = s3.get_object(Bucket=bucket, Key=key, **kwargs)["Body"]
        fd = os.open(path, os.O_WRONLY)
        try:
            pos = offset or 0
            for block in body.iter_chunks(1 << 20):
                os.pwrite(fd, block, pos)
                pos += len(block)
        finally:
            os.close(fd)

    with ThreadPoolExecutor(workers) as pool:
        futures = []
        for key, size in objects:
            path = dst / key[len(prefix):]
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as fh:
                fh.truncate(size)
            if size <= PART:
                futures.append(pool.submit(get, key, path, None, None))
            else:
                futures += [pool.submit(get, key, path, off, min(PART, size - off)) for off in range(0, size, PART)]
        for f in futures:
            f.result()


def main(argv: list[str]) -> None:
    direction, a, b, endpoint, workers = argv
    if direction == "up":
        upload(Path(a), b, endpoint, int(workers))
    else:
        download(a, Path(b), endpoint, int(workers))


if __name__ == "__main__":
    main(sys.argv[1:])
