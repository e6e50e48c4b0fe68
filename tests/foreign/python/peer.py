"""A tandem client written from PROTOCOL.md with PyPI `websockets`.

Usage: peer.py <ws-url> <token> <room>

Connects offering the tandem.v1.json subprotocol, says hello with the token, joins the
room (reporting the policy `joined` announces), publishes {"n": 1, "text": "from python"},
and waits for two messages from another user. Then it uses the collaboration frames:
`update` of its presence meta (an `ack` without seq and a `presence` with `updated`), an
ephemeral publish asking for an `ack` (no seq; never echoed to itself), waits for an
ephemeral message from another user (an `event` without seq), and reads the room's
`history`: whole, then in pages of 2 going back with `before`, then for a room nobody
used. Prints one JSON line per step to stdout; exits 0 when every step happened, 1 on any
error, 2 on timeout.
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect

PROTOCOL = "tandem.v1.json"


def say(**step):
    print(json.dumps(step), flush=True)


async def next_frame(ws):
    """Returns the next frame but a ping (answered on the way); an `error` fails."""
    while True:
        frame = json.loads(await ws.recv())
        if frame["k"] == "ping":
            await ws.send(json.dumps({"v": 1, "k": "pong"}))
            continue
        if frame["k"] == "error":
            raise RuntimeError(f"server error: {frame}")
        return frame


async def expect(ws, kind):
    """Returns the next frame of `kind`, answering pings on the way."""
    while True:
        frame = await next_frame(ws)
        if frame["k"] == kind:
            return frame


async def page(ws, id, room, **query):
    """Asks for a page of `room`'s history; returns the `page` answering it."""
    await ws.send(json.dumps({"v": 1, "k": "history", "id": id, "room": room, **query}))
    while True:
        frame = await expect(ws, "page")
        if frame["id"] == id:
            return frame


def stored(frame):
    """What a step reports of a page: its events (seq, from, room, n), epoch and more."""
    events = [
        {"seq": e.get("seq"), "from": e.get("from"), "room": e["room"], "n": e["data"]["n"]}
        for e in frame["events"]
    ]
    return {"room": frame["room"], "epoch": frame["epoch"], "events": events, "more": frame["more"]}


async def main(url, token, room):
    async with connect(url, subprotocols=[PROTOCOL, "tandem"]) as ws:
        if ws.subprotocol != PROTOCOL:
            raise RuntimeError(f"negotiated {ws.subprotocol!r}")
        say(step="negotiated", protocol=ws.subprotocol)
        hello = {"v": 1, "k": "hello", "app": {"name": "default", "versions": [1]}, "token": token}
        await ws.send(json.dumps(hello))
        welcome = await expect(ws, "welcome")
        me = welcome["user"]
        say(step="welcome", user=me)
        await ws.send(json.dumps({"v": 1, "k": "join", "id": 1, "room": room}))
        joined = await expect(ws, "joined")
        say(
            step="joined",
            members=sorted(m["user"] for m in joined["presence"]),
            epoch=joined["epoch"],
            policy=joined.get("policy"),
        )
        data = {"n": 1, "text": "from python"}
        await ws.send(json.dumps({"v": 1, "k": "publish", "id": 2, "room": room, "data": data}))
        ack = await expect(ws, "ack")
        say(step="ack", seq=ack["seq"])
        others = 0
        while others < 2:
            event = await expect(ws, "event")
            if event.get("from") != me:
                sender, seq = event.get("from"), event.get("seq")
                say(step="event", sender=sender, data=event["data"], seq=seq)
                others += 1

        # update: the ack has no seq; every subscriber, this connection too, gets `updated`.
        meta = {"cursor": {"x": 3, "y": 4}, "by": "python"}
        await ws.send(json.dumps({"v": 1, "k": "update", "id": 3, "room": room, "meta": meta}))
        ack = presence = None
        while ack is None or presence is None:
            frame = await next_frame(ws)
            if frame["k"] == "ack" and frame["id"] == 3:
                ack = frame
            elif frame["k"] == "presence" and frame.get("updated"):
                presence = frame
        say(step="update_ack", id=ack["id"], has_seq="seq" in ack)
        say(step="presence_updated", room=presence["room"], updated=presence["updated"])

        # An ephemeral publish asking for an ack: the ack has no seq, the message goes to
        # the other connections only; then the other user's ephemeral message, without seq.
        data = {"n": 4, "text": "ephemeral from python"}
        publish = {"v": 1, "k": "publish", "id": 4, "room": room, "data": data}
        await ws.send(json.dumps({**publish, "ephemeral": True, "ack": True}))
        ack = other = None
        echoed = False
        while ack is None or other is None:
            frame = await next_frame(ws)
            if frame["k"] == "ack" and frame["id"] == 4:
                ack = frame
            elif frame["k"] == "event" and frame.get("from") == me:
                echoed = True
            elif frame["k"] == "event":
                other = frame
        say(step="ephemeral_ack", id=ack["id"], has_seq="seq" in ack, echoed=echoed)
        say(
            step="ephemeral_event",
            sender=other.get("from"),
            data=other["data"],
            has_seq="seq" in other,
        )

        # history: the whole room, then pages of 2 from the newest back, then nowhere.
        say(step="history", **stored(await page(ws, 5, room)))
        query, id = {"limit": 2}, 6
        while True:
            got = await page(ws, id, room, **query)
            say(step="page", query=query, **stored(got))
            if not got["more"] or not got["events"] or id == 10:
                break
            query, id = {"before": got["events"][0]["seq"], "limit": 2}, id + 1
        say(step="unknown_room_page", **stored(await page(ws, 11, room + "/nobody-here")))
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
