"""One instance of the application: its own key, documents, database, secret, compute and entry."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from . import tokens
from .naming import Names
from .phases import Role
from .settings import StackSettings
from .storage import SecureBucket, SecureBucketArgs

POSTGRES_ENGINE_VERSION = "16.4"
POSTGRES_FAMILY = "postgres16"
APP_PORT = 8080
DB_PORT = 5432
DB_NAME = "edc"
DB_USER = "edc_admin"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@dataclass(frozen=True)
class Account:
    """Who and where: read once per stack from the provider."""

    account_id: pulumi.Output[str]
    partition: pulumi.Output[str]
    region: str
    zone_id: pulumi.Output[str]
    image_repository: pulumi.Output[str]


@dataclass(frozen=True)
class NetworkRefs:
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    public_subnet_ids: list[pulumi.Input[str]]


@dataclass(frozen=True)
class ExchangeRefs:
    """The pair's export/import location, which the instance's task role is granted."""

    bucket_arn: pulumi.Input[str]
    bucket_name: pulumi.Input[str]
    key_arn: pulumi.Input[str]


@dataclass(frozen=True)
class RestoreFrom:
    """A Pre-PROD snapshot the instance's database is restored from (through its own copy)."""

    snapshot_name: str
    snapshot_arn: pulumi.Input[str]
    allocated_storage_gb: int  # a restored database is at least as large as the snapshot


@dataclass(frozen=True)
class InstanceArgs:
    settings: StackSettings
    role: Role
    account: Account
    network: NetworkRefs
    logs_bucket_name: pulumi.Input[str]
    exchange: ExchangeRefs | None = None
    restore: RestoreFrom | None = None


def key_policy(account_id: str, partition: str, region: str) -> str:
    root = f"arn:{partition}:iam::{account_id}:root"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "AccountAdministersThroughIam", "Effect": "Allow", "Principal": {"AWS": root},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "CloudWatchLogsEncryptsThisInstancesLogs", "Effect": "Allow",
                 "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                 "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                 "Resource": "*",
                 "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                           f"arn:{partition}:logs:{region}:{account_id}:log-group:*"}}},
                # Fargate ephemeral storage, as AWS documents it (the cluster name is not known
                # before the key, so the account condition alone scopes it).
                {"Sid": "FargateGeneratesDataKeys", "Effect": "Allow",
                 "Principal": {"Service": "fargate.amazonaws.com"},
                 "Action": "kms:GenerateDataKeyWithoutPlaintext", "Resource": "*",
                 "Condition": {"StringEquals": {"kms:EncryptionContext:aws:ecs:clusterAccount": [account_id]}}},
                {"Sid": "FargateCreatesDecryptGrants", "Effect": "Allow",
                 "Principal": {"Service": "fargate.amazonaws.com"},
                 "Action": "kms:CreateGrant", "Resource": "*",
                 "Condition": {"StringEquals": {"kms:EncryptionContext:aws:ecs:clusterAccount": [account_id]},
                               "ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]}}},
            ],
        }
    )


def kms_key(name: str, description: str, settings: StackSettings, account: Account, tags: dict, parent) -> aws.kms.Key:
    """A customer key with rotation on; the longest deletion window unless the stack is destroyable.

    Where databases leave a final snapshot, the key outlives the stack: the snapshot is encrypted
    under it, and a deleted key would make the snapshot unreadable."""
    key = aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=7 if settings.destroyable else 30,
        policy=pulumi.Output.all(account.account_id, account.partition).apply(
            lambda v: key_policy(v[0], v[1], account.region)
        ),
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent, protect=settings.protected, retain_on_delete=settings.final_snapshot),
    )
    aws.kms.Alias(f"{name}-alias", name=Names.key_alias(name), target_key_id=key.key_id,
                  opts=pulumi.ResourceOptions(parent=parent))
    return key


def _assume(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


class Instance(pulumi.ComponentResource):
    """Compute running the pinned release, its PostgreSQL database, documents, secret and HTTPS entry."""

    def __init__(self, name: str, args: InstanceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(tokens.INSTANCE, name, None, opts)
        s, role, acct, net = args.settings, args.role, args.account, args.network
        phase, size = s.phase_spec, s.size(role)
        tags = s.tags_for(role)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=s.protected)

        # --- encryption and documents -----------------------------------------------------
        names = s.names
        key = kms_key(names.key(role), f"{name}: database, documents, secrets and logs", s, acct, tags, self)
        documents = SecureBucket(
            f"{name}-documents",
            SecureBucketArgs(tags=tags, kms_key_arn=key.arn, protect=s.protected, force_destroy=s.destroyable),
            opts=child,
        )

        # --- network boundaries: internet -> load balancer -> application -> database ------
        lb_sg = aws.ec2.SecurityGroup(f"{name}-lb-sg", vpc_id=net.vpc_id, description=f"{name} load balancer",
                                      tags=tags, opts=child)
        app_sg = aws.ec2.SecurityGroup(f"{name}-app-sg", vpc_id=net.vpc_id, description=f"{name} application",
                                       tags=tags, opts=child)
        db_sg = aws.ec2.SecurityGroup(f"{name}-db-sg", vpc_id=net.vpc_id, description=f"{name} database",
                                      tags=tags, opts=child)
        for port, label in ((443, "https"), (80, "http-redirect")):
            for family, cidr in (("ipv4", {"cidr_ipv4": "0.0.0.0/0"}), ("ipv6", {"cidr_ipv6": "::/0"})):
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-lb-in-{label}-{family}", security_group_id=lb_sg.id, ip_protocol="tcp",
                    from_port=port, to_port=port, description=f"{label} from the internet", tags=tags, opts=child, **cidr,
                )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-lb-out-app", security_group_id=lb_sg.id, referenced_security_group_id=app_sg.id,
            ip_protocol="tcp", from_port=APP_PORT, to_port=APP_PORT, description="to the application", tags=tags, opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-app-in-lb", security_group_id=app_sg.id, referenced_security_group_id=lb_sg.id,
            ip_protocol="tcp", from_port=APP_PORT, to_port=APP_PORT, description="from the load balancer only",
            tags=tags, opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-app-out-db", security_group_id=app_sg.id, referenced_security_group_id=db_sg.id,
            ip_protocol="tcp", from_port=DB_PORT, to_port=DB_PORT, description="to its database", tags=tags, opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-app-out-https", security_group_id=app_sg.id, cidr_ipv4="0.0.0.0/0", ip_protocol="tcp",
            from_port=443, to_port=443, description="AWS APIs and image pulls over HTTPS", tags=tags, opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-db-in-app", security_group_id=db_sg.id, referenced_security_group_id=app_sg.id,
            ip_protocol="tcp", from_port=DB_PORT, to_port=DB_PORT, description="from the application only",
            tags=tags, opts=child,
        )

        # --- database ------------------------------------------------------------------------
        password = random.RandomPassword(
            f"{name}-db-password", length=32, special=True, override_special="!#$%^&*()-_=+[]{}<>:?", opts=child
        )
        secret = aws.secretsmanager.Secret(
            f"{name}-db-master", description=f"{name}: database master credentials", kms_key_id=key.arn,
            recovery_window_in_days=0 if s.destroyable else 30, tags=tags, opts=stateful,
        )
        subnet_group = aws.rds.SubnetGroup(f"{name}-db-subnets", subnet_ids=net.private_subnet_ids, tags=tags, opts=child)
        parameters = aws.rds.ParameterGroup(
            f"{name}-db-params", family=POSTGRES_FAMILY, description=f"{name}: TLS only, connections logged",
            parameters=[{"name": "rds.force_ssl", "value": "1"}, {"name": "log_connections", "value": "1"}],
            tags=tags, opts=child,
        )
        restore_opts: dict = {}
        storage = size.db_storage_gb
        if args.restore is not None:
            # Our own copy, re-encrypted under this instance's key; both pinned, so that a newer
            # Pre-PROD snapshot never replaces a running database.
            copy = aws.rds.SnapshotCopy(
                f"{name}-db-source",
                source_db_snapshot_identifier=args.restore.snapshot_arn,
                target_db_snapshot_identifier=names.snapshot_copy(role, args.restore.snapshot_name),
                kms_key_id=key.arn, copy_tags=False, tags=tags,
                opts=pulumi.ResourceOptions(parent=self, protect=s.protected,
                                            ignore_changes=["sourceDbSnapshotIdentifier"]),
            )
            restore_opts = {"snapshot_identifier": copy.db_snapshot_arn}
            storage = max(storage, args.restore.allocated_storage_gb)
        db = aws.rds.Instance(
            f"{name}-db",
            engine="postgres",
            engine_version=POSTGRES_ENGINE_VERSION,
            instance_class=size.db_instance_class,
            allocated_storage=storage,
            max_allocated_storage=max(size.db_max_storage_gb, storage),
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=key.arn,
            db_name=None if args.restore else DB_NAME,
            username=None if args.restore else DB_USER,
            password=password.result,
            db_subnet_group_name=subnet_group.name,
            parameter_group_name=parameters.name,
            vpc_security_group_ids=[db_sg.id],
            publicly_accessible=False,
            multi_az=role in phase.multi_az_roles,
            backup_retention_period=phase.backup_retention_days,
            backup_window="01:00-02:00",
            maintenance_window="sun:03:00-sun:04:00",
            copy_tags_to_snapshot=True,
            deletion_protection=not s.destroyable,
            skip_final_snapshot=not s.final_snapshot,
            final_snapshot_identifier=names.final_snapshot(role) if s.final_snapshot else None,
            auto_minor_version_upgrade=not phase.controlled,
            iam_database_authentication_enabled=True,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=key.arn,
            ca_cert_identifier="rds-ca-rsa2048-g1",
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self, protect=s.protected, ignore_changes=["snapshotIdentifier"] if args.restore else None
            ),
            **restore_opts,
        )
        secret_value = aws.secretsmanager.SecretVersion(
            f"{name}-db-master-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(
                pulumi.Output.all(password.result, db.address).apply(
                    lambda v: json.dumps({"engine": "postgres", "username": DB_USER, "password": v[0],
                                          "host": v[1], "port": DB_PORT, "dbname": DB_NAME})
                )
            ),
            opts=child,
        )

        # --- application ---------------------------------------------------------------------
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=names.log_group(role), retention_in_days=phase.log_retention_days,
            kms_key_id=key.arn, tags=tags, opts=child,
        )
        execution_role = aws.iam.Role(f"{name}-execution", assume_role_policy=_assume("ecs-tasks.amazonaws.com"),
                                      tags=tags, opts=child)
        aws.iam.RolePolicyAttachment(
            f"{name}-execution-managed", role=execution_role.name,
            policy_arn=acct.partition.apply(lambda p: f"arn:{p}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-execution-secret", role=execution_role.id,
            policy=pulumi.Output.all(secret.arn, key.arn).apply(lambda v: json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": v[0]},
                {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": v[1]}]})),
            opts=child,
        )
        task_role = aws.iam.Role(f"{name}-task", name=names.task_role(role),
                                 assume_role_policy=_assume("ecs-tasks.amazonaws.com"), tags=tags, opts=child)
        buckets = [documents.arn] + ([args.exchange.bucket_arn] if args.exchange else [])
        keys = [key.arn] + ([args.exchange.key_arn] if args.exchange else [])
        aws.iam.RolePolicy(
            f"{name}-task-data", role=task_role.id,
            policy=pulumi.Output.all(pulumi.Output.all(*buckets), pulumi.Output.all(*keys)).apply(
                lambda v: json.dumps({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": list(v[0])},
                    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                     "Resource": [f"{b}/*" for b in v[0]]},
                    {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": list(v[1])}]})),
            opts=child,
        )
        cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            settings=[{"name": "containerInsights", "value": "enabled"}],
            configuration={"managed_storage_configuration": {"fargate_ephemeral_storage_kms_key_id": key.key_id}},
            tags=tags, opts=child,
        )
        image = acct.image_repository.apply(lambda repo: f"{repo}:{s.release}")
        container = pulumi.Output.all(image, secret.arn, db.address, documents.bucket_name, log_group.name,
                                      args.exchange.bucket_name if args.exchange else "").apply(
            lambda v: json.dumps([{
                "name": "edc", "image": v[0], "essential": True, "readonlyRootFilesystem": True, "user": "10001",
                "portMappings": [{"containerPort": APP_PORT, "protocol": "tcp"}],
                "environment": [{"name": "EDC_RELEASE", "value": s.release}, {"name": "DB_HOST", "value": v[2]},
                                {"name": "DOCUMENT_BUCKET", "value": v[3]}, {"name": "EXCHANGE_BUCKET", "value": v[5]}],
                "secrets": [{"name": "DB_CREDENTIALS", "valueFrom": v[1]}],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": v[4], "awslogs-region": acct.region, "awslogs-stream-prefix": "edc"}},
            }])
        )
        task = aws.ecs.TaskDefinition(
            f"{name}-task-def", family=names.task_family(role), cpu=str(size.app_cpu), memory=str(size.app_memory_mb),
            network_mode="awsvpc", requires_compatibilities=["FARGATE"],
            runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": "X86_64"},
            execution_role_arn=execution_role.arn, task_role_arn=task_role.arn, container_definitions=container,
            tags=tags, opts=child,
        )

        # --- HTTPS entry -----------------------------------------------------------------------
        hostname = s.hostname(role)
        lb = aws.lb.LoadBalancer(
            f"{name}-lb", name=names.load_balancer(role), load_balancer_type="application", internal=False, subnets=net.public_subnet_ids,
            security_groups=[lb_sg.id], drop_invalid_header_fields=True, desync_mitigation_mode="strictest",
            enable_deletion_protection=not s.destroyable,
            access_logs={"bucket": args.logs_bucket_name, "prefix": names.access_log_prefix(role), "enabled": True},
            tags=tags, opts=child,
        )
        target = aws.lb.TargetGroup(
            f"{name}-tg", name=names.target_group(role), port=APP_PORT, protocol="HTTP", target_type="ip", vpc_id=net.vpc_id,
            health_check={"path": "/health", "matcher": "200", "healthy_threshold": 2, "unhealthy_threshold": 3},
            tags=tags, opts=child,
        )
        cert = aws.acm.Certificate(f"{name}-cert", domain_name=hostname, validation_method="DNS", tags=tags,
                                   opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))
        option = cert.domain_validation_options[0]
        validation_record = aws.route53.Record(
            f"{name}-cert-validation", zone_id=acct.zone_id, name=option.resource_record_name,
            type=option.resource_record_type, records=[option.resource_record_value], ttl=300, allow_overwrite=True,
            opts=child,
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-cert-ready", certificate_arn=cert.arn, validation_record_fqdns=[validation_record.fqdn], opts=child
        )
        aws.lb.Listener(
            f"{name}-http", load_balancer_arn=lb.arn, port=80, protocol="HTTP",
            default_actions=[{"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"}}],
            tags=tags, opts=child,
        )
        https = aws.lb.Listener(
            f"{name}-https", load_balancer_arn=lb.arn, port=443, protocol="HTTPS", ssl_policy=TLS_POLICY,
            certificate_arn=validation.certificate_arn,
            default_actions=[{"type": "forward", "target_group_arn": target.arn}], tags=tags, opts=child,
        )
        aws.route53.Record(
            f"{name}-dns", zone_id=acct.zone_id, name=hostname, type="A",
            aliases=[{"name": lb.dns_name, "zone_id": lb.zone_id, "evaluate_target_health": True}], opts=child,
        )
        aws.ecs.Service(
            f"{name}-service", cluster=cluster.arn, task_definition=task.arn, desired_count=size.app_tasks,
            launch_type="FARGATE", platform_version="1.4.0", propagate_tags="SERVICE", enable_execute_command=False,
            network_configuration={"subnets": net.private_subnet_ids, "security_groups": [app_sg.id], "assign_public_ip": False},
            load_balancers=[{"target_group_arn": target.arn, "container_name": "edc", "container_port": APP_PORT}],
            deployment_circuit_breaker={"enable": True, "rollback": True},
            tags=tags, opts=pulumi.ResourceOptions(parent=self, depends_on=[https, secret_value]),
        )

        self.url = pulumi.Output.from_input(f"https://{hostname}")
        self.database_identifier = db.identifier
        self.documents_bucket = documents.bucket_name
        self.secret_arn = secret.arn
        self.key_arn = key.arn
        self.register_outputs(
            tokens.InstanceOutputs(
                customer=s.customer, phase=phase.name, role=role.value, instance_name=name, release=s.release,
                url=self.url, database_identifier=db.identifier, documents_bucket=documents.bucket_name,
                secret_arn=secret.arn, key_arn=key.arn,
                restored_from=args.restore.snapshot_name if args.restore else None,
            ).registered()
        )
