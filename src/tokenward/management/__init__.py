"""Token lifecycle: the service the CLI, the HTTP API and the web page share."""

from tokenward.management.service import CreatedToken, TokenService

__all__ = ["CreatedToken", "TokenService"]
