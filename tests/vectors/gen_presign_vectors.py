#!/usr/bin/env python3
"""Writes presign.json: openTunnel URLs presigned by botocore, the library the AWS CLI uses.

Run: pip install botocore && python3 tests/vectors/gen_presign_vectors.py > tests/vectors/presign.json
The Rust test tests/aws/presign_vectors.rs checks eic-ssh's presigner against every case.
"""
import datetime
import json
from unittest import mock

import botocore
import botocore.auth
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
DNS = "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com"

CASES = [
    dict(name="golden", token=None, region="us-east-1", host=DNS,
         ip="10.0.1.5", port=22, duration=3600, time="2024-01-01T00:00:00Z"),
    dict(name="session-token", token="FwoGZXIvYXdzEXAMPLE//token+with/slashes=",
         region="us-east-1", host=DNS, ip="10.0.1.5", port=22, duration=3600,
         time="2024-01-01T00:00:00Z"),
    dict(name="ipv6-private-address", token=None, region="eu-west-1",
         host=DNS.replace("us-east-1", "eu-west-1"), ip="2001:db8::1234", port=22,
         duration=None, time="2025-06-30T23:59:59Z"),
    dict(name="no-max-duration-rdp", token=None, region="ap-northeast-1",
         host=DNS.replace("us-east-1", "ap-northeast-1"), ip="172.31.7.200", port=3389,
         duration=None, time="2026-11-28T12:34:56Z"),
    dict(name="override-host-with-port", token="short-token", region="us-east-1",
         host="localhost:8443", ip="10.0.1.5", port=22, duration=60,
         time="2024-02-29T08:00:00Z"),
]


def presign(case):
    params = {
        "instanceConnectEndpointId": "eice-0123456789abcdef0",
        "remotePort": str(case["port"]),
        "privateIpAddress": case["ip"],
    }
    if case["duration"] is not None:
        params["maxTunnelDuration"] = str(case["duration"])
    request = AWSRequest(method="GET", url=f"wss://{case['host']}/openTunnel", params=params)
    creds = Credentials(KEY, SECRET, case["token"])
    when = datetime.datetime.strptime(case["time"], "%Y-%m-%dT%H:%M:%SZ")
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
        SigV4QueryAuth(creds, "ec2-instance-connect", case["region"], expires=60).add_auth(request)
    return request.prepare().url


def main():
    out = {"botocore": botocore.__version__, "access_key": KEY, "secret_key": SECRET,
           "cases": []}
    for case in CASES:
        out["cases"].append(dict(case, url=presign(case)))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
