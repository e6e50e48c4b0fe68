"""A tandem client written from PROTOCOL.md with PyPI `websockets`.

Usage: peer.py <ws-url> <token> <room>

Connects offering the tandem.v1.json subprotocol, says hello with the token, joins the
room, publishes {"n": 1, "text": "from python"}, and waits for a message from another
user. Prints one JSON line per step to stdout; exits 0 when every step happened, 1 on any
error, 2 on timeout.
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect

PROTOCOL = "tandem.v1.json"


def say(**step):
    print(json.dumps(step), flush=True)


async def expect(ws, kind):
    """Returns the next frame of `kind`, answering pings on the way."""
    while True:
        frame = json.loads(await ws.recv())
        if frame["k"] == "ping":
            await ws.send(json.dumps({"v": 1, "k": "pong"}))
            continue
        if frame["k"] == "error":
            raise RuntimeError(f"server error: {frame}")
        if frame["k"] == kind:
            return frame


async def main(url, token, room):
    async with connect(url, subprotocols=[PROTOCOL, "tandem"]) as ws:
        if ws.subprotocol != PROTOCOL:
            raise RuntimeError(f"negotiated {ws.subprotocol!r}")
        say(step="negotiated", protocol=ws.subprotocol)
        hello = {"v": 1, "k": "hello", "app": {"name": "default", "versions": [1]}, "token": token}
        await ws.send(json.dumps(hello))
        welcome = await expect(ws, "welcome")
        say(step="welcome", user=welcome["user"])
        await ws.send(json.dumps({"v": 1, "k": "join", "id": 1, "room": room}))
        joined = await expect(ws, "joined")
        say(step="joined", members=sorted(m["user"] for m in joined["presence"]))
        data = {"n": 1, "text": "from python"}
        await ws.send(json.dumps({"v": 1, "k": "publish", "id": 2, "room": room, "data": data}))
        ack = await expect(ws, "ack")
        say(step="ack", seq=ack["seq"])
        while True:
            event = await expect(ws, "event")
            if event.get("from") != welcome["user"]:
                say(step="event", sender=event.get("from"), data=event["data"], seq=event["seq"])
                break
        await ws.close(1000, "done")


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(*sys.argv[1:4]), timeout=15))
    except asyncio.TimeoutError:
        say(step="timeout")
        sys.exit(2)
    except Exception as e:  # report any failure as a step, then fail
        say(step="failed", error=repr(e))
        sys.exit(1)
