"""`invoke status`: what runs, in one look: the stacks, the service's rollout, the API's health, the
authorizer's image, in the PostgreSQL mode the RDS instance, and the fixed monthly cost. The AWS calls are
independent, so they run concurrently.

Calls and the permissions they need (all read-only): cloudformation:DescribeStacks,
cloudformation:GetTemplate, ecs:DescribeServices, ecs:ListTasks, ecs:DescribeTasks, lambda:GetFunction, and in
the PostgreSQL mode rds:DescribeDBInstances and rds:DescribeDBSnapshots.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from lifecycle.aws import Aws, on_local_emulator
from lifecycle.deploy import api_url_from
from lifecycle.stacks import stack_outputs
from troposphere_templates.config import ProjectConfig
from troposphere_templates.cost import estimate, load_prices, total
from troposphere_templates.postgres import INSTANCE_OUTPUT

HEALTH_PATH = "/health"
HEALTH_TIMEOUT_SECONDS = 3.0
STOPPED_TASKS_SHOWN = 5
# A stack in one of these has failed and will not serve what its template says.
FAILED_STACK_SUFFIXES = ("_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_IN_PROGRESS")
# RDS instance states in which it serves connections (the RDS User Guide's "Viewing Amazon RDS DB instance
# status" table: these are billed and available, some with a change in progress); any other is a problem.
SERVING_DB_STATES = frozenset(
    {
        "available",
        "backing-up",
        "configuring-enhanced-monitoring",
        "configuring-iam-database-auth",
        "configuring-log-exports",
        "maintenance",
        "modifying",
        "renaming",
        "resetting-master-credentials",
        "storage-initialization",
        "storage-optimization",
        "upgrading",
    }
)
# Point-in-time recovery normally trails the present by about five minutes.
RESTORABLE_LAG_LIMIT_SECONDS = 3600


@dataclass
class StackState:
    name: str
    status: str  # a CloudFormation status, or "absent"
    last_change: str | None = None  # ISO time of the last create or update


@dataclass
class Deployment:
    id: str
    status: str  # PRIMARY or ACTIVE
    task_definition: str  # family:revision
    rollout: str  # IN_PROGRESS, COMPLETED, FAILED
    reason: str
    running: int
    desired: int


@dataclass
class StoppedTask:
    task: str
    stopped_at: str | None
    reason: str
    task_definition: str


@dataclass
class ServiceState:
    cluster: str
    name: str
    status: str  # ACTIVE, DRAINING, INACTIVE, or "absent"
    running: int = 0
    desired: int = 0
    pending: int = 0
    task_definition: str = ""
    images: list[str] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    stopped: list[StoppedTask] = field(default_factory=list)


@dataclass
class DatabaseState:
    """The PostgreSQL mode's RDS instance (None in the SQLite mode)."""

    instance: str
    status: str  # an RDS instance status, or "absent"
    instance_class: str = ""
    engine_version: str = ""
    storage_gib: int = 0
    multi_az: bool = False
    backup_days: int = 0
    latest_restorable: str | None = None  # ISO time: point-in-time recovery reaches up to here
    newest_snapshot: str = ""  # identifier
    newest_snapshot_at: str | None = None
    snapshots: int = 0


@dataclass
class HealthProbe:
    url: str
    status_code: int | None = None
    body: str = ""
    milliseconds: float | None = None
    error: str = ""
    skipped: str = ""


@dataclass
class Status:
    project: str
    region: str
    checked_at: str
    stacks: list[StackState]
    service: ServiceState
    api_url: str | None
    health: HealthProbe | None
    authorizer_image: str | None
    monthly_cost: float | None
    problems: list[str]
    database: DatabaseState | None = None

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "healthy": self.healthy}, indent=2)


def short_name(arn: str) -> str:
    """`arn:...:task-definition/ecs1-api:3` -> `ecs1-api:3`; `arn:...:task/cluster/abc` -> `abc`."""
    return arn.rsplit("/", 1)[-1]


def image_tag(image: str) -> str:
    """`123.dkr.ecr.../ecs1:api-abc123` -> `api-abc123` (the part users name images by)."""
    name = image.rsplit("/", 1)[-1]
    return name.split(":", 1)[1] if ":" in name else name


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(value) if value else None


def _absent(exc: ClientError) -> bool:
    return "does not exist" in str(exc) or exc.response.get("Error", {}).get("Code") in (
        "ResourceNotFoundException",
        "ClusterNotFoundException",
    )


class _Calls:
    """AWS calls started at once on a thread pool; boto3 clients are safe to share between threads."""

    def __init__(self, pool: ThreadPoolExecutor):
        self.pool = pool

    def start(self, call: Any, **kwargs: Any) -> Future:
        def run() -> Any:
            try:
                return call(**kwargs)
            except ClientError as exc:
                if _absent(exc):
                    return None
                raise

        return self.pool.submit(run)


def probe_health(api_url: str, timeout: float = HEALTH_TIMEOUT_SECONDS) -> HealthProbe:
    """GET <api_url>/health as any client would; the standard library keeps `invoke status` quick to start."""
    url = api_url.rstrip("/") + HEALTH_PATH
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http(s) URL of the stack)
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return HealthProbe(url, error=" ".join(str(reason).split()) or type(exc).__name__)
    body = " ".join(raw.decode(errors="replace").split())[:200]
    return HealthProbe(url, status, body, round((time.monotonic() - started) * 1000, 1))


def _service_state(config: ProjectConfig, described: dict | None, tasks: list[dict]) -> ServiceState:
    services = [s for s in (described or {}).get("services", []) if s.get("status") != "INACTIVE"]
    if not services:
        return ServiceState(config.cluster_name, config.service_name, "absent")
    service = services[0]
    group = f"service:{config.service_name}"
    mine = [t for t in tasks if t.get("group", group) == group]
    running = [t for t in mine if t.get("lastStatus") == "RUNNING"]
    stopped = sorted(
        (t for t in mine if t.get("lastStatus") == "STOPPED"),
        key=lambda t: t.get("stoppedAt") or datetime.min.replace(tzinfo=UTC),
        reverse=True,
    )
    return ServiceState(
        cluster=config.cluster_name,
        name=service["serviceName"],
        status=service["status"],
        running=service.get("runningCount", 0),
        desired=service.get("desiredCount", 0),
        pending=service.get("pendingCount", 0),
        task_definition=short_name(service.get("taskDefinition", "")),
        images=sorted(
            {image_tag(c["image"]) for t in running for c in t.get("containers", []) if c.get("image")}
        ),
        deployments=[
            Deployment(
                id=d.get("id", ""),
                status=d.get("status", ""),
                task_definition=short_name(d.get("taskDefinition", "")),
                rollout=d.get("rolloutState", ""),
                reason=d.get("rolloutStateReason", ""),
                running=d.get("runningCount", 0),
                desired=d.get("desiredCount", 0),
            )
            for d in service.get("deployments", [])
        ],
        stopped=[
            StoppedTask(
                task=short_name(t["taskArn"]),
                stopped_at=_iso(t.get("stoppedAt")),
                reason=" ".join(str(t.get("stoppedReason") or "no reason given").split()),
                task_definition=short_name(t.get("taskDefinitionArn", "")),
            )
            for t in stopped[:STOPPED_TASKS_SHOWN]
        ],
    )


def _database_state(instance: str, described: dict | None, snapshots: list[dict]) -> DatabaseState:
    found = (described or {}).get("DBInstances") or []
    if not found:
        return DatabaseState(instance, "absent")
    db = found[0]
    done = [s for s in snapshots if s.get("SnapshotCreateTime")]
    newest = max(done, key=lambda s: s["SnapshotCreateTime"], default=None)
    return DatabaseState(
        instance=instance,
        status=db.get("DBInstanceStatus", ""),
        instance_class=db.get("DBInstanceClass", ""),
        engine_version=f"{db.get('Engine', '')} {db.get('EngineVersion', '')}".strip(),
        storage_gib=int(db.get("AllocatedStorage", 0)),
        multi_az=bool(db.get("MultiAZ")),
        backup_days=int(db.get("BackupRetentionPeriod", 0)),
        latest_restorable=_iso(db.get("LatestRestorableTime")),
        newest_snapshot=newest["DBSnapshotIdentifier"] if newest else "",
        newest_snapshot_at=_iso(newest["SnapshotCreateTime"]) if newest else None,
        snapshots=len(snapshots),
    )


def _database_problems(database: DatabaseState, checked_at: datetime) -> list[str]:
    if database.status == "absent":
        return [f"RDS instance {database.instance} does not exist"]
    problems = []
    if database.status not in SERVING_DB_STATES:
        problems.append(f"RDS instance {database.instance} is {database.status}")
    if database.backup_days == 0:
        problems.append(f"RDS instance {database.instance} keeps no automated backups")
    elif database.latest_restorable:
        lag = (checked_at - datetime.fromisoformat(database.latest_restorable)).total_seconds()
        if lag > RESTORABLE_LAG_LIMIT_SECONDS:
            problems.append(
                f"RDS point-in-time recovery of {database.instance} stops {int(lag // 60)} min ago"
            )
    return problems


def _monthly_cost(template: dict | None, stack: dict | None) -> float | None:
    """The fixed cost of the deployed template with the deployed parameter values."""
    if not template or not stack:
        return None
    body = template["TemplateBody"]
    document = json.loads(body) if isinstance(body, str) else body
    values = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
    for name, spec in document.get("Parameters", {}).items():
        if name in values:
            spec["Default"] = values[name]
    return total(estimate(document, load_prices()))


def _problems(status: Status, app_stack: str, expected_database: str = "") -> list[str]:
    problems = []
    for stack in status.stacks:
        if stack.status.endswith(FAILED_STACK_SUFFIXES) and stack.status != "UPDATE_ROLLBACK_COMPLETE":
            problems.append(f"stack {stack.name} is {stack.status}")
    if next(s for s in status.stacks if s.name == app_stack).status == "absent":
        return [*problems, f"no application stack {app_stack}: run `invoke deploy`"]
    service = status.service
    if service.status != "ACTIVE":
        problems.append(f"service {service.name} is {service.status}")
    elif service.running < service.desired:
        problems.append(f"service {service.name} runs {service.running} of {service.desired} tasks")
    primary = next((d for d in service.deployments if d.status == "PRIMARY"), None)
    if primary and primary.rollout == "FAILED":
        problems.append(f"deployment {primary.id} failed: {primary.reason}")
    health = status.health
    if health and not health.skipped and health.status_code != 200:
        answer = (
            f"answered {health.status_code}" if health.status_code else f"did not answer ({health.error})"
        )
        problems.append(f"{health.url} {answer}")
    deployed_mode = "postgres" if status.database else "sqlite"
    if expected_database and expected_database != deployed_mode:
        problems.append(f"{app_stack} runs {deployed_mode}, not {expected_database} (--database)")
    if status.database:
        problems += _database_problems(status.database, datetime.fromisoformat(status.checked_at))
    return problems


def gather(config: ProjectConfig, aws: Aws, url: str = "", database: str = "") -> Status:
    """Everything `invoke status` shows; `url` probes that API instead of the stack's (a local server);
    `database` (sqlite or postgres) is the mode the stack should run, a problem when it runs the other."""
    cfn, ecs, lam = aws.client("cloudformation"), aws.client("ecs"), aws.client("lambda")
    names = [*config.pipeline_stacks.values(), config.app_stack]
    with ThreadPoolExecutor(max_workers=10) as pool:
        calls = _Calls(pool)
        stacks = {name: calls.start(cfn.describe_stacks, StackName=name) for name in names}
        template = calls.start(cfn.get_template, StackName=config.app_stack, TemplateStage="Original")
        service = calls.start(
            ecs.describe_services, cluster=config.cluster_name, services=[config.service_name]
        )
        task_lists = [
            calls.start(
                ecs.list_tasks,
                cluster=config.cluster_name,
                serviceName=config.service_name,
                desiredStatus=state,
            )
            for state in ("RUNNING", "STOPPED")
        ]
        function = calls.start(lam.get_function, FunctionName=config.authorizer_function_name)

        described = {
            name: ((future.result() or {}).get("Stacks") or [None])[0] for name, future in stacks.items()
        }
        app = described[config.app_stack]
        outputs = stack_outputs(app or {})
        api_url = url or api_url_from(outputs)
        instance = outputs.get(INSTANCE_OUTPUT, "")
        if instance:
            rds = aws.client("rds")
            db_described = calls.start(rds.describe_db_instances, DBInstanceIdentifier=instance)
            db_snapshots = calls.start(rds.describe_db_snapshots, DBInstanceIdentifier=instance)
        health: Future | None = None
        if api_url and not url and on_local_emulator(aws):
            skipped: HealthProbe | None = HealthProbe(
                api_url.rstrip("/") + HEALTH_PATH,
                skipped="the local emulator's API URL has no server behind it (pass --url to probe one)",
            )
        else:
            skipped = None
            health = pool.submit(probe_health, api_url) if api_url else None
        task_arns = [arn for future in task_lists for arn in (future.result() or {}).get("taskArns", [])]
        tasks = (
            (ecs.describe_tasks(cluster=config.cluster_name, tasks=task_arns[:100]) or {}).get("tasks", [])
            if task_arns
            else []
        )
        code = (function.result() or {}).get("Code", {})
        status = Status(
            project=config.project,
            region=aws.region or config.region,
            checked_at=datetime.now(UTC).isoformat(timespec="seconds"),
            stacks=[
                StackState(name, "absent")
                if stack is None or stack["StackStatus"] == "DELETE_COMPLETE"
                else StackState(
                    name,
                    stack["StackStatus"],
                    _iso(stack.get("LastUpdatedTime") or stack.get("CreationTime")),
                )
                for name, stack in described.items()
            ],
            service=_service_state(config, service.result(), tasks),
            api_url=api_url,
            health=health.result() if health else skipped,
            authorizer_image=image_tag(code["ImageUri"]) if code.get("ImageUri") else None,
            monthly_cost=_monthly_cost(template.result(), app),
            problems=[],
            database=(
                _database_state(
                    instance, db_described.result(), (db_snapshots.result() or {}).get("DBSnapshots", [])
                )
                if instance
                else None
            ),
        )
    status.problems = _problems(status, config.app_stack, database)
    return status


def _ago(iso: str | None, now: datetime) -> str:
    if not iso:
        return ""
    seconds = (now - datetime.fromisoformat(iso)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{iso.replace('T', ' ').removesuffix('+00:00')} UTC ({int(seconds // size)} {unit} ago)"
    return f"{iso.replace('T', ' ').removesuffix('+00:00')} UTC (just now)"


def _database_lines(database: DatabaseState, now: datetime) -> list[str]:
    lines = [f"database RDS PostgreSQL instance {database.instance}"]
    if database.status == "absent":
        return [*lines, "  not found"]
    lines.append(f"  {'state':<12}{database.status}")
    lines.append(
        f"  {'instance':<12}{database.instance_class}, {database.engine_version}, {database.storage_gib} GiB"
        f"{', Multi-AZ' if database.multi_az else ', one zone'}"
    )
    restorable = _ago(database.latest_restorable, now) or "none"
    lines.append(
        f"  {'restorable':<12}any moment in the last {database.backup_days} days, up to {restorable}"
    )
    snapshot = (
        f"{database.newest_snapshot}, {_ago(database.newest_snapshot_at, now)} ({database.snapshots} in all)"
        if database.newest_snapshot
        else "none yet (`invoke backup` takes one)"
    )
    lines.append(f"  {'snapshot':<12}{snapshot}")
    return lines


def render(status: Status) -> str:
    """The human view: aligned sections, then one closing line that says healthy or what is wrong."""
    now = datetime.fromisoformat(status.checked_at)
    width = max(len(s.name) for s in status.stacks)
    lines = [f"{status.project} in {status.region}, {status.checked_at.replace('T', ' ')}", "", "stacks"]
    for stack in status.stacks:
        shown = (
            "not deployed"
            if stack.status == "absent"
            else f"{stack.status:<22} {_ago(stack.last_change, now)}"
        )
        lines.append(f"  {stack.name:<{width}}  {shown}".rstrip())
    service = status.service
    lines += ["", f"service {service.name} (cluster {service.cluster})"]
    if service.status == "absent":
        lines.append("  not deployed")
    else:
        lines.append(
            f"  {'tasks':<12}{service.running} running / {service.desired} desired"
            f" / {service.pending} pending"
        )
        lines.append(f"  {'definition':<12}{service.task_definition}")
        lines.append(f"  {'images':<12}{', '.join(service.images) or 'none running'}")
        for deployment in service.deployments:
            lines.append(
                f"  {'deployment':<12}{deployment.status} {deployment.task_definition} {deployment.rollout}: "
                f"{deployment.reason}".rstrip(": ")
            )
        for task in service.stopped:
            when = (task.stopped_at or "").replace("T", " ").removesuffix("+00:00")
            lines.append(f"  {'stopped':<12}{when}  {task.task[:8]}  {task.task_definition}  {task.reason}")
    lines += ["", "api"]
    lines.append(f"  {'url':<12}{status.api_url or 'none (no application stack)'}")
    health = status.health
    if health:
        if health.skipped:
            answer = f"skipped: {health.skipped}"
        elif health.status_code is None:
            answer = f"no answer: {health.error}"
        else:
            answer = f"{health.status_code} {health.body} ({health.milliseconds:.0f} ms)"
        lines.append(f"  {HEALTH_PATH:<12}{answer}")
    lines.append(f"  {'authorizer':<12}{status.authorizer_image or 'not deployed'}")
    if status.database:
        lines += ["", *_database_lines(status.database, now)]
    if status.monthly_cost is not None:
        lines += ["", f"fixed cost  ${status.monthly_cost:,.2f} a month at idle (`invoke cost` itemises it)"]
    lines.append("")
    if status.healthy:
        lines.append("healthy")
    else:
        lines.append(f"unhealthy: {'; '.join(status.problems)}")
    return "\n".join(lines)
