"""Canned DynamoDB error responses for fault injection: a ``before-send`` handler on a client
that returns one of these makes botocore treat it as the server's answer, so everything after
the HTTP send — parsing, exceptions, retries, our backoff — runs as it would for real."""

from __future__ import annotations

import json

from botocore.awsrequest import AWSResponse


class _CannedBody:
    """What ``AWSResponse`` reads a body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_):
        yield self._body


def error_response(request, code: str, message: str) -> AWSResponse:
    """A 400 answer with DynamoDB's error ``code`` (``ValidationException`` …)."""
    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
    ).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault"}
    return AWSResponse(request.url, 400, headers, _CannedBody(body))


def throttled(request, **_) -> AWSResponse:
    """DynamoDB's answer when a table's throughput is exceeded (retryable)."""
    return error_response(
        request,
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
    )
