"""The clock is a parameter everywhere: production passes ``time.time``, tests a frozen one."""

from collections.abc import Callable

__all__ = ["Clock"]

Clock = Callable[[], float]
