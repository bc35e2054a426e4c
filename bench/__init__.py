"""etcetera's benchmark: push/pull against aws s3 sync, parallel boto3 and cp -r (`python -m bench`).

Every measured operation runs in its own process (timing and peak memory are per operation), and
the moto S3 server runs in a process of its own, so it never shares the measured client's GIL.
"""
