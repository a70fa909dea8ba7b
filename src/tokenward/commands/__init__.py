"""The ``tokenward`` command line's sub-commands, one ``Command`` each, in help order."""

from tokenward.commands.admin import ADMIN_COMMANDS
from tokenward.commands.base import Command, Context, UsageError
from tokenward.commands.scan import SCAN_COMMANDS
from tokenward.commands.serve import SERVE_COMMANDS
from tokenward.commands.tokens import TOKEN_COMMANDS

__all__ = ["COMMANDS", "Command", "Context", "UsageError"]

COMMANDS: tuple[Command, ...] = (
    *TOKEN_COMMANDS,
    *ADMIN_COMMANDS,
    *SCAN_COMMANDS,
    *SERVE_COMMANDS,
)
