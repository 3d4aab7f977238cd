"""The node port's Spyne service: Deliver (one checked NodeMessage in, its receipt out) and DirectorySnapshot."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from spyne import AnyXml, ComplexModel, ServiceBase, rpc

from gateway.adapters.soap.driver import SpyneDriver, _guarded
from gateway.core import ns
from gateway.core.errors import ErrorCode, GatewayError, LocalError, RemoteError

@dataclass
class NodeCall:
    """What one node-port request's handler needs."""

    relay: Any
    checked: Any = None      # the NodeMessage verified before Spyne saw the request
    directory_snapshot: Callable[[], bytes] | None = None
    item: bytes | None = None
    error: GatewayError | None = None


class _NodeModel(ComplexModel):
    __namespace__ = ns.NODE_CARRIER


class DeliverResponse(_NodeModel):
    """xs:any: the NodeReceipt is spliced in as the bytes first issued."""
    _type_info: list = []


class DirectorySnapshotResponse(_NodeModel):
    _type_info: list = []


class NodeService(ServiceBase):
    """One method per operation of wsdl/ecms-node.wsdl."""

    @rpc(AnyXml, _returns=DeliverResponse, _body_style="bare", _in_message_name="DeliverRequest",
         _out_message_name="DeliverResponse")
    @_guarded
    def Deliver(call: NodeCall, message: Any) -> Any:
        """Accept one NodeMessage; answer its receipt (the first one issued, for a repeat)."""
        if call.checked is None:
            raise LocalError("a node message reached the handler without being verified")
        call.item = call.relay.accept(call.checked)
        return DeliverResponse()

    @rpc(_returns=DirectorySnapshotResponse, _body_style="out_bare", _in_message_name="DirectorySnapshotRequest",
         _out_message_name="DirectorySnapshotResponse")
    @_guarded
    def DirectorySnapshot(call: NodeCall) -> Any:
        """The signed directory of this node (when it is a directory authority)."""
        if call.directory_snapshot is None:
            raise RemoteError(ErrorCode.UNKNOWN_OPERATION, "this node is not a directory authority")
        call.item = call.directory_snapshot()
        return DirectorySnapshotResponse()


class NodeSpyne(SpyneDriver):
    def __init__(self) -> None:
        super().__init__([NodeService], ns.NODE_CARRIER, "ECMSNodeService")

