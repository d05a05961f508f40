"""Helpers for testing code that uses dynamo-bao.

``with local_dynamodb() as endpoint_url:`` runs the embedded local DynamoDB (moto's server, which
``pip install 'dynamo-bao[local]'`` provides) on a free port for the block.
"""

from __future__ import annotations

from ..local import local_dynamodb

__all__ = ["local_dynamodb"]
