"""`invoke cost`: the fixed monthly cost at idle, itemised, read from a rendered application template.

It reads what the template will create (task size and architecture, capacity provider, public IPs, secrets,
namespaces and the instances registered in them, interface endpoints, file systems, the images it runs), so
the estimate follows the template, not a separate list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from troposphere_templates.config import image_tag_prefix

PRICES_FILE = Path(__file__).with_name("prices.json")


class CostError(ValueError):
    """The template cannot be priced; the message is one line for the user."""


@dataclass(frozen=True)
class LineItem:
    label: str
    monthly: float


def load_prices(path: Path = PRICES_FILE) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """A parameter reference becomes the parameter's default (the value a plain deploy uses)."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return parameters[value["Ref"]].get("Default")
    return value


def _of_type(resources: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        resource.get("Properties", {})
        for _, resource in sorted(resources.items())
        if resource.get("Type") == resource_type
    ]


def _plural(count: float, word: str) -> str:
    return f"{count:g} {word}{'' if count == 1 else 's'}"


def _money(amount: float) -> str:
    return f"${amount:,.2f}"


def _rate(price: float) -> str:
    """$0.50 for a monthly price, $0.004445 for an hourly rate: as many decimals as the price list has."""
    return f"${price:.2f}" if price >= 0.1 else f"${price:g}"


def _fargate(resources: dict[str, Any], parameters: dict[str, Any], prices: dict[str, Any]) -> list[LineItem]:
    hours = prices["hours_per_month"]
    items = []
    for service in _of_type(resources, "AWS::ECS::Service"):
        task_name = (service.get("TaskDefinition") or {}).get("Ref")
        if task_name not in resources:
            raise CostError("an ECS service does not reference a task definition of the same template")
        task = resources[task_name].get("Properties", {})
        count = int(_resolve(service.get("DesiredCount", 1), parameters))
        architecture = task.get("RuntimePlatform", {}).get("CpuArchitecture", "X86_64")
        sizes = {
            "vcpu": int(_resolve(task["Cpu"], parameters)) / 1024,
            "gb": int(_resolve(task["Memory"], parameters)) / 1024,
        }
        rates = prices["fargate_per_hour"][architecture]
        strategy = service.get("CapacityProviderStrategy") or [{"CapacityProvider": "FARGATE", "Weight": 1}]
        total_weight = sum(int(item.get("Weight", 1)) for item in strategy) or 1
        for item in strategy:
            provider = _resolve(item["CapacityProvider"], parameters)
            share = count * int(item.get("Weight", 1)) / total_weight
            spot = provider == "FARGATE_SPOT"
            factor = 1 - prices["fargate_spot_discount"] if spot else 1
            what = f"Fargate {architecture} {provider}, {_plural(share, 'task')}"
            for unit, label in (("vcpu", "vCPU"), ("gb", "GB")):
                items.append(
                    LineItem(
                        f"{what}: {sizes[unit]:g} {label} x {hours} h x {_rate(rates[unit])}"
                        + (f" x {factor:.2f} (Spot)" if spot else ""),
                        share * sizes[unit] * hours * rates[unit] * factor,
                    )
                )
    return items


def _rds(resources: dict[str, Any], prices: dict[str, Any]) -> list[LineItem]:
    """PostgreSQL mode: the instance's hours (twice for Multi-AZ) and its provisioned storage."""
    hours, items = prices["hours_per_month"], []
    for instance in _of_type(resources, "AWS::RDS::DBInstance"):
        size = instance["DBInstanceClass"]
        rate = prices["rds_postgres_single_az_per_hour"].get(size)
        if rate is None:
            raise CostError(
                f"prices.json has no RDS price for {size}: add it to rds_postgres_single_az_per_hour"
            )
        zones = 2 if instance.get("MultiAZ") is True else 1
        multi = " x 2 (Multi-AZ)" if zones == 2 else ""
        items.append(
            LineItem(f"RDS PostgreSQL {size}: {hours} h x {_rate(rate)}{multi}", zones * hours * rate)
        )
        gb, storage = int(instance.get("AllocatedStorage", 20)), prices["rds_gp3_per_gb_month"]
        items.append(LineItem(f"RDS gp3 storage: {gb} GB x ${storage:g}{multi}", zones * gb * storage))
    return items


def _image_references(resources: dict[str, Any]) -> list[str]:
    """The ECR image URIs the template runs: task definition containers and image-packaged functions."""
    uris = [
        container.get("Image")
        for task in _of_type(resources, "AWS::ECS::TaskDefinition")
        for container in task.get("ContainerDefinitions", [])
    ]
    uris += [
        function.get("Code", {}).get("ImageUri") for function in _of_type(resources, "AWS::Lambda::Function")
    ]
    texts = [uri.get("Fn::Sub", "") if isinstance(uri, dict) else uri for uri in uris]
    return [text for text in texts if isinstance(text, str) and ".dkr.ecr." in text]


def _ecr_gb(resources: dict[str, Any], prices: dict[str, Any]) -> float:
    """Assumed compressed size of each image the template runs, by its tag prefix (`api-`, `authorizer-`)."""
    sizes = prices["ecr_image_gb"]
    total_gb = 0.0
    for uri in _image_references(resources):
        tag = uri.rsplit(":", 1)[-1]
        target = next((target for target in sizes if tag.startswith(image_tag_prefix(target))), None)
        if target is None:
            raise CostError(f"no assumed size for the image {uri} in the price table's ecr_image_gb")
        total_gb += sizes[target]
    return round(total_gb, 3)


def estimate(template: dict[str, Any], prices: dict[str, Any]) -> list[LineItem]:
    """The itemised fixed monthly cost of what `template` creates, at idle."""
    resources = template.get("Resources", {})
    parameters = template.get("Parameters", {})
    hours = prices["hours_per_month"]
    items = _fargate(resources, parameters, prices) + _rds(resources, prices)

    public_ips = sum(
        int(_resolve(service.get("DesiredCount", 1), parameters))
        for service in _of_type(resources, "AWS::ECS::Service")
        if service.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {}).get("AssignPublicIp")
        == "ENABLED"
    )
    endpoint_azs = sum(
        len(endpoint.get("SubnetIds", [])) or 1
        for endpoint in _of_type(resources, "AWS::EC2::VPCEndpoint")
        if endpoint.get("VpcEndpointType") == "Interface"
    )
    namespaces = len(_of_type(resources, "AWS::ServiceDiscovery::PrivateDnsNamespace")) + len(
        _of_type(resources, "AWS::ServiceDiscovery::PublicDnsNamespace")
    )
    # Each running task registers itself once per service registry.
    instances = sum(
        int(_resolve(service.get("DesiredCount", 1), parameters)) * len(service.get("ServiceRegistries", []))
        for service in _of_type(resources, "AWS::ECS::Service")
    )
    # RDS keeps a managed master password in a secret of its own.
    secrets = len(_of_type(resources, "AWS::SecretsManager::Secret")) + sum(
        1 for db in _of_type(resources, "AWS::RDS::DBInstance") if db.get("ManageMasterUserPassword") is True
    )
    ecr_gb = _ecr_gb(resources, prices)
    efs_gb = len(_of_type(resources, "AWS::EFS::FileSystem")) * prices["efs_stored_gb"]

    ipv4, endpoint, zone = (
        prices["public_ipv4_per_hour"],
        prices["interface_endpoint_per_hour_per_az"],
        prices["hosted_zone_per_month"],
    )
    secret, efs = prices["secret_per_month"], prices["efs_standard_per_gb_month"]
    instance, ecr = prices["cloud_map_instance_per_month"], prices["ecr_storage_per_gb_month"]
    candidates = [
        (
            public_ips,
            f"Public IPv4: {_plural(public_ips, 'address')} x {hours} h x {_rate(ipv4)}",
            hours * ipv4,
        ),
        (
            endpoint_azs,
            f"Interface endpoints: {_plural(endpoint_azs, 'endpoint-AZ')} x {hours} h x {_rate(endpoint)}",
            hours * endpoint,
        ),
        (namespaces, f"Cloud Map namespace: {_plural(namespaces, 'hosted zone')} x {_rate(zone)}", zone),
        (
            instances,
            f"Cloud Map instances: {_plural(instances, 'registered instance')} x {_rate(instance)}",
            instance,
        ),
        (secrets, f"Secrets Manager: {_plural(secrets, 'secret')} x {_rate(secret)}", secret),
        (efs_gb, f"EFS Standard: {efs_gb:g} GB stored (assumed) x {_rate(efs)}", efs),
        (ecr_gb, f"ECR storage: {ecr_gb:g} GB of images (assumed sizes) x {_rate(ecr)}", ecr),
    ]
    items += [
        LineItem(label, quantity * unit_price) for quantity, label, unit_price in candidates if quantity
    ]
    from troposphere_templates.backups import backup_cost

    items += [LineItem(label, monthly) for label, monthly in backup_cost(resources, prices)]
    return items


def total(items: list[LineItem]) -> float:
    return round(sum(item.monthly for item in items), 2)


def report(template_path: Path, prices: dict[str, Any] | None = None) -> str:
    """The printable estimate for a rendered template; the total is the last line."""
    prices = prices or load_prices()
    try:
        template = json.loads(Path(template_path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CostError(f"cannot read the template {template_path}: {exc}") from None
    items = estimate(template, prices)
    width = max((len(item.label) for item in items), default=40)
    source = f"{prices['region']} list prices as of {prices['date']}, {prices['hours_per_month']} h a month"
    lines = [f"Fixed monthly cost at idle of {template_path} ({source}):"]
    lines += [f"  {item.label:<{width}}  {_money(item.monthly):>8}" for item in items]
    if any("(Spot)" in item.label for item in items):
        discount = prices["fargate_spot_discount"]
        lines.append(
            f"  assumption: Fargate Spot {discount:.0%} below on-demand (AWS: 'up to 70%'; it varies)"
        )
    if _of_type(template.get("Resources", {}), "AWS::RDS::DBInstance"):
        lines.append(f"  assumption: {prices['assumptions']['rds_backups']}")
        lines.append(f"  RDS prices: {prices['rds_prices_source']}")
    for target in _of_type(template.get("Resources", {}), "AWS::ApplicationAutoScaling::ScalableTarget"):
        lines.append(
            f"  tasks: {target['MinCapacity']} at idle (counted above), up to {target['MaxCapacity']} "
            "under CPU load, each extra task at one task's price"
        )
    if any(item.label.startswith("ECR storage") for item in items):
        lines.append(f"  assumption: {prices['assumptions']['ecr_image_gb']}")
    if any(item.label.startswith("S3 snapshots") for item in items):
        lines.append(
            f"  assumption: {prices['assumptions']['snapshots']}; {prices['assumptions']['snapshot_gb']}"
        )
    lines.append(f"  assumption: {prices['assumptions']['idle']}")
    lines.append(f"{'Total':<{width + 2}}  {_money(total(items)):>8} a month")
    return "\n".join(lines)
