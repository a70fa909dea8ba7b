"""Token lifecycle: the service the CLI, the HTTP API and the web page share."""

from tokenward.management.service import TokenService
from tokenward.management.views import KEEP, CreatedToken, Keep, TokenView

__all__ = ["KEEP", "CreatedToken", "Keep", "TokenService", "TokenView"]
