#!/usr/bin/env python3
"""Seeds a running moto server for `tests/integration/r2_moto.rs`: two
buckets, IAM users whose policies mirror R2 token permissions, their access
keys; then turns authentication on (`/moto-api/reset-auth`), so every later
request is checked for its SigV4 signature and IAM policy.

    moto_setup.py http://127.0.0.1:PORT

Prints one JSON object: {"users": {NAME: {"id": ..., "secret": ...}}}.
Run it with the python of moto's virtualenv (it needs boto3).
"""
import json
import sys
import urllib.request

import boto3

endpoint = sys.argv[1]
session = boto3.session.Session(aws_access_key_id="setup", aws_secret_access_key="setup", region_name="us-east-1")
s3 = session.client("s3", endpoint_url=endpoint)
iam = session.client("iam", endpoint_url=endpoint)

s3.create_bucket(Bucket="moto-source")
s3.create_bucket(Bucket="moto-dest")
# A bucket no test targets: an account-wide key sees it in ListBuckets.
s3.create_bucket(Bucket="moto-unrelated")
s3.put_object(Bucket="moto-source", Key="cat.jpg", Body=b"meow, a jpeg")
s3.put_object(Bucket="moto-source", Key="dog.jpg", Body=b"woof, a jpeg")


def bucket(name):
    return [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]


# moto checks HeadBucket as the action s3:HeadBucket.
READ = ["s3:ListBucket", "s3:HeadBucket", "s3:GetObject"]
WRITE = READ + ["s3:PutObject", "s3:DeleteObject"]
POLICIES = {
    # Cloney's source token: Object Read on the source bucket.
    "reader": [{"Effect": "Allow", "Action": READ, "Resource": bucket("moto-source")}],
    # Cloney's destination token: Object Read & Write on the destination bucket.
    "writer": [{"Effect": "Allow", "Action": WRITE, "Resource": bucket("moto-dest")}],
    # A "source" token that can also write: over-privileged.
    "overpriv": [{"Effect": "Allow", "Action": "s3:*", "Resource": bucket("moto-source")}],
    # Admin on everything: account-wide.
    "wide": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    # Object Read on the destination only (wrong bucket for a source).
    "elsewhere": [{"Effect": "Allow", "Action": READ, "Resource": bucket("moto-dest")}],
}

users = {}
for name, statements in POLICIES.items():
    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName=f"{name}-policy",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    users[name] = {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}

# From now on, every request must be signed by a known key and allowed.
urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"})).read()
print(json.dumps({"users": users}))
