"""A WebSocket server that welcomes a tandem client and then never says anything again.

Usage: silent_peer.py   (prints `silent peer listening on ws://127.0.0.1:<port>`)

It selects tandem.v1.json, answers the client's hello with a welcome announcing a short
heartbeat (300 ms interval, 300 ms timeout), then reads and ignores everything, pings
included: the client must find the connection dead by its own heartbeat.
"""

import asyncio
import json

from websockets.asyncio.server import serve

WELCOME = {
    "v": 1,
    "k": "welcome",
    "session": "silent",
    "user": "anyone",
    "app": {"name": "default", "version": 1},
    "heartbeat": {"interval_ms": 300, "timeout_ms": 300},
    "limits": {"max_frame_bytes": 65536},
}


async def handle(ws):
    await ws.recv()  # hello
    await ws.send(json.dumps(WELCOME))
    async for _ in ws:
        pass


async def main():
    async with serve(handle, "127.0.0.1", 0, subprotocols=["tandem.v1.json"]) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"silent peer listening on ws://127.0.0.1:{port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
