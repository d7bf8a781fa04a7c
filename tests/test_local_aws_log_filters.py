"""The emulator's JSON filter patterns for FilterLogEvents, on an API Gateway access-log line (the project's
format), against what the CloudWatch Logs user guide says each pattern selects."""

from __future__ import annotations

import json

import pytest

from local_aws.log_filters import JsonFilterPattern, PatternError

ACCESS_LOG = json.dumps(
    {"status": "503", "routeKey": "POST /auth/token", "latency": 812, "ip": "198.51.100.7", "list": [1, 2]}
)


@pytest.mark.parametrize(
    ("pattern", "selected"),
    [
        ("{ $.status = 5* }", True),
        ("{ $.status = 2* }", False),
        ("{ $.status = 503 }", True),
        ("{ $.status != 503 }", False),
        ("{ $.latency > 500 }", True),
        ("{ $.latency <= 500 }", False),
        ('{ $.routeKey = "POST /auth/token" && $.status != 200 }', True),
        ("{ ($.status = 2* || $.status = 5*) && $.list[1] = 2 }", True),
        ("{ $.status = 4* || $.latency < 100 }", False),
        ("{ $.absent = x }", False),
    ],
)
def test_json_patterns_select_as_cloudwatch_logs_does(pattern: str, selected: bool) -> None:
    assert JsonFilterPattern(pattern).matches(ACCESS_LOG) is selected


def test_a_message_that_is_not_json_never_matches_a_json_pattern() -> None:
    assert not JsonFilterPattern("{ $.status = 5* }").matches("INFO started")


@pytest.mark.parametrize("pattern", ["{ $.status = }", "{ status = 5 }", "{ ($.a = 1 }", "$.a = 1"])
def test_a_malformed_pattern_is_refused(pattern: str) -> None:
    with pytest.raises(PatternError):
        JsonFilterPattern(pattern)
