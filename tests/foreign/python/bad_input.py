"""Bad input from a tandem client written from PROTOCOL.md with PyPI `websockets`.

Usage: bad_input.py <ws-url> <token> <room>

Says hello, then sends what PROTOCOL.md §2 and §8.2 answer in a documented way: an
unknown kind with an id that is not an integer, a publish whose payload gives a key twice,
an `update` with an id or a room of the wrong type or to a room not joined, a `history`
whose limit is not an integer, and a text message that is not UTF-8. Prints one JSON line
per answer to stdout; exits 0 when every answer came, 1 on any error, 2 on timeout.
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

PROTOCOL = "tandem.v1.json"


def say(**step):
    print(json.dumps(step), flush=True)


async def expect(ws, kind):
    """Returns the next frame of `kind`, answering pings and skipping others."""
    while True:
        frame = json.loads(await ws.recv())
        if frame["k"] == "ping":
            await ws.send(json.dumps({"v": 1, "k": "pong"}))
            continue
        if frame["k"] == kind:
            return frame


async def main(url, token, room):
    async with connect(url, subprotocols=[PROTOCOL, "tandem"]) as ws:
        hello = {"v": 1, "k": "hello", "app": {"name": "default", "versions": [1]}, "token": token}
        await ws.send(json.dumps(hello))
        await expect(ws, "welcome")

        # §2: `k` is checked before the other fields; an id that is not an integer is no id.
        await ws.send('{"v":1,"k":"nope","id":"x"}')
        error = await expect(ws, "error")
        say(step="unknown_kind", code=error["code"], has_id="id" in error, message=error["message"])

        # §2: a key given twice, in a payload too, makes the frame malformed.
        await ws.send(json.dumps({"v": 1, "k": "join", "id": 1, "room": room}))
        await expect(ws, "joined")
        await ws.send('{"v":1,"k":"publish","id":2,"room":"%s","data":{"a":1,"a":2}}' % room)
        error = await expect(ws, "error")
        say(step="duplicate_keys", code=error["code"], message=error["message"])

        # update: an id that is not an integer is no id; a room must be a string; and a
        # room this connection has not joined is refused with `not_joined`.
        update = {"v": 1, "k": "update", "id": "x", "room": room, "meta": {"a": 1}}
        await ws.send(json.dumps(update))
        error = await expect(ws, "error")
        say(
            step="update_id_type",
            code=error["code"],
            has_id="id" in error,
            message=error["message"],
        )
        await ws.send(json.dumps({**update, "id": 3, "room": 7}))
        error = await expect(ws, "error")
        say(
            step="update_room_type",
            code=error["code"],
            id=error.get("id"),
            message=error["message"],
        )
        await ws.send(json.dumps({**update, "id": 4, "room": room + "/elsewhere"}))
        error = await expect(ws, "error")
        say(
            step="update_not_joined",
            code=error["code"],
            id=error.get("id"),
            room=error.get("room"),
        )

        # history: a limit that is not an integer.
        await ws.send(json.dumps({"v": 1, "k": "history", "id": 5, "room": room, "limit": "x"}))
        error = await expect(ws, "error")
        say(
            step="history_limit_type",
            code=error["code"],
            id=error.get("id"),
            message=error["message"],
        )

        # §1: a text message that is not UTF-8 closes with 1007 and a reason.
        await ws.send(b'{"v":1,"k":"ping","x":"\xff"}', text=True)
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            frame = closed.rcvd
            say(
                step="invalid_utf8",
                code=frame.code if frame else None,
                reason=frame.reason if frame else None,
            )


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(*sys.argv[1:4]), timeout=15))
    except asyncio.TimeoutError:
        say(step="timeout")
        sys.exit(2)
    except Exception as e:  # report any failure as a step, then fail
        say(step="failed", error=repr(e))
        sys.exit(1)
