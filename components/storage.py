"""A bucket with every secure default on: the one way this project makes S3 buckets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import pulumi
import pulumi_aws as aws

from . import tokens


@dataclass(frozen=True)
class SecureBucketArgs:
    tags: dict[str, str]
    # SSE-KMS with this key; None means SSE-S3 (only for log buckets that AWS services write to,
    # since load balancer access logs cannot be delivered to SSE-KMS buckets).
    kms_key_arn: pulumi.Input[str] | None
    protect: bool
    force_destroy: bool
    # Principals (role ARNs) that alone may read and write objects; None means IAM decides.
    data_principals: pulumi.Input[Sequence[str]] | None = None
    # Extra statements (e.g. log delivery) added to the bucket policy, as a function of the bucket ARN.
    extra_statements: Any = None
    expire_after_days: int | None = None
    purpose: str = "documents"
    # Server access logs (FSBP S3.9) go to this bucket, under `prefix`; None only for the access-logs bucket itself.
    access_log_bucket: pulumi.Input[str] | None = None
    access_log_prefix: str = ""


class SecureBucket(pulumi.ComponentResource):
    """Versioned, encrypted, private, owner-enforced, TLS-only bucket.

    The caller states intent (which key, who may touch the data); it cannot switch off encryption,
    versioning, the public access block or the TLS-only policy.
    """

    bucket: aws.s3.Bucket

    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(tokens.SECURE_BUCKET, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, "purpose": args.purpose}

        self.bucket = aws.s3.Bucket(
            name,
            force_destroy=args.force_destroy,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        bucket_id = self.bucket.id
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket_id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket_id, versioning_configuration={"status": "Enabled"}, opts=child
        )
        if args.kms_key_arn is not None:
            default = {"sse_algorithm": "aws:kms", "kms_master_key_id": args.kms_key_arn}
        else:
            default = {"sse_algorithm": "AES256"}
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket_id,
            rules=[{"apply_server_side_encryption_by_default": default, "bucket_key_enabled": args.kms_key_arn is not None}],
            opts=child,
        )
        if args.access_log_bucket is not None:
            aws.s3.BucketLogging(f"{name}-logging", bucket=bucket_id, target_bucket=args.access_log_bucket,
                                 target_prefix=args.access_log_prefix, opts=child)
        if args.expire_after_days:
            aws.s3.BucketLifecycleConfiguration(
                f"{name}-lifecycle",
                bucket=bucket_id,
                rules=[
                    {
                        "id": "expire-after-retention",
                        "status": "Enabled",
                        "filter": {"prefix": ""},
                        "expiration": {"days": args.expire_after_days},
                        "noncurrent_version_expiration": {"noncurrent_days": args.expire_after_days},
                        "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                    }
                ],
                opts=child,
            )

        policy = pulumi.Output.all(
            arn=self.bucket.arn,
            principals=args.data_principals if args.data_principals is not None else [],
            extra=args.extra_statements(self.bucket.arn) if args.extra_statements else [],
        ).apply(lambda v: json.dumps(bucket_policy(v["arn"], v["principals"], v["extra"])))
        bucket_policy_ = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket_id,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access, ownership]),
        )

        # What users of the bucket get: its name and ARN once its policy is in place, so that a
        # writer (load-balancer access logs, flow logs, the application) never starts before it.
        ready = bucket_policy_.id
        self.bucket_name = pulumi.Output.all(self.bucket.bucket, ready).apply(lambda v: v[0])
        self.arn = pulumi.Output.all(self.bucket.arn, ready).apply(lambda v: v[0])
        self.register_outputs({"bucketName": self.bucket.bucket, "arn": self.bucket.arn, "purpose": args.purpose})


def bucket_policy(bucket_arn: str, data_principals: Sequence[str], extra: Sequence[dict]) -> dict:
    """TLS only; optionally, object data read and written only by the named principals.

    Deleting and listing stay with IAM, so that `pulumi destroy` can still empty a disposable bucket.
    """
    objects = f"{bucket_arn}/*"
    statements: list[dict] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if data_principals:
        statements.append(
            {
                "Sid": "DenyDataAccessOutsideThePair",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:GetObject*", "s3:PutObject*", "s3:RestoreObject"],
                "Resource": [bucket_arn, objects],
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": sorted(data_principals)}},
            }
        )
    statements.extend(extra)
    return {"Version": "2012-10-17", "Statement": statements}
