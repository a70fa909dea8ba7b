"""cPanel's token APIs, reproduced over ``TokenService``: one import for the HTTP layer.

UAPI's ``Tokens`` module lives in ``management.uapi``, WHM API 1's ``api_token_*`` in
``management.whm``, and what both share (parameters, signatures, tokenward's extras) in
``management.params``. docs/managing.md compares each function with cPanel's, field by
field. No HTTP here: ``management.http`` carries it.
"""

from __future__ import annotations

from tokenward.management.params import Params, UnknownFunctionError
from tokenward.management.uapi import uapi_call
from tokenward.management.whm import whm_call

__all__ = ["Params", "UnknownFunctionError", "uapi_call", "whm_call"]
