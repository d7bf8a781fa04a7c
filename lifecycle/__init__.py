"""The deploy lifecycle with boto3: prerequisites, change-set deploys, clean-up in docs/DESIGN.md's order."""
