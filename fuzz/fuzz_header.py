"""Coverage-guided fuzzing of the Authorization grammar with atheris.

    pip install atheris
    python fuzz/fuzz_header.py -atheris_runs=200000        # or leave out the limit

Any exception other than ``MalformedCredentialsError`` is a crash atheris reports, as is a
parse that does not round-trip through ``format_authorization``.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from tokenward.core.header import format_authorization, parse_authorization
    from tokenward.errors import MalformedCredentialsError


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    count = provider.ConsumeIntInRange(1, 3)
    values = [provider.ConsumeUnicodeNoSurrogates(200) for _ in range(count)]
    try:
        credentials = parse_authorization(values if count > 1 else values[0])
    except MalformedCredentialsError:
        return
    if credentials is not None:
        again = parse_authorization(
            format_authorization(credentials.realm, credentials.user, credentials.secret)
        )
        if again != credentials:
            raise AssertionError("parse and format do not round-trip")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
