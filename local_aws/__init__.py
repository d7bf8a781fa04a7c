"""A local AWS for trying the whole lifecycle without an account: moto's server on 127.0.0.1 with the
CloudFormation resource types the project's templates use emulated on moto's own service backends.

    invoke local-aws                       # foreground server on http://127.0.0.1:5000
    with local_aws.running() as url: ...   # in tests: a server on a free port
    local_aws.unsupported_types(template)  # resource types this emulator cannot create
"""

from local_aws.emulations import EMULATED_TYPES, install, unsupported_types
from local_aws.failure import FAILURE_TYPE
from local_aws.server import (
    CREDENTIALS,
    DEFAULT_PORT,
    LOCAL_CONNECTION_ARN,
    EmulatorError,
    LocalAws,
    running,
    serve,
)

__all__ = [
    "CREDENTIALS",
    "DEFAULT_PORT",
    "EMULATED_TYPES",
    "FAILURE_TYPE",
    "LOCAL_CONNECTION_ARN",
    "EmulatorError",
    "LocalAws",
    "install",
    "running",
    "serve",
    "unsupported_types",
]
