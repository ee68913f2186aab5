"""Every type token the program registers, or the pack and envctl read, declared once; and the output
keys of the components the pack reads (the Environment's and the Instance's registered outputs).

Nothing else under components/, policies/ or envctl/ spells a token (a test scans the source). The
pulumi-aws tokens are the ones pulumi-aws v7 registers (a test compares them with its classes); the
few the pack recognises beyond them (`RECOGNISED_*`) are other spellings of the same AWS resource a
stack could register, so that a rule never overlooks one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

# -- the engine's own types --------------------------------------------------------------------
STACK = "pulumi:pulumi:Stack"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
PROVIDER_PREFIX = "pulumi:providers:"

# -- the program's components --------------------------------------------------------------------
ENVIRONMENT = "clinspark:environment:Environment"
INSTANCE_PAIR = "clinspark:environment:InstancePair"
INSTANCE = "clinspark:environment:Instance"
DATABASE = "clinspark:environment:Database"
APPLICATION = "clinspark:environment:Application"
HTTPS_ENTRY = "clinspark:environment:HttpsEntry"
NETWORK = "clinspark:network:Network"
SECURE_BUCKET = "clinspark:storage:SecureBucket"

# -- pulumi-aws v7 resources ------------------------------------------------------------------------
S3_BUCKET = "aws:s3/bucket:Bucket"
S3_BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
S3_BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
S3_BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_BUCKET_OWNERSHIP_CONTROLS = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
S3_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
S3_BUCKET_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
S3_BUCKET_ACL = "aws:s3/bucketAcl:BucketAcl"
S3_BUCKET_LOGGING = "aws:s3/bucketLogging:BucketLogging"
KMS_KEY = "aws:kms/key:Key"
KMS_ALIAS = "aws:kms/alias:Alias"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_SNAPSHOT = "aws:rds/snapshot:Snapshot"
RDS_SNAPSHOT_COPY = "aws:rds/snapshotCopy:SnapshotCopy"
RDS_SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
EIP = "aws:ec2/eip:Eip"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
EC2_INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EBS_VOLUME = "aws:ebs/volume:Volume"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ECS_CLUSTER = "aws:ecs/cluster:Cluster"
ECS_TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
ECS_SERVICE = "aws:ecs/service:Service"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
CERTIFICATE = "aws:acm/certificate:Certificate"
CERTIFICATE_VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
DNS_RECORD = "aws:route53/record:Record"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
RANDOM_STRING = "random:index/randomString:RandomString"

# -- pulumi-aws v7 resources the program does not register, which rules judge all the same ----------------
IAM_POLICY = "aws:iam/policy:Policy"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
IAM_USER_POLICY_ATTACHMENT = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
IAM_GROUP_POLICY_ATTACHMENT = "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"
IAM_POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
KMS_GRANT = "aws:kms/grant:Grant"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
RDS_CLUSTER_SNAPSHOT = "aws:rds/clusterSnapshot:ClusterSnapshot"
RDS_CLUSTER_PARAMETER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
ECS_TASK_SET = "aws:ecs/taskSet:TaskSet"
LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"
SPOT_INSTANCE_REQUEST = "aws:ec2/spotInstanceRequest:SpotInstanceRequest"
EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"

# -- other spellings of the same AWS resources, which the pack recognises too -----------------------------
LEGACY_S3_BUCKET = "aws:s3/bucketV2:BucketV2"
LEGACY_S3_BUCKET_VERSIONING = "aws:s3/bucketVersioningV2:BucketVersioningV2"
LEGACY_S3_BUCKET_ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
)
LEGACY_S3_BUCKET_ACL = "aws:s3/bucketAclV2:BucketAclV2"
ALB_LOAD_BALANCER = "aws:alb/loadBalancer:LoadBalancer"
ALB_LISTENER = "aws:alb/listener:Listener"

RECOGNISED_BUCKETS = (S3_BUCKET, LEGACY_S3_BUCKET)
RECOGNISED_BUCKET_VERSIONINGS = (S3_BUCKET_VERSIONING, LEGACY_S3_BUCKET_VERSIONING)
RECOGNISED_BUCKET_ENCRYPTIONS = (S3_BUCKET_ENCRYPTION, LEGACY_S3_BUCKET_ENCRYPTION)
RECOGNISED_BUCKET_ACLS = (S3_BUCKET_ACL, LEGACY_S3_BUCKET_ACL)
RECOGNISED_LOAD_BALANCERS = (LOAD_BALANCER, ALB_LOAD_BALANCER)
RECOGNISED_LISTENERS = (LISTENER, ALB_LISTENER)

# -- provider functions the program invokes (the offline engine answers them) ---------------------------
GET_CALLER_IDENTITY = "aws:index/getCallerIdentity:getCallerIdentity"
GET_PARTITION = "aws:index/getPartition:getPartition"
GET_REGION = "aws:index/getRegion:getRegion"
GET_AVAILABILITY_ZONES = "aws:index/getAvailabilityZones:getAvailabilityZones"
GET_ZONE = "aws:route53/getZone:getZone"
GET_ELB_SERVICE_ACCOUNT = "aws:elb/getServiceAccount:getServiceAccount"
GET_RDS_SNAPSHOT = "aws:rds/getSnapshot:getSnapshot"
GET_RDS_INSTANCES = "aws:rds/getInstances:getInstances"
GET_RDS_INSTANCE = "aws:rds/getInstance:getInstance"


# -- component outputs: one typed structure per component, its keys derived once ----------------------
def output_key(field_name: str) -> str:
    """The registered (camelCase) key of an outputs field: `expires_on` -> `expiresOn`."""
    head, *rest = field_name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class OutputKeys:
    """The registered keys of an outputs dataclass, by field name: `ENVIRONMENT_KEYS.expires_on` is
    "expiresOn"; a field the structure lacks is an AttributeError, never a silent None."""

    def __init__(self, structure: type):
        self._keys = {f.name: output_key(f.name) for f in fields(structure)}

    def __getattr__(self, name: str) -> str:
        try:
            return self.__dict__["_keys"][name]
        except KeyError:
            raise AttributeError(f"no output {name!r}") from None

    def __iter__(self):
        return iter(self._keys.values())


def _registered(outputs: Any) -> dict[str, Any]:
    return {output_key(f.name): getattr(outputs, f.name) for f in fields(outputs)}


@dataclass(frozen=True)
class EnvironmentOutputs:
    """What the Environment registers (and the pack reads); the stack exports all but the last six."""

    customer: str | None
    phase: str
    controlled: bool
    qualified: bool
    disposable: bool
    retiring: bool
    expires_on: str | None
    change_record: str | None
    desired_state_digest: str | None
    approval: dict | None
    release: str
    region: str
    instances: dict[str, dict[str, Any]]
    exchange_bucket: Any
    access_logs_bucket: Any
    snapshots: dict[str, Any]
    clone_from: dict[str, str] | None
    # registered for the pack, not exported
    stack: str
    environment_name: str
    topology: str
    roles: list[str]
    account_id: Any  # the account the stack deploys into (the engine's caller identity)
    key_arns: Any  # the ARNs of every KMS key the stack created

    NOT_EXPORTED = ("stack", "environmentName", "topology", "roles", "accountId", "keyArns")

    def registered(self) -> dict[str, Any]:
        return _registered(self)

    def exports(self) -> dict[str, Any]:
        return {k: v for k, v in self.registered().items() if k not in self.NOT_EXPORTED}


@dataclass(frozen=True)
class InstanceOutputs:
    """What an Instance registers (and the pack reads)."""

    customer: str | None
    phase: str
    role: str
    instance_name: str
    release: str
    url: Any
    database_identifier: Any
    documents_bucket: Any
    secret_arn: Any
    key_arn: Any
    restored_from: dict[str, Any] | None  # {kind: clone|seed|iteration, snapshot, customer, stack, release}
    engine_version: str  # what the program asked RDS to run
    engine_version_actual: Any  # what RDS reports it runs (for the IQ)

    def registered(self) -> dict[str, Any]:
        return _registered(self)


ENVIRONMENT_KEYS = OutputKeys(EnvironmentOutputs)
INSTANCE_KEYS = OutputKeys(InstanceOutputs)
