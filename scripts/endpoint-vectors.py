#!/usr/bin/env python3
"""Writes tests/vectors/endpoints.tsv: the API endpoint botocore's own rules pick for every
region it knows (plus unknown regions that only a partition's regex matches), for EC2,
EC2 Instance Connect, STS, SSO, CloudTrail and IAM, with FIPS and dual-stack off and on, or botocore's
refusal. A sixth column names the region a request is signed for when it is not the
region itself (IAM, a global service, signs for its partition's global region). The unit test `every_botocore_vector_matches_the_table` (src/aws/endpoints.rs)
compares every row with eic-ssh's table.

Run by hand, offline (no request is sent; botocore resolves endpoints locally):

    python3 -m venv /tmp/bv && /tmp/bv/bin/pip install botocore
    /tmp/bv/bin/python scripts/endpoint-vectors.py > tests/vectors/endpoints.tsv
"""

import os
import sys
from urllib.parse import urlsplit

# Nothing from this machine's AWS set-up may change the answers.
for name in list(os.environ):
    if name.startswith("AWS_"):
        del os.environ[name]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

import botocore  # noqa: E402
import botocore.session  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import EndpointResolutionError, EndpointVariantError  # noqa: E402

SERVICES = ["ec2", "ec2-instance-connect", "sts", "sso", "cloudtrail", "iam"]
VARIANTS = {
    "plain": (False, False),
    "fips": (True, False),
    "dualstack": (False, True),
    "fips+dualstack": (True, True),
}
# Regions no partition lists, each matched by one partition's regex only; the last
# matches none (botocore then falls back to the first partition, aws).
UNLISTED = {
    "us-west-9": "aws",
    "ap-mars-1": "aws",
    "cn-south-7": "aws-cn",
    "eusc-de-west-2": "aws-eusc",
    "us-iso-north-5": "aws-iso",
    "us-isob-south-3": "aws-iso-b",
    "eu-isoe-north-2": "aws-iso-e",
    "us-isof-west-4": "aws-iso-f",
    "us-gov-central-1": "aws-us-gov",
    "xx-nowhere-1": "aws",
}


def main():
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    partitions = loader.load_data("partitions")["partitions"]
    regions = [(r, p["id"]) for p in partitions for r in sorted(p["regions"])]
    regions += list(UNLISTED.items())

    out = sys.stdout
    out.write(
        f"# botocore {botocore.__version__}, written by: "
        "python3 scripts/endpoint-vectors.py > tests/vectors/endpoints.tsv\n"
    )
    out.write(
        "# service\tregion\tpartition\tvariant\thost, or refused: botocore's message"
        "\t[signing region, when not the region]\n"
    )
    for service in SERVICES:
        for region, partition in regions:
            for variant, (fips, dual) in VARIANTS.items():
                config = Config(use_fips_endpoint=fips, use_dualstack_endpoint=dual)
                try:
                    client = session.create_client(
                        service,
                        region_name=region,
                        aws_access_key_id="AKIDEXAMPLE",
                        aws_secret_access_key="secret",
                        config=config,
                    )
                except EndpointVariantError as e:
                    signing = None
                    # The client is refused at creation: the legacy endpoint data models
                    # no such variant there.
                    answer = "refused: " + str(e)
                else:
                    partition_of(client._ruleset_resolver, region, partition)
                    answer, signing = host(client)
                line = f"{service}\t{region}\t{partition}\t{variant}\t{answer}"
                if signing not in (None, region):
                    line += f"\t{signing}"
                out.write(line + "\n")


def partition_of(resolver, region, expected):
    """The partition botocore's own `aws.partition` picks: it must be the one expected."""
    name = resolver._provider.ruleset.rule_lib.aws_partition(region)["name"]
    if name != expected:
        raise SystemExit(f"{region}: botocore picks partition {name}, not {expected}")
    return name


def host(client):
    """The host of the first operation's endpoint and the region it is signed for, or
    botocore's refusal."""
    operation = client.meta.service_model.operation_names[0]
    model = client.meta.service_model.operation_model(operation)
    try:
        endpoint = client._ruleset_resolver.construct_endpoint(
            operation_model=model, call_args={}, request_context={}
        )
    except EndpointResolutionError as e:
        return "refused: " + str(e).removeprefix("Error during endpoint resolution: ").strip(), None
    url = urlsplit(endpoint.url)
    if url.scheme != "https" or url.path not in ("", "/") or url.port:
        raise SystemExit(f"unexpected endpoint {endpoint.url}")
    schemes = endpoint.properties.get("authSchemes") or [{}]
    return url.hostname, schemes[0].get("signingRegion")


if __name__ == "__main__":
    main()
