"""Expands a SAM template to plain CloudFormation with samtranslator, offline."""
import json
import os
import sys

import boto3
from samtranslator.public.translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class OfflinePolicies(ManagedPolicyLoader):
    """Resolves AWS managed policy names to ARNs without calling IAM."""

    def __init__(self):
        pass

    def load(self):
        return {}


def main(src, dst):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(src) as f:
        sam = yaml_parse(f.read())
    # `sam package` would upload the code and put S3 locations here; do the same on paper.
    for resource in sam.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://woolink-artifacts/code.zip"
    boto3.setup_default_session(region_name="us-east-1")
    cfn = transform(sam, {}, OfflinePolicies())
    with open(dst, "w") as f:
        json.dump(cfn, f, indent=2, default=str)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
