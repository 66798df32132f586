#!/usr/bin/env python3
"""Copies one object from one S3 bucket to another, each side with its own
credentials, read from prefixed variables as `sesame exec` injects them from
two R2 leases: {PREFIX}AWS_ACCESS_KEY_ID, {PREFIX}AWS_SECRET_ACCESS_KEY,
{PREFIX}AWS_SESSION_TOKEN (optional), {PREFIX}AWS_ENDPOINT_URL_S3,
{PREFIX}AWS_REGION and {PREFIX}R2_BUCKET.

    s3_copy.py SRC_PREFIX DST_PREFIX KEY [DEST_KEY]

Python standard library only: SigV4 signing by hand (path-style requests,
signed payload hash). Prints one line on success; exits 1 with the server's
answer on failure. A stand-in for a migration tool in the tests.
"""
import datetime
import hashlib
import hmac
import os
import sys
import urllib.error
import urllib.parse
import urllib.request


def side(prefix):
    env = lambda name: os.environ.get(prefix + name)
    missing = [n for n in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3", "R2_BUCKET") if not env(n)]
    if missing:
        sys.exit(f"s3_copy: missing {', '.join(prefix + n for n in missing)}")
    return {
        "key_id": env("AWS_ACCESS_KEY_ID"),
        "secret": env("AWS_SECRET_ACCESS_KEY"),
        "token": env("AWS_SESSION_TOKEN"),
        "endpoint": env("AWS_ENDPOINT_URL_S3").rstrip("/"),
        "region": env("AWS_REGION") or "auto",
        "bucket": env("R2_BUCKET"),
    }


def sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def request(creds, method, key, body=b""):
    url = urllib.parse.urlsplit(creds["endpoint"])
    path = "/" + creds["bucket"] + "/" + urllib.parse.quote(key, safe="/-_.~")
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(body).hexdigest()
    headers = {"host": url.netloc, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
    if creds["token"]:
        headers["x-amz-security-token"] = creds["token"]
    names = sorted(headers)
    canonical = "\n".join([
        method, path, "",
        "".join(f"{n}:{headers[n].strip()}\n" for n in names),
        ";".join(names), payload,
    ])
    scope = f"{day}/{creds['region']}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = sign(("AWS4" + creds["secret"]).encode(), day)
    for part in (creds["region"], "s3", "aws4_request"):
        k = sign(k, part)
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds['key_id']}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    del headers["host"]
    req = urllib.request.Request(f"{url.scheme}://{url.netloc}{path}", data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.read()
    except urllib.error.HTTPError as e:
        sys.exit(f"s3_copy: {method} {path}: HTTP {e.code}: {e.read().decode(errors='replace')}")


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    src, dst, key = side(sys.argv[1]), side(sys.argv[2]), sys.argv[3]
    dest_key = sys.argv[4] if len(sys.argv) == 5 else key
    data = request(src, "GET", key)
    request(dst, "PUT", dest_key, data)
    print(f"copied {src['bucket']}/{key} -> {dst['bucket']}/{dest_key} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
