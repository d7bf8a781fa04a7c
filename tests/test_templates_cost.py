"""`invoke cost`: the itemised idle estimate read from the rendered app template, against the targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.templates_support import PROJECT_ROOT, load, rendered_dir
from troposphere_templates.cost import CostError, estimate, load_prices, report, total

PRICES = load_prices()


def items_by_kind(config: str) -> dict[str, float]:
    amounts: dict[str, float] = {}
    for item in estimate(load(config), PRICES):
        kind = item.label.split(":")[0].split(",")[0].split(" ")[0]
        amounts[kind] = round(amounts.get(kind, 0) + item.monthly, 4)
    return amounts


def test_price_table_states_region_date_and_its_assumptions() -> None:
    assert PRICES["region"] == "us-east-1"
    assert PRICES["date"]
    assert PRICES["fargate_spot_discount"] == 0.70
    assert "70%" in PRICES["assumptions"]["fargate_spot_discount"]


def test_default_configuration_costs_at_most_13_dollars() -> None:
    items = estimate(load("default"), PRICES)
    assert total(items) <= 13.00
    assert total(items) == pytest.approx(12.59, abs=0.01)
    labels = "\n".join(item.label for item in items)
    # Everything the issue lists is priced, from what the template creates.
    for expected in (
        "Fargate ARM64 FARGATE",
        "Public IPv4: 1 address",
        "1 hosted zone",
        "Cloud Map instances: 1 registered instance x $0.10",
        "2 secrets",
        "1 GB stored",
        "ECR storage: 0.28 GB of images (assumed sizes) x $0.10",
    ):
        assert expected in labels
    assert "Interface endpoints" not in labels


def test_fargate_spot_costs_about_7_54() -> None:
    """$7.41 before Cloud Map's instance fee ($0.10) and the images' ECR storage ($0.03) were counted."""
    items = estimate(load("spot"), PRICES)
    assert total(items) == pytest.approx(7.54, abs=0.01)
    assert all("FARGATE_SPOT" in item.label and "x 0.30 (Spot)" in item.label for item in items[:2])


def test_original_architecture_costs_about_51_dollars() -> None:
    """The original's $50.73 is Fargate x86 1 vCPU / 3 GB, public IPv4, one interface endpoint and the hosted
    zone; rendered through the same templates it also carries this design's two secrets ($0.80), EFS ($0.30),
    Cloud Map's instance fee ($0.10) and the images' ECR storage ($0.03): $51.96, within a dollar of $51."""
    amounts = items_by_kind("original")
    original_items = amounts["Fargate"] + amounts["Public"] + amounts["Interface"] + amounts["Cloud"]
    assert original_items == pytest.approx(50.73 + 0.10, abs=0.01)
    assert amounts["Fargate"] == pytest.approx(39.28, abs=0.01)
    assert amounts["Interface"] == pytest.approx(7.30, abs=0.01)
    assert total(estimate(load("original"), PRICES)) == pytest.approx(51, abs=1)


def test_invoke_cost_prints_items_and_the_total_last(tmp_path: Path) -> None:
    template = rendered_dir("spot") / "app.json"
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "cost", "--template", str(template)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"Fixed monthly cost at idle of {template} (us-east-1 list prices as of ")
    assert "assumption: Fargate Spot 70% below on-demand" in result.stdout
    assert "assumption: image sizes are estimates, not measurements" in result.stdout
    assert lines[-1].split() == ["Total", "$7.54", "a", "month"]


def test_a_broken_template_is_one_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "app.json"
    broken.write_text("{not json")
    with pytest.raises(CostError, match="cannot read the template"):
        report(broken)
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "cost", "--template", str(broken)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot read the template") and "Traceback" not in result.stderr


def test_estimate_follows_the_template_not_a_fixed_list() -> None:
    app = load("default")
    secret_id = next(k for k, r in app["Resources"].items() if r["Type"] == "AWS::SecretsManager::Secret")
    app["Resources"][f"{secret_id}Copy"] = json.loads(json.dumps(app["Resources"][secret_id]))
    app["Parameters"]["CapacityProvider"]["Default"] = "FARGATE_SPOT"
    labels = [item.label for item in estimate(app, PRICES)]
    assert any("3 secrets" in label for label in labels)
    assert any("FARGATE_SPOT" in label for label in labels)


def test_cloud_map_instances_follow_the_running_tasks_and_ecr_the_images() -> None:
    app = load("default")
    (service,) = [r for r in app["Resources"].values() if r["Type"] == "AWS::ECS::Service"]
    service["Properties"]["DesiredCount"] = 3
    labels = [item.label for item in estimate(app, PRICES)]
    assert "Cloud Map instances: 3 registered instances x $0.10" in labels
    del service["Properties"]["ServiceRegistries"]
    assert not any(
        label.startswith("Cloud Map instances") for label in (i.label for i in estimate(app, PRICES))
    )

    (function,) = [r for r in app["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    function["Properties"]["Code"]["ImageUri"] = {"Fn::Sub": "${AWS::AccountId}.dkr.ecr.x/ecs1:worker-1"}
    with pytest.raises(CostError, match="no assumed size for the image"):
        estimate(app, PRICES)
