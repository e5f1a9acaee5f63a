"""The SDK that wallets, the CLI, the devnet and tests use: `from node.client import Client`."""

from node.client.sdk import (
    AsyncClient,
    Client,
    RpcCallError,
    TransportError,
    build_call,
    build_deploy,
    build_transfer,
)

__all__ = ["AsyncClient", "Client", "RpcCallError", "TransportError", "build_call", "build_deploy", "build_transfer"]
