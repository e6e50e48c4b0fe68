"""A tandem backend (`tandem serve --hook-url http://127.0.0.1:PORT/tandem --hook-secret S`),
with Python's standard library only. Run: python3 backend.py SECRET [PORT]"""
import hashlib, hmac, json, sys, threading, time
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = sys.argv[1].encode()
SESSIONS = {"session-of-alice": "alice"}  # cookie `session` -> user
TOKENS = {"token-of-bob": "bob"}  # the token in hello -> user


def on_connect(call):
    cookie = SimpleCookie(call["headers"].get("cookie", "")).get("session")
    user = SESSIONS.get(cookie.value) if cookie else TOKENS.get(call["token"])
    if user is None:
        return 401, {"error": "unauthorized", "message": "no session"}
    rooms = ["lobby", "private/*", "slow/*", "garbage/*"] if user == "bob" else None
    return 200, {"user": user, "rooms": rooms, "info": {"name": user.title()}}


def on_join(call):
    if call["room"].startswith("private/") and call["room"] != "private/" + call["user"]:
        return 200, {"allow": False, "message": "not your private room"}
    return 200, {"allow": True}


def on_publish(call):
    text = call["data"].get("text", "") if isinstance(call["data"], dict) else ""
    if "spam" in text:
        return 200, {"allow": False, "message": "no spam here"}
    if "darn" in text:  # rewritten: every member gets the clean text
        return 200, {"allow": True, "data": {**call["data"], "text": text.replace("darn", "d**n")}}
    return 200, {"allow": True}


def on_request(call):
    data = call["data"]
    if data.get("op") == "add":
        return 200, {"reply": {"sum": data["a"] + data["b"], "user": call["user"]}}
    if data.get("op") == "pair":  # the tests' concurrency check: two calls at once
        PAIR.wait(timeout=10)
        return 200, {"reply": {"paired": True}}
    return 200, {"error": {"code": "rejected", "message": f"unknown op {data.get('op')!r}"}}


def on_disconnect(call):
    LOG["disconnects"].append({k: call.get(k) for k in ("user", "conn", "code")})
    return 200, {}


EVENTS = {"connect": on_connect, "join": on_join, "publish": on_publish,
          "request": on_request, "disconnect": on_disconnect}
LOG, PAIR, LOCK = {"disconnects": [], "in_flight": 0, "max_in_flight": 0}, threading.Barrier(2), threading.Lock()


def signed(headers, body):
    """Whether tandem signed `body` with SECRET within the last five minutes."""
    timestamp, signature = headers.get("X-Tandem-Timestamp", ""), headers.get("X-Tandem-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    mac = hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, "sha256=" + mac)


class Hooks(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: tandem reuses its connections

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not signed(self.headers, body):
            return self.answer(401, {"error": "unauthorized", "message": "bad signature"})
        call = json.loads(body)
        with LOCK:
            LOG["in_flight"] += 1
            LOG["max_in_flight"] = max(LOG["max_in_flight"], LOG["in_flight"])
        try:
            # The tests' misbehaving backend: too slow, or answering garbage.
            if "slow" in (call.get("room") or "") + str(call.get("token")):
                time.sleep(5)
            if "garbage" in (call.get("room") or "") + json.dumps(call.get("data")):
                return self.answer(200, "this is not JSON")
            status, answer = EVENTS[call["event"]](call)
        finally:
            with LOCK:
                LOG["in_flight"] -= 1
        self.answer(status, answer)

    def do_GET(self):  # what the tests read back: GET /log
        with LOCK:
            self.answer(200, LOG)

    def answer(self, status, answer):
        body = (answer if isinstance(answer, str) else json.dumps(answer)).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # tandem gave up waiting (its --hook-timeout) and closed the connection

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 0), Hooks)
server.daemon_threads = True
print(f"backend listening on http://127.0.0.1:{server.server_port}", flush=True)
server.serve_forever()
