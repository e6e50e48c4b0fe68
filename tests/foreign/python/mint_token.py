"""Mints a tandem token with PyJWT, as a Python backend would: prints one JWT.

Usage: mint_token.py ALG KEY USER [KID]
  ALG  HS256 (KEY is the shared secret, as `tandem serve --token-secret`), or RS256, ES256,
       EdDSA (KEY is the path of a PEM private key; the server has the public half).
The token carries `rooms` (object shape) and `info`, which the server must accept.
"""

import sys
import time

import jwt


def main() -> None:
    alg, key, user = sys.argv[1], sys.argv[2], sys.argv[3]
    kid = sys.argv[4] if len(sys.argv) > 4 else None
    if alg != "HS256":
        with open(key, "rb") as f:
            key = f.read()
    now = int(time.time())
    claims = {
        "sub": user,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "rooms": {"mixed": ["subscribe", "publish", "presence", "history"], "docs/*": ["subscribe"]},
        "info": {"name": user, "via": "pyjwt"},
    }
    headers = {"kid": kid} if kid else None
    print(jwt.encode(claims, key, algorithm=alg, headers=headers))


main()
