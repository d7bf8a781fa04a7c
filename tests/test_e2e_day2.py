"""Day-2 tasks against the local emulator after `invoke deploy --stand-in-images`, run as a user runs them.

Real parts: `invoke deploy/status/diff/logs/smoke` as subprocesses, the emulator over HTTP (moto's server
with the project's emulations, including ECS's scheduler and change-set details), the real API server process
for the smoke test. What cannot exist here: the running Fargate task, the authorizer and API Gateway that
would write the log groups (the test writes their events with PutLogEvents), and a server behind the
emulator's API URL (the smoke test and the health probe reach a local server through --url, started with the
stack's secrets as ECS would inject them).

The tests run in file order on one deployment, as a user's session would: the first resizes the task
(512/1024) and the later ones start from there.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

import local_aws
from tests.lifecycle_support import (
    ACCOUNT_ID,
    PROJECT_ROOT,
    REGION,
    aws_env,
    client,
    invoke,
    last_line,
    live_stacks,
)
from tests.support import as_in_a_terminal, free_port, running_server
from troposphere_templates.cost import estimate, load_prices, total

pytestmark = pytest.mark.slow  # see conftest.py

TAG = "day2t1"
CONNECTION_ARN = (
    f"arn:aws:codeconnections:{REGION}:{ACCOUNT_ID}:connection/0b5c5a1e-0000-4000-8000-0000000000d2"
)
LOG_GROUPS = {
    "api": "/ecs/ecs1/api",
    "authorizer": "/aws/lambda/ecs1-authorizer",
    "gateway": "/aws/apigateway/ecs1-api/access",
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with local_aws.running() as url:
        yield url


@pytest.fixture(scope="module")
def deployed(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    """The application stack, deployed as the README says to try it; returns the endpoint and the options."""
    out = tmp_path_factory.mktemp("templates")
    options = ["--stack", "app", "--image-tag", TAG, "--out", str(out)]
    result, _ = invoke(endpoint, "deploy", "--stand-in-images", *options)
    assert result.returncode == 0, result.stdout + result.stderr
    return endpoint, options


def rows(output: str, status: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines() if f"  {status}" in line and line.startswith("  ")]


def test_deploy_shows_one_aligned_row_per_resource_and_says_the_smoke_test_is_skipped(deployed):
    endpoint, options = deployed
    result, _ = invoke(endpoint, "deploy", "--stand-in-images", *options, "--cpu", "512", "--memory", "1024")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"deploy ecs1-app to {REGION} (account {ACCOUNT_ID})") for line in lines)
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["elapsed", "resource", "type"])
    assert lines[header - 1] == "ecs1-app: updating (2 resource change(s))"
    table = lines[header + 1 : header + 3]
    assert sorted(row.split()[1] for row in table) == ["Service", "TaskDefinition"], "one row per resource"
    assert {row.index("UPDATE_COMPLETE") for row in table} == {lines[header].index("status")}
    assert next(row for row in table if "TaskDefinition" in row).endswith("replaced")
    assert "ecs1-app: updated in " in result.stdout and ": 2 updated (1 replaced)" in result.stdout
    assert "smoke test skipped:" in result.stdout and "belongs to the local emulator" in result.stdout
    assert last_line(result).startswith("deploy succeeded in ")
    assert "IN_PROGRESS" not in result.stdout


def test_status_shows_the_rollout_and_exits_0_when_healthy(deployed, tmp_path):
    endpoint, options = deployed
    result, _ = invoke(endpoint, "status")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "1 running / 1 desired / 0 pending" in out
    assert f"api-{TAG}" in out and f"authorizer-{TAG}" in out
    assert "skipped: the local emulator's API URL has no server behind it" in out
    assert "Scaling activity initiated by (deployment ecs-svc/" in out, "the replaced task and ECS's reason"
    assert last_line(result) == "healthy"

    report = json.loads(invoke(endpoint, "status", "--json")[0].stdout)
    assert report["healthy"] is True
    assert {s["name"]: s["status"] for s in report["stacks"]} == {
        "ecs1-create-pipeline": "absent",
        "ecs1-update-pipeline": "absent",
        "ecs1-update-lambda-pipeline": "absent",
        "ecs1-app": "UPDATE_COMPLETE",
    }
    service = report["service"]
    ecs = client(endpoint, "ecs")
    described = ecs.describe_services(cluster="ecs1-cluster", services=["ecs1-api"])["services"][0]
    assert service["task_definition"] == described["taskDefinition"].rsplit("/", 1)[1]
    assert (service["running"], service["desired"], service["pending"]) == (1, 1, 0)
    assert service["images"] == [f"api-{TAG}"]
    assert [d["rollout"] for d in service["deployments"]] == ["COMPLETED"]
    assert service["stopped"][0]["task_definition"] != service["task_definition"]
    template = client(endpoint, "cloudformation").get_template(StackName="ecs1-app")["TemplateBody"]
    template["Parameters"]["CapacityProvider"]["Default"] = "FARGATE"
    assert report["monthly_cost"] == total(estimate(template, load_prices()))
    assert report["authorizer_image"] == f"authorizer-{TAG}"


def test_status_probes_health_through_a_url_and_exits_1_when_it_does_not_answer(deployed, tmp_path):
    endpoint, _ = deployed
    with running_server(tmp_path) as server:
        result, _ = invoke(endpoint, "status", "--url", server.base_url)
        assert result.returncode == 0, result.stdout + result.stderr
        assert '/health     200 {"status":"ok","database":"ok"}' in result.stdout
    closed = f"http://127.0.0.1:{free_port()}"
    result, _ = invoke(endpoint, "status", "--url", closed)
    assert result.returncode == 1
    assert last_line(result).startswith(f"unhealthy: {closed}/health did not answer")


def test_status_exits_1_for_a_stack_whose_creation_failed(deployed):
    endpoint, _ = deployed
    cfn = client(endpoint, "cloudformation")
    boom = {"Type": local_aws.FAILURE_TYPE, "Properties": {"FailOn": "Create", "Reason": "quota exceeded"}}
    created = cfn.create_change_set(
        StackName="broken-app",
        ChangeSetName="first",
        ChangeSetType="CREATE",
        TemplateBody=json.dumps({"Resources": {"Boom": boom}}),
    )
    cfn.execute_change_set(ChangeSetName=created["Id"])
    try:
        result, _ = invoke(endpoint, "status", "--project", "broken")
        assert result.returncode == 1
        assert "broken-app" in result.stdout and "ROLLBACK_COMPLETE" in result.stdout
        assert (
            last_line(result)
            == "unhealthy: stack broken-app is ROLLBACK_COMPLETE; service broken-api is absent"
        )
    finally:
        cfn.delete_stack(StackName="broken-app")


def change_sets(endpoint: str) -> list[dict]:
    return client(endpoint, "cloudformation").list_change_sets(StackName="ecs1-app")["Summaries"]


def test_diff_describes_changes_without_making_them_and_leaves_no_change_set(deployed):
    endpoint, options = deployed
    before = client(endpoint, "ecs").describe_services(cluster="ecs1-cluster", services=["ecs1-api"])
    unchanged, _ = invoke(endpoint, "diff", *options, "--cpu", "512", "--memory", "1024")
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert "ecs1-app: no changes" in unchanged.stdout
    assert last_line(unchanged) == "no changes: 1 stack(s) up to date"

    retagged = [("day2t2" if option == TAG else option) for option in options]
    changed, _ = invoke(endpoint, "diff", *retagged, "--cpu", "1024", "--memory", "2048")
    assert changed.returncode == 1, changed.stdout + changed.stderr
    table = {line.split()[1]: line for line in changed.stdout.splitlines() if line.startswith("  Modify")}
    assert set(table) == {"TaskDefinition", "Service", "AuthorizerFunction"}
    assert "REPLACE" in table["TaskDefinition"] and "Cpu, Memory" in table["TaskDefinition"]
    assert "REPLACE" not in table["Service"] and "(from TaskDefinition)" in table["Service"]
    assert "(from AuthorizerImageTag)" in table["AuthorizerFunction"]
    assert last_line(changed).startswith(
        "1 of 1 stack(s) would change: 3 resource change(s), 1 replacement(s)"
    )
    kept, _ = invoke(endpoint, "diff", *retagged, "--keep-images", "--cpu", "512", "--memory", "1024")
    # As deploy --keep-images: the running images stay (only the template's parameter defaults would change).
    assert kept.returncode == 1, kept.stdout + kept.stderr
    assert "ecs1-app: would be updated: its parameters or tags only, no resource changes" in kept.stdout
    assert [s for s in change_sets(endpoint) if s["ExecutionStatus"] == "AVAILABLE"] == []
    after = client(endpoint, "ecs").describe_services(cluster="ecs1-cluster", services=["ecs1-api"])
    assert after["services"][0]["taskDefinition"] == before["services"][0]["taskDefinition"]


def test_diff_of_stacks_not_yet_created_lists_every_resource_and_calls_out_iam(deployed):
    endpoint, options = deployed
    everything = [o for o in options if o not in ("--stack", "app")]
    result, _ = invoke(
        endpoint, "diff", *everything, "--cpu", "512", "--memory", "1024", "--connection-arn", CONNECTION_ARN
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ecs1-create-pipeline: would be created, 6 resource change(s)" in result.stdout
    assert "  ! IAM changes: Add BuildRole, Add CloudFormationRole, Add PipelineRole" in result.stdout
    assert "ecs1-app: no changes" in result.stdout
    assert live_stacks(endpoint) == {"ecs1-app": "UPDATE_COMPLETE"}, "no empty REVIEW_IN_PROGRESS stack left"


def test_diff_deletes_its_change_sets_when_interrupted(deployed, tmp_path, monkeypatch):
    """Ctrl+C while CloudFormation computes a change set; the KeyboardInterrupt is raised from the describe
    call (a signal cannot be timed to land there from a test)."""
    from lifecycle.aws import Aws
    from lifecycle.deploy import StackPlan
    from lifecycle.diff import stack_diffs
    from tests.lifecycle_support import quiet_progress

    endpoint, _ = deployed
    cfn = client(endpoint, "cloudformation")
    template = cfn.get_template(StackName="ecs1-app")["TemplateBody"]
    template["Resources"]["TaskDefinition"]["Properties"].update(Cpu="1024", Memory="2048")
    body = json.dumps(template)
    parameters = {
        p["ParameterKey"]: p["ParameterValue"]
        for p in cfn.describe_stacks(StackName="ecs1-app")["Stacks"][0]["Parameters"]
    }
    plans = [
        StackPlan("ecs1-app", body, parameters, {"project": "ecs1"}),
        StackPlan("ecs1-new-stack", body, parameters, {"project": "ecs1"}),
    ]
    aws = Aws(region=REGION, endpoint_url=endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    calls = []

    def interrupted(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_describe(**kwargs)

    real_describe = aws.client("cloudformation").describe_change_set
    monkeypatch.setattr(aws.client("cloudformation"), "describe_change_set", interrupted)
    progress, _ = quiet_progress()
    with pytest.raises(KeyboardInterrupt):
        stack_diffs(aws, plans, None, progress, poll_seconds=0.01)
    assert len(calls) == 2, "interrupted while the second (CREATE) change set was being computed"
    assert [s for s in change_sets(endpoint) if s["ExecutionStatus"] == "AVAILABLE"] == []
    assert "ecs1-new-stack" not in live_stacks(endpoint)


def run_on_a_terminal(endpoint: str, args: list[str], answer: str) -> tuple[int, str]:
    """`invoke <args>` with a pseudo-terminal as its standard input, as a person runs it; types `answer`."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", *args],
        cwd=PROJECT_ROOT,
        env=aws_env(endpoint),
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    os.close(secondary)
    os.write(primary, f"{answer}\n".encode())
    output, _ = process.communicate(timeout=120)
    os.close(primary)
    return process.returncode, output


def test_deploy_confirm_shows_the_changes_and_applies_them_only_when_asked_to(deployed):
    endpoint, options = deployed
    bigger = [*options, "--stand-in-images", "--cpu", "1024", "--memory", "2048"]
    refused, _ = invoke(endpoint, "deploy", "--confirm", *bigger)
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("error: --confirm needs a terminal to ask on")

    code, output = run_on_a_terminal(endpoint, ["deploy", "--confirm", *bigger], "n")
    assert code == 0, output
    assert "Modify   TaskDefinition" in output and "Deploy these changes to ecs1-app? [y/N]" in output
    assert "(not confirmed: ecs1-app)" in output
    task = client(endpoint, "ecs").describe_task_definition(taskDefinition="ecs1-api")["taskDefinition"]
    assert task["cpu"] == "512"
    assert [s for s in change_sets(endpoint) if s["ExecutionStatus"] == "AVAILABLE"] == []

    code, output = run_on_a_terminal(endpoint, ["deploy", "--confirm", *bigger], "y")
    assert code == 0, output
    assert "(updated: ecs1-app)" in output
    task = client(endpoint, "ecs").describe_task_definition(taskDefinition="ecs1-api")["taskDefinition"]
    assert task["cpu"] == "1024"


def put_events(endpoint: str, group: str, messages: list[tuple[int, str]]) -> None:
    logs = client(endpoint, "logs")
    stream = f"test-{time.monotonic_ns()}"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": ms, "message": message} for ms, message in messages],
    )


def test_logs_merge_the_three_groups_in_time_order_one_line_per_event(deployed):
    endpoint, _ = deployed
    now = int(time.time() * 1000)
    put_events(
        endpoint,
        LOG_GROUPS["api"],
        [(now - 3000, "INFO started"), (now - 1000, "ERROR boom\nTraceback (most recent call last):\n")],
    )
    put_events(endpoint, LOG_GROUPS["authorizer"], [(now - 2000, '{"decision": "allow", "user": "ann"}')])
    put_events(
        endpoint,
        LOG_GROUPS["gateway"],
        [
            (now - 2500, '{"status":"200","routeKey":"GET /health"}'),
            (now - 500, '{"status":"503","routeKey":"GET /"}'),
        ],
    )

    result, _ = invoke(endpoint, "logs", "--since", "5m")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[2] for line in lines] == ["api", "gateway", "authorizer", "api", "gateway"]
    assert lines[3].endswith("ERROR boom\\nTraceback (most recent call last):")
    assert "\x1b" not in result.stdout, "no colour when piped"

    only, _ = invoke(
        endpoint, "logs", "--since", "5m", "--source", "gateway", "--filter", "{ $.status = 5* }"
    )
    assert [line.split(maxsplit=3)[2:] for line in only.stdout.splitlines()] == [
        ["gateway", '{"status":"503","routeKey":"GET /"}']
    ]
    errors, _ = invoke(endpoint, "logs", "--since", "5m", "--filter", "ERROR")
    assert [line.split(maxsplit=3)[3] for line in errors.stdout.splitlines()] == [
        "ERROR boom\\nTraceback (most recent call last):"
    ]
    later, _ = invoke(endpoint, "logs", "--since", "2099-01-01T00:00")
    assert later.returncode == 0 and later.stdout == ""
    assert "no events since 2099-01-01 00:00:00 UTC" in later.stderr
    wrong, _ = invoke(endpoint, "logs", "--since", "yesterday")
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == (
        "error: --since takes a duration like 10m, 2h or 1d, or an ISO time like 2026-11-28T06:00"
    )


def test_logs_follow_prints_new_events_until_ctrl_c(deployed):
    endpoint, _ = deployed
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "logs", "--follow", "--since", "1s", "--source", "api"],
        preexec_fn=as_in_a_terminal,
        cwd=PROJECT_ROOT,
        env=aws_env(endpoint),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The follower prints nothing until an event arrives, and under load it may take seconds to start:
        # an event is written every half second, each "now", until the first one is printed.
        ready = []
        for _ in range(120):
            put_events(endpoint, LOG_GROUPS["api"], [(int(time.time() * 1000), "followed event")])
            ready, _, _ = select.select([process.stdout], [], [], 0.5)
            if ready or process.poll() is not None:
                break
        assert ready, "no event was printed while events kept arriving"
        line = process.stdout.readline()
        assert line.rstrip().endswith("api         followed event")
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert err.strip() == "stopped following the logs"


def secret(endpoint: str, name: str) -> str:
    return client(endpoint, "secretsmanager").get_secret_value(SecretId=name)["SecretString"]


def test_smoke_checks_a_live_api_as_a_client_and_leaves_no_user(deployed, tmp_path):
    endpoint, _ = deployed
    # The task's environment as ECS builds it from the stack: the generated secrets and the admin's name.
    with running_server(
        tmp_path,
        APP_ENV="prod",
        ADMIN_USERNAME="admin",
        ADMIN_PASSWORD=secret(endpoint, "ecs1/admin-password"),
        JWT_SECRET_KEY=secret(endpoint, "ecs1/jwt-secret-key"),
    ) as server:
        result, _ = invoke(endpoint, "smoke", "--url", server.base_url)
        assert result.returncode == 0, result.stdout + result.stderr
        steps = result.stdout.splitlines()[1:-1]
        assert [line.split()[0] for line in steps] == ["ok"] * 8
        assert "admin logs in" in steps[1] and "secret ecs1/admin-password" in steps[1]
        assert last_line(result).startswith("smoke test passed: 8 steps in ")

        admin = httpx.post(
            f"{server.base_url}/auth/token",
            data={"username": "admin", "password": secret(endpoint, "ecs1/admin-password")},
        ).json()["access_token"]
        users = httpx.get(f"{server.base_url}/users/read_all", headers={"Authorization": f"Bearer {admin}"})
        assert [u["user_name"] for u in users.json()] == ["admin"], "the throwaway user is gone"

        client(endpoint, "secretsmanager").put_secret_value(
            SecretId="ecs1/admin-password", SecretString="wrong-password-1"
        )
        try:
            failed, _ = invoke(endpoint, "smoke", "--url", server.base_url)
        finally:
            client(endpoint, "secretsmanager").put_secret_value(
                SecretId="ecs1/admin-password", SecretString=server.env["ADMIN_PASSWORD"]
            )
        assert failed.returncode == 1
        assert failed.stdout.splitlines()[-1].startswith("FAIL  admin logs in")
        assert failed.stderr.strip().startswith(
            "error: smoke test failed at admin logs in: POST /auth/token answered 401"
        )
        users = httpx.get(f"{server.base_url}/users/read_all", headers={"Authorization": f"Bearer {admin}"})
        assert [u["user_name"] for u in users.json()] == ["admin"], "no user created before the admin worked"

    down, _ = invoke(endpoint, "smoke", "--url", server.base_url)
    assert down.returncode == 1
    assert down.stdout.splitlines()[-1].startswith("FAIL  GET /health")
    emulated, _ = invoke(endpoint, "smoke")
    assert emulated.returncode == 1 and "belongs to the local emulator" in emulated.stderr
