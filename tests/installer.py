"""A stand-in for `pulumi up` + `pulumi stack export` against a moto server: install a stack's OFFLINE PLAN.

The plan is the program's own registrations (envctl.offline): every name, tag and input below comes from it,
never from a copy. Each AWS resource is created through boto3 in the order the program registered it; a value the
offline engine invented (an id, an ARN, a DNS name) is replaced in every later input by what moto returned. The
result is written in the `pulumi stack export` format (DeploymentV3, pulumi/pulumi sdk/go/common/apitype/core.go)
with the ids pulumi-aws v7 gives each type (the Terraform provider's: a bucket's name, a key's id, an RDS
instance's DbiResourceId since provider 5.0 with the name in `identifier`, a role policy's `role:name`, a
record's `ZONE_NAME_TYPE`, ...).

Where moto 5.2.5 differs from AWS, and what the harness does about it:
- a DNS-validated ACM certificate stays PENDING_VALIDATION for MOTO_ACM_VALIDATION_WAIT seconds (60): the
  harness's server sets it to 0 (in AWS, the CertificateValidation resource waits for ISSUED);
- an ECS service runs no tasks until `update_service` sets its desired count (moto then reports them running);
- a restore from a snapshot needs the snapshot: the customer's Pre-PROD snapshot the plan clones from is made
  first (a database of Pre-PROD's, and its snapshot), as Pre-PROD would have published it;
- a new security group gets AWS's allow-all egress rule, which the provider revokes: so does the harness;
- server access logging into a bucket whose policy has a `"Principal": "*"` statement fails in moto (500), and
  moto allows it only when the target's policy grants the logging service exactly `<bucket>/<prefix>*` (AWS also
  accepts the program's grant of the whole log root): the target bucket gets that grant for the call, and every
  bucket its whole planned policy last;
- AWS managed IAM policies exist in moto only with MOTO_IAM_LOAD_MANAGED_POLICIES=true (the harness's server
  sets it).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from components import tokens
from envctl.evidence.protocol import installed_resources
from envctl.evidence.state import SECRET_SIG
from envctl.mocks import ACCOUNT_ID as OFFLINE_ACCOUNT
from envctl.monitor import Registration
from envctl.offline import StackRun

MIN_TOKEN = 8  # plan values shorter than this are never replaced inside other values (too likely to collide)


def _int(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _tag_list(tags: dict[str, str] | None, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in sorted((tags or {}).items())]


@contextmanager
def moto_process(**settings: str) -> Iterator[str]:
    """A moto server of its own, in a child process on 127.0.0.1: what is installed there survives the resets that
    other tests send to theirs (a reset empties every server of a process). `settings` are moto's environment
    variables. Yields the endpoint URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, **settings}
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("the moto server did not start")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


# moto's settings the harness needs: an issued certificate at once (AWS: when its DNS record validates it; moto
# waits 60 s by default), and AWS's managed IAM policies (the execution role attaches one).
MOTO_SETTINGS = {"MOTO_ACM_VALIDATION_WAIT": "0", "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}


class Installer:
    """Installs one stack's plan into moto and keeps what each resource became."""

    def __init__(self, client: Callable[[str], Any], run: StackRun, region: str, zone: str, another: str = ""):
        self.client, self.run, self.region, self.zone = client, run, region, zone
        self.another = another  # a second installation of the plan: bucket names (global) get other random parts
        self.live: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}  # urn -> (id, inputs, outputs)
        self.replace: dict[str, str] = {}  # plan value -> live value

    # --- translating plan values ----------------------------------------------------------------------
    def tr(self, value: Any) -> Any:
        if isinstance(value, str):
            if value in self.replace:
                return self.replace[value]
            for planned in sorted(self.replace, key=len, reverse=True):
                if len(planned) >= MIN_TOKEN and planned in value:
                    value = value.replace(planned, self.replace[planned])
            return value
        if isinstance(value, dict):
            return {k: self.tr(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tr(v) for v in value]
        return _int(value)

    def learn(self, reg: Registration, rid: str, outputs: dict[str, Any]) -> None:
        if reg.id and reg.id != rid:
            self.replace[reg.id] = rid
        for key, planned in reg.state.items():
            live = outputs.get(key)
            if isinstance(planned, str) and isinstance(live, str) and planned != live:
                self.replace[planned] = live

    # --- the run ----------------------------------------------------------------------------------------
    def install(self) -> dict[str, Any]:
        self.account = account = self.client("sts").get_caller_identity()["Account"]
        if account != OFFLINE_ACCOUNT:  # the plan names the deploying account with the offline engine's stand-in
            self.replace[OFFLINE_ACCOUNT] = account
        self._hosted_zone()
        resources = list(installed_resources(self.run))
        # moto fails server access logging into a bucket whose policy has a `"Principal": "*"` statement (its
        # check reads every Principal as an object): the bucket policies go in last
        last = [r for r in resources if r.type == tokens.S3_BUCKET_POLICY]
        for reg in [r for r in resources if r not in last] + last:
            inputs = self.tr(reg.inputs)
            make = getattr(self, "_" + reg.type.split(":")[-1], None)
            if make is None:
                raise NotImplementedError(f"the harness cannot install {reg.type}")
            rid, extra = make(reg, inputs)
            outputs = {**inputs, **extra}
            self.learn(reg, rid, outputs)
            self.live[reg.urn] = (rid, inputs, outputs)
        return self.export()

    def export(self) -> dict[str, Any]:
        stack_urn = f"urn:pulumi:{self.run.stack}::{self.run.project}::{tokens.STACK}::{self.run.project}-{self.run.stack}"
        resources = [{"urn": stack_urn, "custom": False, "type": tokens.STACK, "outputs": self.tr(self.run.outputs)}]
        for reg in self.run.registrations:
            entry: dict[str, Any] = {"urn": reg.urn, "custom": reg.custom, "type": reg.type,
                                     "parent": reg.parent or stack_urn, "protect": reg.protect,
                                     "dependencies": reg.dependencies}
            if reg.urn in self.live:
                rid, inputs, outputs = self.live[reg.urn]
                entry.update(id=rid, inputs=inputs, outputs=outputs)
            elif reg.custom:  # values only Pulumi keeps (random values): secret where the engine marks them so
                secret = reg.type == tokens.RANDOM_PASSWORD
                result = {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "AAAA"} if secret else \
                    self.tr(reg.state.get("result"))
                entry.update(id=reg.id, inputs=self.tr(reg.inputs), outputs={**self.tr(reg.state), "result": result})
            else:
                entry["outputs"] = self.tr(reg.outputs or {})
            resources.append(entry)
        return {"version": 3, "deployment": {
            "manifest": {"time": "2026-11-26T12:00:00Z", "magic": "", "version": "v3.272.0"},
            "secrets_providers": {"type": "service"}, "resources": resources}}

    # --- what Pulumi needs before the stack: the public zone, the Pre-PROD snapshot ----------------------
    def _hosted_zone(self) -> None:
        """The public zone the stack's names go into (its `domain.zone` setting): Pulumi finds it, never makes it."""
        route53 = self.client("route53")
        listed = route53.list_hosted_zones_by_name(DNSName=self.zone + ".")["HostedZones"]
        found = [z for z in listed if z["Name"] == self.zone + "."]
        zone_id = (found[0]["Id"] if found else route53.create_hosted_zone(
            Name=self.zone, CallerReference=str(uuid.uuid4()))["HostedZone"]["Id"]).split("/")[-1]
        for reg in self.run.by_type(tokens.DNS_RECORD):
            self.replace[reg.inputs["zoneId"]] = zone_id

    def _source_snapshot(self, arn: str) -> str:
        """The Pre-PROD snapshot a restore copies, made as Pre-PROD publishes it (encrypted under its own key)."""
        identifier = arn.split(":snapshot:", 1)[1]
        rds = self.client("rds")
        if any(snap["DBSnapshotIdentifier"] == identifier
               for snap in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]):
            return identifier  # both instances of a pair restore the same snapshot
        key = self.client("kms").create_key(Description="Pre-PROD's key")["KeyMetadata"]["Arn"]
        source = f"{identifier}-source-db"
        versions = {str(r.inputs.get("engineVersion")) for r in self.run.by_type(tokens.RDS_INSTANCE)}
        rds.create_db_instance(DBInstanceIdentifier=source, Engine="postgres", EngineVersion=max(versions),
                               DBInstanceClass="db.t4g.large", AllocatedStorage=50, MasterUsername="edc_admin",
                               MasterUserPassword="not-a-real-password", StorageEncrypted=True, KmsKeyId=key)
        rds.create_db_snapshot(DBSnapshotIdentifier=identifier, DBInstanceIdentifier=source)
        return identifier

    # --- S3 ------------------------------------------------------------------------------------------------
    def _Bucket(self, reg, i):
        name = reg.state["bucket"]
        if self.another:  # Pulumi's autoname: the logical name and a random part, another one per installation
            name = f"{reg.name}-{hashlib.sha256((self.another + reg.name).encode()).hexdigest()[:7]}"
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region})
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tag_list(i.get("tags"))})
        return name, {"bucket": name, "arn": f"arn:aws:s3:::{name}"}

    def _BucketOwnershipControls(self, reg, i):
        self.client("s3").put_bucket_ownership_controls(Bucket=i["bucket"], OwnershipControls={
            "Rules": [{"ObjectOwnership": i["rule"]["objectOwnership"]}]})
        return i["bucket"], {}

    def _BucketPublicAccessBlock(self, reg, i):
        self.client("s3").put_public_access_block(Bucket=i["bucket"], PublicAccessBlockConfiguration={
            k[0].upper() + k[1:]: bool(i.get(k)) for k in
            ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")})
        return i["bucket"], {}

    def _BucketVersioning(self, reg, i):
        self.client("s3").put_bucket_versioning(Bucket=i["bucket"], VersioningConfiguration={
            "Status": i["versioningConfiguration"]["status"]})
        return i["bucket"], {}

    def _BucketServerSideEncryptionConfiguration(self, reg, i):
        (rule,) = i["rules"]
        default = rule["applyServerSideEncryptionByDefault"]
        by_default = {"SSEAlgorithm": default["sseAlgorithm"]}
        if default.get("kmsMasterKeyId"):
            by_default["KMSMasterKeyID"] = default["kmsMasterKeyId"]
        self.client("s3").put_bucket_encryption(Bucket=i["bucket"], ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": by_default, "BucketKeyEnabled": bool(rule.get("bucketKeyEnabled"))}]})
        return i["bucket"], {}

    def _BucketLogging(self, reg, i):
        # moto lets logs into a bucket only when its policy grants the logging service exactly `<bucket>/<prefix>*`
        # (AWS accepts the program's grant of the whole `s3/` root): for this call the target bucket gets that
        # grant alone; its whole planned policy is put last, like every bucket's
        s3 = self.client("s3")
        grant = {"Sid": "HarnessLogDelivery", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
                 "Action": ["s3:PutObject"], "Resource": f"arn:aws:s3:::{i['targetBucket']}/{i['targetPrefix']}*"}
        s3.put_bucket_policy(Bucket=i["targetBucket"], Policy=json.dumps({"Version": "2012-10-17", "Statement": [grant]}))
        s3.put_bucket_logging(Bucket=i["bucket"], BucketLoggingStatus={"LoggingEnabled": {
            "TargetBucket": i["targetBucket"], "TargetPrefix": i["targetPrefix"]}})
        return i["bucket"], {}

    def _BucketLifecycleConfiguration(self, reg, i):
        rules = [{"ID": r["id"], "Status": r["status"], "Filter": {"Prefix": r["filter"]["prefix"]},
                  "Expiration": {"Days": r["expiration"]["days"]},
                  "NoncurrentVersionExpiration": {"NoncurrentDays": r["noncurrentVersionExpiration"]["noncurrentDays"]},
                  "AbortIncompleteMultipartUpload": {
                      "DaysAfterInitiation": r["abortIncompleteMultipartUpload"]["daysAfterInitiation"]}}
                 for r in i["rules"]]
        self.client("s3").put_bucket_lifecycle_configuration(Bucket=i["bucket"],
                                                             LifecycleConfiguration={"Rules": rules})
        return i["bucket"], {}

    def _BucketPolicy(self, reg, i):
        self.client("s3").put_bucket_policy(Bucket=i["bucket"], Policy=i["policy"])
        return i["bucket"], {}

    # --- KMS -----------------------------------------------------------------------------------------------
    def _Key(self, reg, i):
        kms = self.client("kms")
        meta = kms.create_key(Description=i.get("description", ""), Policy=i["policy"],
                              Tags=_tag_list(i.get("tags"), "TagKey", "TagValue"))["KeyMetadata"]
        if i.get("enableKeyRotation"):
            kms.enable_key_rotation(KeyId=meta["KeyId"])
        return meta["KeyId"], {"arn": meta["Arn"], "keyId": meta["KeyId"]}

    def _Alias(self, reg, i):
        self.client("kms").create_alias(AliasName=i["name"], TargetKeyId=i["targetKeyId"])
        return i["name"], {"arn": f"arn:aws:kms:{self.region}:{self.account}:{i['name']}"}

    # --- EC2 / VPC -----------------------------------------------------------------------------------------
    def _spec(self, kind: str, i: dict) -> list[dict[str, Any]]:
        return [{"ResourceType": kind, "Tags": _tag_list(i.get("tags"))}] if i.get("tags") else []

    def _arn(self, kind: str, rid: str) -> str:
        return f"arn:aws:ec2:{self.region}:{self.account}:{kind}/{rid}"

    def _Vpc(self, reg, i):
        vpc = self.client("ec2").create_vpc(CidrBlock=i["cidrBlock"],
                                            TagSpecifications=self._spec("vpc", i))["Vpc"]["VpcId"]
        return vpc, {"arn": self._arn("vpc", vpc)}

    def _DefaultSecurityGroup(self, reg, i):
        ec2 = self.client("ec2")
        (group,) = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [i["vpcId"]]},
                                                         {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
        self._revoke_all(group)
        ec2.create_tags(Resources=[group["GroupId"]], Tags=_tag_list(i.get("tags")))
        return group["GroupId"], {"arn": self._arn("security-group", group["GroupId"])}

    def _revoke_all(self, group: dict[str, Any]) -> None:
        ec2 = self.client("ec2")
        if group.get("IpPermissions"):
            ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
        if group.get("IpPermissionsEgress"):
            ec2.revoke_security_group_egress(GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"])

    def _FlowLog(self, reg, i):
        made = self.client("ec2").create_flow_logs(
            ResourceIds=[i["vpcId"]], ResourceType="VPC", TrafficType=i["trafficType"],
            LogDestinationType=i["logDestinationType"], LogDestination=i["logDestination"],
            TagSpecifications=self._spec("vpc-flow-log", i))
        (fid,) = made["FlowLogIds"]
        return fid, {"arn": self._arn("vpc-flow-log", fid)}

    def _InternetGateway(self, reg, i):
        ec2 = self.client("ec2")
        igw = ec2.create_internet_gateway(TagSpecifications=self._spec("internet-gateway", i))
        gid = igw["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=gid, VpcId=i["vpcId"])
        return gid, {"arn": self._arn("internet-gateway", gid)}

    def _RouteTable(self, reg, i):
        ec2 = self.client("ec2")
        rtb = ec2.create_route_table(VpcId=i["vpcId"], TagSpecifications=self._spec("route-table", i))
        rid = rtb["RouteTable"]["RouteTableId"]
        for route in i.get("routes") or []:
            target = {"GatewayId": route["gatewayId"]} if route.get("gatewayId") else \
                {"NatGatewayId": route["natGatewayId"]}
            ec2.create_route(RouteTableId=rid, DestinationCidrBlock=route["cidrBlock"], **target)
        return rid, {"arn": self._arn("route-table", rid)}

    def _Subnet(self, reg, i):
        sid = self.client("ec2").create_subnet(VpcId=i["vpcId"], CidrBlock=i["cidrBlock"],
                                               AvailabilityZone=i["availabilityZone"],
                                               TagSpecifications=self._spec("subnet", i))["Subnet"]["SubnetId"]
        return sid, {"arn": self._arn("subnet", sid)}

    def _RouteTableAssociation(self, reg, i):
        aid = self.client("ec2").associate_route_table(RouteTableId=i["routeTableId"],
                                                       SubnetId=i["subnetId"])["AssociationId"]
        return aid, {}

    def _Eip(self, reg, i):
        aid = self.client("ec2").allocate_address(Domain="vpc", TagSpecifications=self._spec("elastic-ip", i))
        return aid["AllocationId"], {"arn": self._arn("elastic-ip", aid["AllocationId"]),
                                     "publicIp": aid["PublicIp"]}

    def _NatGateway(self, reg, i):
        nat = self.client("ec2").create_nat_gateway(SubnetId=i["subnetId"], AllocationId=i["allocationId"],
                                                    TagSpecifications=self._spec("natgateway", i))
        return nat["NatGateway"]["NatGatewayId"], {}

    def _SecurityGroup(self, reg, i):
        ec2 = self.client("ec2")
        name = reg.state.get("name") or reg.name
        gid = ec2.create_security_group(GroupName=name, Description=i["description"], VpcId=i["vpcId"],
                                        TagSpecifications=self._spec("security-group", i))["GroupId"]
        self._revoke_all(ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0])
        return gid, {"arn": self._arn("security-group", gid), "name": name}

    def _rule(self, i: dict, egress: bool) -> tuple[str, dict]:
        ec2 = self.client("ec2")
        permission: dict[str, Any] = {"IpProtocol": i["ipProtocol"], "FromPort": i["fromPort"], "ToPort": i["toPort"]}
        if i.get("cidrIpv4"):
            permission["IpRanges"] = [{"CidrIp": i["cidrIpv4"], "Description": i.get("description", "")}]
        elif i.get("cidrIpv6"):
            permission["Ipv6Ranges"] = [{"CidrIpv6": i["cidrIpv6"], "Description": i.get("description", "")}]
        else:
            permission["UserIdGroupPairs"] = [{"GroupId": i["referencedSecurityGroupId"],
                                               "Description": i.get("description", "")}]
        authorize = ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
        made = authorize(GroupId=i["securityGroupId"], IpPermissions=[permission],
                         TagSpecifications=self._spec("security-group-rule", i))
        (rule,) = made["SecurityGroupRules"]
        rid = rule["SecurityGroupRuleId"]
        return rid, {"arn": self._arn("security-group-rule", rid), "securityGroupRuleId": rid}

    def _SecurityGroupIngressRule(self, reg, i):
        return self._rule(i, egress=False)

    def _SecurityGroupEgressRule(self, reg, i):
        return self._rule(i, egress=True)

    # --- IAM -----------------------------------------------------------------------------------------------
    def _Role(self, reg, i):
        name = reg.state["name"]
        role = self.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=i["assumeRolePolicy"],
                                              Tags=_tag_list(i.get("tags")))["Role"]
        return name, {"name": name, "arn": role["Arn"], "uniqueId": role["RoleId"]}

    def _RolePolicy(self, reg, i):
        name = f"{reg.name}-{uuid.uuid4().hex[:7]}"
        self.client("iam").put_role_policy(RoleName=i["role"], PolicyName=name, PolicyDocument=i["policy"])
        return f"{i['role']}:{name}", {"name": name}

    def _RolePolicyAttachment(self, reg, i):
        self.client("iam").attach_role_policy(RoleName=i["role"], PolicyArn=i["policyArn"])
        return f"{i['role']}-{uuid.uuid4().hex[:20]}", {}

    # --- logs, secrets -------------------------------------------------------------------------------------
    def _LogGroup(self, reg, i):
        logs = self.client("logs")
        name = i.get("name") or reg.state["name"]
        logs.create_log_group(logGroupName=name, kmsKeyId=i["kmsKeyId"], tags=i.get("tags") or {})
        logs.put_retention_policy(logGroupName=name, retentionInDays=i["retentionInDays"])
        return name, {"name": name, "arn": f"arn:aws:logs:{self.region}:{self.account}:log-group:{name}"}

    def _Secret(self, reg, i):
        name = reg.state["name"]
        arn = self.client("secretsmanager").create_secret(Name=name, Description=i.get("description", ""),
                                                          KmsKeyId=i["kmsKeyId"], Tags=_tag_list(i.get("tags")))["ARN"]
        return arn, {"arn": arn, "name": name}

    def _SecretVersion(self, reg, i):
        # The real value never leaves Pulumi's state encrypted: evidence does not need it, nor does this harness.
        made = self.client("secretsmanager").put_secret_value(SecretId=i["secretId"], SecretString="{}")
        secret = {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "AAAA"}
        return f"{i['secretId']}|{made['VersionId']}", {"versionId": made["VersionId"], "secretString": secret}

    # --- RDS -----------------------------------------------------------------------------------------------
    def _SubnetGroup(self, reg, i):
        name = reg.state["name"]
        group = self.client("rds").create_db_subnet_group(
            DBSubnetGroupName=name, DBSubnetGroupDescription="Managed by Pulumi", SubnetIds=i["subnetIds"],
            Tags=_tag_list(i.get("tags")))["DBSubnetGroup"]
        return name, {"name": name, "arn": group["DBSubnetGroupArn"]}

    def _ParameterGroup(self, reg, i):
        name = reg.state["name"]
        rds = self.client("rds")
        group = rds.create_db_parameter_group(DBParameterGroupName=name, DBParameterGroupFamily=i["family"],
                                              Description=i["description"], Tags=_tag_list(i.get("tags")))
        rds.modify_db_parameter_group(DBParameterGroupName=name, Parameters=[
            {"ParameterName": p["name"], "ParameterValue": p["value"], "ApplyMethod": "pending-reboot"}
            for p in i.get("parameters") or []])
        return name, {"name": name, "arn": group["DBParameterGroup"]["DBParameterGroupArn"]}

    def _SnapshotCopy(self, reg, i):
        source = self._source_snapshot(i["sourceDbSnapshotIdentifier"])
        copy = self.client("rds").copy_db_snapshot(
            SourceDBSnapshotIdentifier=source, TargetDBSnapshotIdentifier=i["targetDbSnapshotIdentifier"],
            KmsKeyId=i["kmsKeyId"], CopyTags=False, Tags=_tag_list(i.get("tags")))["DBSnapshot"]
        return copy["DBSnapshotIdentifier"], {"dbSnapshotArn": copy["DBSnapshotArn"]}

    def _Instance(self, reg, i):
        rds = self.client("rds")
        identifier = reg.state["identifier"]
        common = dict(DBInstanceIdentifier=identifier, DBInstanceClass=i["instanceClass"],
                      DBSubnetGroupName=i["dbSubnetGroupName"], MultiAZ=bool(i.get("multiAz")),
                      PubliclyAccessible=bool(i.get("publiclyAccessible")), VpcSecurityGroupIds=i["vpcSecurityGroupIds"],
                      DeletionProtection=bool(i.get("deletionProtection")), Tags=_tag_list(i.get("tags")),
                      CopyTagsToSnapshot=bool(i.get("copyTagsToSnapshot")), DBParameterGroupName=i["parameterGroupName"])
        if i.get("snapshotIdentifier"):
            rds.restore_db_instance_from_db_snapshot(DBSnapshotIdentifier=i["snapshotIdentifier"].split(":")[-1],
                                                     **common)
        else:
            rds.create_db_instance(Engine=i["engine"], EngineVersion=i["engineVersion"],
                                   AllocatedStorage=i["allocatedStorage"], MasterUsername=i["username"],
                                   MasterUserPassword="not-a-real-password", DBName=i.get("dbName"),
                                   StorageEncrypted=True, KmsKeyId=i["kmsKeyId"], **common)
        db = rds.modify_db_instance(DBInstanceIdentifier=identifier, ApplyImmediately=True,
                                    EngineVersion=i["engineVersion"],
                                    BackupRetentionPeriod=i["backupRetentionPeriod"])["DBInstance"]
        return db["DbiResourceId"], {
            "identifier": identifier, "arn": db["DBInstanceArn"], "resourceId": db["DbiResourceId"],
            "address": db["Endpoint"]["Address"], "engineVersionActual": db["EngineVersion"],
            "password": {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "AAAA"}}

    # --- ECS -----------------------------------------------------------------------------------------------
    def _Cluster(self, reg, i):
        name = reg.state["name"]
        cluster = self.client("ecs").create_cluster(
            clusterName=name, settings=[{"name": s["name"], "value": s["value"]} for s in i.get("settings") or []],
            tags=_tag_list(i.get("tags"), "key", "value"))["cluster"]
        return cluster["clusterArn"], {"name": name, "arn": cluster["clusterArn"]}

    def _TaskDefinition(self, reg, i):
        made = self.client("ecs").register_task_definition(
            family=i["family"], containerDefinitions=json.loads(i["containerDefinitions"]), cpu=i["cpu"],
            memory=i["memory"], networkMode=i["networkMode"], requiresCompatibilities=i["requiresCompatibilities"],
            executionRoleArn=i["executionRoleArn"], taskRoleArn=i["taskRoleArn"],
            runtimePlatform={"cpuArchitecture": i["runtimePlatform"]["cpuArchitecture"],
                             "operatingSystemFamily": i["runtimePlatform"]["operatingSystemFamily"]},
            tags=_tag_list(i.get("tags"), "key", "value"))["taskDefinition"]
        arn = made["taskDefinitionArn"]
        return i["family"], {"arn": arn, "arnWithoutRevision": arn.rsplit(":", 1)[0], "revision": made["revision"]}

    def _Service(self, reg, i):
        ecs = self.client("ecs")
        name = reg.state["name"]
        network = i["networkConfiguration"]
        service = ecs.create_service(
            cluster=i["cluster"], serviceName=name, taskDefinition=i["taskDefinition"], desiredCount=0,
            launchType=i["launchType"], platformVersion=i["platformVersion"], propagateTags=i["propagateTags"],
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": network["subnets"], "securityGroups": network["securityGroups"],
                "assignPublicIp": "ENABLED" if network.get("assignPublicIp") else "DISABLED"}},
            loadBalancers=[{"targetGroupArn": lb["targetGroupArn"], "containerName": lb["containerName"],
                            "containerPort": lb["containerPort"]} for lb in i["loadBalancers"]],
            tags=_tag_list(i.get("tags"), "key", "value"))["service"]
        # moto starts no task on create; setting the desired count makes it report them running
        ecs.update_service(cluster=i["cluster"], service=name, desiredCount=i["desiredCount"])
        return service["serviceArn"], {"name": name, "arn": service["serviceArn"]}

    # --- ELB, ACM, Route 53 ----------------------------------------------------------------------------------
    def _LoadBalancer(self, reg, i):
        lb = self.client("elbv2").create_load_balancer(
            Name=i["name"], Subnets=i["subnets"], SecurityGroups=i["securityGroups"],
            Scheme="internal" if i.get("internal") else "internet-facing", Type=i["loadBalancerType"],
            Tags=_tag_list(i.get("tags")))["LoadBalancers"][0]
        return lb["LoadBalancerArn"], {"arn": lb["LoadBalancerArn"], "dnsName": lb["DNSName"],
                                       "zoneId": lb["CanonicalHostedZoneId"]}

    def _TargetGroup(self, reg, i):
        health = i.get("healthCheck") or {}
        tg = self.client("elbv2").create_target_group(
            Name=i["name"], Protocol=i["protocol"], Port=i["port"], VpcId=i["vpcId"], TargetType=i["targetType"],
            HealthCheckPath=health.get("path"), Matcher={"HttpCode": health.get("matcher")},
            HealthyThresholdCount=health.get("healthyThreshold"),
            UnhealthyThresholdCount=health.get("unhealthyThreshold"), Tags=_tag_list(i.get("tags")))["TargetGroups"][0]
        return tg["TargetGroupArn"], {"arn": tg["TargetGroupArn"]}

    def _Certificate(self, reg, i):
        acm = self.client("acm")
        arn = acm.request_certificate(DomainName=i["domainName"], ValidationMethod=i["validationMethod"],
                                      Tags=_tag_list(i.get("tags")))["CertificateArn"]
        options = acm.describe_certificate(CertificateArn=arn)["Certificate"]["DomainValidationOptions"]
        record = options[0].get("ResourceRecord") or {}
        return arn, {"arn": arn, "domainValidationOptions": [{
            "domainName": i["domainName"], "resourceRecordName": record.get("Name"),
            "resourceRecordType": record.get("Type"), "resourceRecordValue": record.get("Value")}]}

    def _CertificateValidation(self, reg, i):
        status = self.client("acm").describe_certificate(CertificateArn=i["certificateArn"])["Certificate"]["Status"]
        assert status == "ISSUED", status
        return "2026-11-26 12:00:00 +0000 UTC", {}

    def _Record(self, reg, i):
        change: dict[str, Any] = {"Name": i["name"], "Type": i["type"]}
        if i.get("aliases"):
            (alias,) = i["aliases"]
            change["AliasTarget"] = {"HostedZoneId": alias["zoneId"], "DNSName": alias["name"],
                                     "EvaluateTargetHealth": bool(alias.get("evaluateTargetHealth"))}
        else:
            change.update(TTL=i["ttl"], ResourceRecords=[{"Value": v} for v in i["records"]])
        self.client("route53").change_resource_record_sets(HostedZoneId=i["zoneId"], ChangeBatch={
            "Changes": [{"Action": "UPSERT", "ResourceRecordSet": change}]})
        fqdn = str(i["name"]).rstrip(".")
        return f"{i['zoneId']}_{fqdn}_{i['type']}", {"fqdn": fqdn}

    def _Listener(self, reg, i):
        actions = []
        for a in i["defaultActions"]:
            if a["type"] == "redirect":
                r = a["redirect"]
                actions.append({"Type": "redirect", "RedirectConfig": {
                    "Protocol": r["protocol"], "Port": r["port"], "StatusCode": r["statusCode"]}})
            else:
                actions.append({"Type": "forward", "TargetGroupArn": a["targetGroupArn"]})
        extra = {"SslPolicy": i["sslPolicy"], "Certificates": [{"CertificateArn": i["certificateArn"]}]} \
            if i.get("protocol") == "HTTPS" else {}
        listener = self.client("elbv2").create_listener(
            LoadBalancerArn=i["loadBalancerArn"], Protocol=i["protocol"], Port=i["port"], DefaultActions=actions,
            Tags=_tag_list(i.get("tags")), **extra)["Listeners"][0]
        return listener["ListenerArn"], {"arn": listener["ListenerArn"]}


def install(client: Callable[[str], Any], run: StackRun, region: str, zone: str, path: Path, another: str = "") -> Path:
    """Install `run`'s plan into the moto behind `client` (its names in the public `zone`) and write its export to
    `path`. `another`: this is another installation of the same plan (its buckets need other names)."""
    path.write_text(json.dumps(Installer(client, run, region, zone, another).install(), indent=1))
    return path
