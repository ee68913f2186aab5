"""An instance's application: the pinned release on ECS Fargate, its roles, logs and cluster."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from . import tokens
from .https_entry import APP_PORT
from .naming import Names
from .phases import Role, Size
from .refs import Account, ExchangeRefs, Lifecycle

# How long ECS ignores the load balancer's health checks after a task starts. The application migrates its
# schema and warms its caches before /health answers 200; a task killed for being unhealthy during that
# time would never start. An assumption until a start is measured on a real database: five minutes, well
# above the target group's first verdict (2 healthy checks 30 s apart) and the image pull.
HEALTH_CHECK_GRACE_SECONDS = 300


@dataclass(frozen=True)
class ApplicationArgs:
    """What the application is told. Private subnets without public IPs, a read-only root file system, a
    non-root user, ephemeral storage under the instance key and no ECS Exec are not arguments: always so."""

    instance_name: str  # its resources keep the instance's names, so that they keep their identity
    names: Names
    role: Role
    release: str
    size: Size
    account: Account
    key_arn: pulumi.Input[str]
    key_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    log_retention_days: int
    documents_bucket_arn: pulumi.Input[str]
    documents_bucket_name: pulumi.Input[str]
    database_address: pulumi.Input[str]
    database_secret_arn: pulumi.Input[str]
    target_group_arn: pulumi.Input[str]
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    log_groups_pinned: bool = False  # made before log-group names carried a generation: keeps the plain name
    ready_after: Sequence[pulumi.Resource] = ()  # what must exist before the service starts (listener, credentials)
    exchange: ExchangeRefs | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def _assume(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


class Application(pulumi.ComponentResource):
    """The pinned release running on Fargate behind the entry's target group, reading its own data only."""

    def __init__(self, name: str, args: ApplicationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(tokens.APPLICATION, name, None, opts)
        base, names, role, acct, size, tags = (args.instance_name, args.names, args.role, args.account, args.size,
                                               dict(args.tags))
        # Every resource here stood directly in the Instance before it had named parts: the alias keeps its URN.
        was = [pulumi.Alias(parent=opts.parent if opts else None)]
        child = pulumi.ResourceOptions(parent=self, aliases=was)

        # The logs are evidence in a controlled phase: protected like its data, and kept (with the key, see
        # instance.kms_key) when the stack is destroyed, for the phase's retention.
        life = args.lifecycle
        # A log group that outlives its stack is named with a generation the stack keeps for its whole life (a
        # random value without keepers: made once, never replaced), so the next stack of this environment (a
        # customer's next VAL pair) creates its own group beside the one a retired stack left behind, where a
        # plain name would make AWS refuse it (ResourceAlreadyExistsException).
        log_group_name: pulumi.Input[str] = names.log_group(role)
        if life.keep_logs and not args.log_groups_pinned:
            generation = random.RandomString(f"{base}-logs-generation", length=8, special=False, upper=False,
                                             opts=child)
            log_group_name = generation.result.apply(lambda g: names.log_group(role, g))
        log_group = aws.cloudwatch.LogGroup(
            f"{base}-logs", name=log_group_name, retention_in_days=args.log_retention_days,
            kms_key_id=args.key_arn, tags=tags,
            opts=pulumi.ResourceOptions(parent=self, aliases=was, protect=life.protected, retain_on_delete=life.keep_logs),
        )
        execution_role = aws.iam.Role(f"{base}-execution", assume_role_policy=_assume("ecs-tasks.amazonaws.com"),
                                      tags=tags, opts=child)
        aws.iam.RolePolicyAttachment(
            f"{base}-execution-managed", role=execution_role.name,
            policy_arn=acct.partition.apply(
                lambda p: f"arn:{p}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{base}-execution-secret", role=execution_role.id,
            policy=pulumi.Output.all(args.database_secret_arn, args.key_arn).apply(
                lambda v: json.dumps({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": v[0]},
                    {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": v[1]}]})),
            opts=child,
        )
        task_role = aws.iam.Role(f"{base}-task", name=names.task_role(role),
                                 assume_role_policy=_assume("ecs-tasks.amazonaws.com"), tags=tags, opts=child)
        buckets = [args.documents_bucket_arn] + ([args.exchange.bucket_arn] if args.exchange else [])
        keys = [args.key_arn] + ([args.exchange.key_arn] if args.exchange else [])
        aws.iam.RolePolicy(
            f"{base}-task-data", role=task_role.id,
            policy=pulumi.Output.all(pulumi.Output.all(*buckets), pulumi.Output.all(*keys)).apply(
                lambda v: json.dumps({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": list(v[0])},
                    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                     "Resource": [f"{b}/*" for b in v[0]]},
                    {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": list(v[1])}]})),
            opts=child,
        )
        cluster = aws.ecs.Cluster(
            f"{base}-cluster",
            settings=[{"name": "containerInsights", "value": "enabled"}],
            configuration={"managed_storage_configuration": {"fargate_ephemeral_storage_kms_key_id": args.key_id}},
            tags=tags, opts=child,
        )
        release = args.release
        image = acct.image_repository.apply(lambda repo: f"{repo}:{release}")
        container = pulumi.Output.all(image, args.database_secret_arn, args.database_address,
                                      args.documents_bucket_name, log_group.name,
                                      args.exchange.bucket_name if args.exchange else "").apply(
            lambda v: json.dumps([{
                "name": "edc", "image": v[0], "essential": True, "readonlyRootFilesystem": True, "user": "10001",
                "portMappings": [{"containerPort": APP_PORT, "protocol": "tcp"}],
                "environment": [{"name": "EDC_RELEASE", "value": release}, {"name": "DB_HOST", "value": v[2]},
                                {"name": "DOCUMENT_BUCKET", "value": v[3]}, {"name": "EXCHANGE_BUCKET", "value": v[5]}],
                "secrets": [{"name": "DB_CREDENTIALS", "valueFrom": v[1]}],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": v[4], "awslogs-region": acct.region, "awslogs-stream-prefix": "edc"}},
            }])
        )
        task = aws.ecs.TaskDefinition(
            f"{base}-task-def", family=names.task_family(role), cpu=str(size.app_cpu),
            memory=str(size.app_memory_mb), network_mode="awsvpc", requires_compatibilities=["FARGATE"],
            runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": "X86_64"},
            execution_role_arn=execution_role.arn, task_role_arn=task_role.arn, container_definitions=container,
            tags=tags, opts=child,
        )
        aws.ecs.Service(
            f"{base}-service", cluster=cluster.arn, task_definition=task.arn, desired_count=size.app_tasks,
            launch_type="FARGATE", platform_version="1.4.0", propagate_tags="SERVICE", enable_execute_command=False,
            network_configuration={"subnets": list(args.subnet_ids), "security_groups": [args.security_group_id],
                                   "assign_public_ip": False},
            load_balancers=[{"target_group_arn": args.target_group_arn, "container_name": "edc",
                             "container_port": APP_PORT}],
            # A green `up` means the release runs and is healthy: the engine waits until the deployment is
            # steady (every task running and healthy behind the target group), and fails when it is not. The
            # circuit breaker stops a failing deployment but does not roll it back: after a rollback the service
            # is steady again on the old release, and the wait would report success (an open provider issue,
            # hashicorp/terraform-provider-aws#20858). Stopped, the old tasks keep serving (a rolling update
            # keeps them until new ones are healthy), the service never becomes steady and the `up` fails.
            deployment_circuit_breaker={"enable": True, "rollback": False},
            wait_for_steady_state=True, health_check_grace_period_seconds=HEALTH_CHECK_GRACE_SECONDS,
            tags=tags, opts=pulumi.ResourceOptions(parent=self, aliases=was, depends_on=list(args.ready_after)),
        )
        self.register_outputs({"taskRoleArn": task_role.arn, "logGroup": log_group.name})
