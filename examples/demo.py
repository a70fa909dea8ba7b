"""The README's first command: mint a token into a SQLite file and serve the ASGI example.

    python examples/demo.py [--port 8000] [--store sqlite:///.demo/tokenward.db]

It prints the token once, with curl commands to try, then serves ``examples/asgi_app.py``
with uvicorn on 127.0.0.1 until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tokenward import Realm, TokenService, open_store
from tokenward.testing import MintedToken

HERE = Path(__file__).resolve().parent
DEFAULT_STORE = "sqlite:///.demo/tokenward.db"


def mint_demo_token(store_url: str) -> MintedToken:
    """A fresh ``demo`` token for user ``demo`` with ACL ``edit-dns``, expiring in a day."""
    store = open_store(store_url)
    try:
        service = TokenService(store)
        old = store.find(Realm.CPANEL, "demo", "demo")
        if old is not None:
            store.delete([old.id])
        created = service.create(
            "demo", "demo", acls=["edit-dns"], expires_at=int(service.clock()) + 86_400
        )
        return MintedToken(created)
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--store", default=os.environ.get("TOKENWARD_STORE", DEFAULT_STORE))
    args = parser.parse_args(argv)

    token = mint_demo_token(args.store)
    base = f"http://{args.host}:{args.port}"
    print(f"Demo token (shown once, stored only as a hash in {args.store}):\n")
    print(f"    {token.header}\n")
    print("Try:")
    print(f"    curl {base}/health")
    print(f"    curl -H 'Authorization: {token.header}' {base}/whoami")
    print(f"    curl -H 'Authorization: {token.header}' {base}/dns/zones")
    print(f"    curl -i {base}/whoami        # 401: no token\n", flush=True)

    import uvicorn  # the [serve] extra

    os.environ["TOKENWARD_STORE"] = args.store
    sys.path.insert(0, str(HERE))
    uvicorn.run("asgi_app:app", host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
