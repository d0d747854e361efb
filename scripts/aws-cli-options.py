#!/usr/bin/env python3
"""Writes tests/vectors/aws-cli-options.tsv: for every AWS CLI command `eic-ssh doctor` prints,
the options the AWS CLI v2 accepts, from botocore's service models (the CLI builds its
commands from the same models): each input member in kebab-case (`--no-NAME` too for a
boolean), the pagination options for a paginated operation, and the CLI's global options.
For an option whose value is a list of structures or a structure, the shorthand keys its
members take (`IpProtocol=tcp,FromPort=22,…`). tests/aws/doctor.rs checks every printed `aws …`
line against it.

Run by hand, offline:

    python3 -m venv /tmp/bv && /tmp/bv/bin/pip install botocore
    /tmp/bv/bin/python scripts/aws-cli-options.py > tests/vectors/aws-cli-options.tsv
"""

import sys

import botocore  # noqa: E402
import botocore.session  # noqa: E402
from botocore import xform_name  # noqa: E402

# Every operation doctor prints, by service.
OPERATIONS = {
    "ec2": [
        "StartInstances",
        "CreateInstanceConnectEndpoint",
        "ModifyInstanceConnectEndpoint",
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
    ],
    "iam": [
        "PutRolePolicy",
        "PutUserPolicy",
        "SimulatePrincipalPolicy",
        "GetRole",
    ],
}

# The AWS CLI v2's global options (`aws help`, "GLOBAL OPTIONS").
GLOBAL = [
    "--debug",
    "--endpoint-url",
    "--no-verify-ssl",
    "--no-paginate",
    "--output",
    "--query",
    "--profile",
    "--region",
    "--version",
    "--color",
    "--no-sign-request",
    "--ca-bundle",
    "--cli-read-timeout",
    "--cli-connect-timeout",
    "--cli-binary-format",
    "--no-cli-pager",
    "--cli-auto-prompt",
    "--no-cli-auto-prompt",
]

# Every command's own: input from a file, the skeleton.
PER_COMMAND = ["--cli-input-json", "--cli-input-yaml", "--generate-cli-skeleton"]


def shorthand_keys(shape):
    """The member names a shorthand value takes, for a structure or a list of them."""
    if shape.type_name == "list":
        shape = shape.member
    if shape.type_name == "structure":
        return sorted(shape.members)
    return []


def main():
    session = botocore.session.get_session()
    out = sys.stdout
    out.write(
        f"# botocore {botocore.__version__}, written by: "
        "python3 scripts/aws-cli-options.py > tests/vectors/aws-cli-options.tsv\n"
    )
    out.write("# global\tOPTION…\n# command\tSERVICE\tCOMMAND\tOPTION…\n")
    out.write("# keys\tSERVICE\tCOMMAND\tOPTION\tSHORTHAND KEY…\n")
    out.write("global\t" + " ".join(GLOBAL) + "\n")
    for service, operations in OPERATIONS.items():
        model = session.get_service_model(service)
        try:
            paginators = session.get_paginator_model(service)
        except Exception:  # noqa: BLE001 - a service without paginators
            paginators = None
        for operation in operations:
            op = model.operation_model(operation)
            command = xform_name(operation, "-")
            members = dict(op.input_shape.members) if op.input_shape else {}
            options = list(PER_COMMAND)
            config = None
            if paginators is not None:
                try:
                    config = paginators.get_paginator(operation)
                except ValueError:
                    config = None
            if config:
                hidden = config["input_token"]
                hidden = hidden if isinstance(hidden, list) else [hidden]
                hidden += [config["limit_key"]] if "limit_key" in config else []
                for name in hidden:
                    members.pop(name, None)
                options += ["--starting-token", "--max-items", "--page-size"]
            keys = []
            for name, shape in members.items():
                option = "--" + xform_name(name, "-")
                options.append(option)
                if shape.type_name == "boolean":
                    options.append("--no-" + xform_name(name, "-"))
                nested = shorthand_keys(shape)
                if nested:
                    keys.append((option, nested))
            out.write(f"command\t{service}\t{command}\t{' '.join(sorted(options))}\n")
            for option, nested in keys:
                out.write(f"keys\t{service}\t{command}\t{option}\t{' '.join(nested)}\n")


if __name__ == "__main__":
    main()
