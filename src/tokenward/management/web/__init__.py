"""The "Manage API Tokens" web page: a pure ASGI app, no framework, no build step."""

from tokenward.management.web.app import TokenPageASGI

__all__ = ["TokenPageASGI"]
