"""The server: the protocol's two transports over one runtime (see docs/protocol.md)."""

from .app import InProcessServer, bind, create_app, serve, url_of
from .auth import Auth, Caller

__all__ = ["Auth", "Caller", "InProcessServer", "bind", "create_app", "serve", "url_of"]
