"""CloudFormation templates as Python (troposphere + awacs): the application stack and its three pipelines."""
