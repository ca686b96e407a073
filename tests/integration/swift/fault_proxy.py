#!/usr/bin/env python3
"""A fault-injecting HTTP/1.1 proxy between the daemon and a real Swift, all on 127.0.0.1.

    fault_proxy.py --upstream 127.0.0.1:8080 --ready-file F [--port 0] [--control-port 0]

Once both ports listen it writes "port=P control=C" to F. The daemon's swift.auth_url points at
P; TempAuth's X-Storage-Url is rewritten to P too, so every later request passes here. Tokens
are handed out as aliases (real token + "_px<epoch>"), which is how a token can expire on
demand: /set?expire_tokens=1 bumps the epoch and every request with an older alias gets 401
until the client authenticates again.

Control (HTTP GET on C; every answer is the JSON of the counters):
  /set?<faults>   the fault state becomes exactly this (anything not named is off)
  /clear          no faults
  /stats          counters only
Faults (combinable; the status, reset and truncation faults take the first that applies):
  latency_ms=N          wait N ms before forwarding each request
  status=503            answer with this status instead of forwarding (500 503 507 429 498 ...)
  retry_after=S         with status: send Retry-After: S (default 1 for 429, none otherwise:
                        Swift's ratelimit middleware sends 498 without it)
  reset=request         read half the request body, then reset the connection (RST)
  reset=response        forward half the response body, then reset the connection
  truncate=1            Content-Length as Swift sent it, half the body, then close (FIN)
  hang=1                read the request and never answer (the connection stays open)
  down=1                refuse connections (listener closed) and reset the open ones
  expire_tokens=1       every token handed out so far is stale (401) from now on
  count=N               the status/reset/truncate/hang fault hits only the next N requests
  methods=GET,PUT       ... only requests with these methods (default: all)
  path=/chunk/          ... only requests whose path contains this (default: all)
Authentication requests (/auth/) are never faulted except by down and latency.

Why Python: it is on every Debian machine this project runs on (Swift itself is Python), the
byte-level faults (half a body then RST through SO_LINGER, a response cut short) are a few
lines on raw sockets, asyncio carries the few hundred connections a test needs, nothing has to
be compiled on a build machine shared by many, and it can be run by hand against any Swift.
Every held connection ends within 300 s, so nothing here outlives a forgotten test for long.
"""

import argparse
import asyncio
import json
import os
import socket
import struct
import sys
import urllib.parse

HOLD_LIMIT_S = 300
IO_LIMIT_S = 120


class State:
    def __init__(self):
        self.faults = {}
        self.remaining = None  # count of requests still to fault; None = unlimited
        self.epoch = 0
        self.stats = {
            "connections": 0,
            "open_connections": 0,
            "requests": 0,
            "forwarded": 0,
            "auth": 0,
            "stale_401": 0,
            "status_injected": 0,
            "reset_request": 0,
            "reset_response": 0,
            "truncated": 0,
            "hung": 0,
            "delayed": 0,
            "upstream_errors": 0,
            "by_method": {},
        }

    def set(self, query):
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
        if q.get("expire_tokens") in ("1", "true"):
            self.epoch += 1
        q.pop("expire_tokens", None)
        self.faults = q
        self.remaining = int(q["count"]) if "count" in q else None

    def applies(self, method, path):
        f = self.faults
        if "methods" in f and method not in f["methods"].split(","):
            return False
        if "path" in f and f["path"] not in path:
            return False
        return True

    def take(self):
        """Consumes one request of the fault's count; False once it is used up."""
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


def reset(writer):
    """Closes with RST instead of FIN: SO_LINGER on, zero timeout."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.close()


def header_value(headers, name):
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


async def read_head(reader):
    data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IO_LIMIT_S)
    lines = data.decode("latin-1").split("\r\n")
    first = lines[0]
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    return first, headers


async def read_chunked(reader):
    out = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        out += size_line
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            out += await reader.readuntil(b"\r\n")  # no trailers from Swift
            return bytes(out)
        out += await reader.readexactly(size + 2)


def render(first, headers):
    return (first + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode(
        "latin-1")


class Proxy:
    def __init__(self, upstream_host, upstream_port, state):
        self.up_host = upstream_host
        self.up_port = upstream_port
        self.state = state
        self.port = 0
        self.server = None
        self.writers = set()

    async def listen(self, port):
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def set_down(self, down):
        if down and self.server is not None:
            self.server.close()
            self.server = None
            for w in list(self.writers):
                reset(w)
        elif not down and self.server is None:
            await self.listen(self.port)

    async def serve(self, reader, writer):
        st = self.state.stats
        st["connections"] += 1
        st["open_connections"] += 1
        self.writers.add(writer)
        try:
            while await self.one_request(reader, writer):
                pass
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError,
                asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self.writers.discard(writer)
            st["open_connections"] -= 1
            if not writer.is_closing():
                writer.close()

    async def one_request(self, reader, writer):
        """Serves one request; False when the connection is done."""
        state = self.state
        st = state.stats
        try:
            first, headers = await read_head(reader)
        except asyncio.IncompleteReadError:
            return False
        method, path, _ = first.split(" ", 2)
        st["requests"] += 1
        st["by_method"][method] = st["by_method"].get(method, 0) + 1
        is_auth = path.startswith("/auth/")
        f = state.faults
        length = int(header_value(headers, "content-length") or 0)

        if "latency_ms" in f:
            st["delayed"] += 1
            await asyncio.sleep(int(f["latency_ms"]) / 1000)

        faulted = not is_auth and state.applies(method, path)
        if faulted and f.get("hang") in ("1", "true") and state.take():
            st["hung"] += 1
            # Accepts the request and never answers; the client's deadline must end it.
            try:
                await asyncio.wait_for(reader.read(), HOLD_LIMIT_S)
            finally:
                reset(writer)
            return False
        if faulted and f.get("reset") == "request" and length > 0 and state.take():
            st["reset_request"] += 1
            await reader.readexactly(length // 2)
            reset(writer)
            return False

        body = await asyncio.wait_for(reader.readexactly(length), IO_LIMIT_S) if length else b""

        if faulted and "status" in f and state.take():
            st["status_injected"] += 1
            code = int(f["status"])
            retry_after = f.get("retry_after", "1" if code == 429 else None)
            text = b"fault_proxy: injected\n"
            out = [("Content-Length", str(len(text))), ("Content-Type", "text/plain")]
            if retry_after:
                out.append(("Retry-After", retry_after))
            writer.write(render(f"HTTP/1.1 {code} Injected", out) + text)
            await writer.drain()
            return True

        # Token aliases: "<real>_px<epoch>"; an older epoch is an expired token.
        fwd = []
        for k, v in headers:
            kl = k.lower()
            if kl in ("connection", "keep-alive", "host", "expect"):
                continue
            if kl in ("x-auth-token", "x-storage-token"):
                real, sep, epoch = v.rpartition("_px")
                if not sep or epoch != str(state.epoch):
                    st["stale_401"] += 1
                    text = b"<html><h1>Unauthorized</h1><p>This server could not verify that you are authorized to access the document you requested.</p></html>"
                    writer.write(render("HTTP/1.1 401 Unauthorized", [
                        ("Content-Length", str(len(text))), ("Content-Type", "text/html")]) + text)
                    await writer.drain()
                    return True
                v = real
            fwd.append((k, v))
        fwd.append(("Host", f"{self.up_host}:{self.up_port}"))
        fwd.append(("Connection", "close"))

        try:
            ur, uw = await asyncio.wait_for(
                asyncio.open_connection(self.up_host, self.up_port), IO_LIMIT_S)
        except (OSError, asyncio.TimeoutError):
            st["upstream_errors"] += 1
            reset(writer)
            return False
        try:
            uw.write(render(first, fwd) + body)
            await uw.drain()
            rfirst, rheaders = await read_head(ur)
            status = int(rfirst.split(" ", 2)[1])
            chunked = (header_value(rheaders, "transfer-encoding") or "").lower() == "chunked"
            rlen = header_value(rheaders, "content-length")
            if method == "HEAD" or status in (204, 304) or status < 200:
                rbody = b""
            elif chunked:
                rbody = await asyncio.wait_for(read_chunked(ur), IO_LIMIT_S)
            elif rlen is not None:
                rbody = await asyncio.wait_for(ur.readexactly(int(rlen)), IO_LIMIT_S)
            else:
                rbody = await asyncio.wait_for(ur.read(), IO_LIMIT_S)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError,
                asyncio.LimitOverrunError):
            st["upstream_errors"] += 1
            reset(writer)
            return False
        finally:
            uw.close()
        st["forwarded"] += 1

        out = []
        for k, v in rheaders:
            kl = k.lower()
            if kl in ("connection", "keep-alive"):
                continue
            if kl in ("x-auth-token", "x-storage-token") and is_auth:
                v = f"{v}_px{state.epoch}"
            if kl == "x-storage-url":
                u = urllib.parse.urlsplit(v)
                v = urllib.parse.urlunsplit((u.scheme, f"127.0.0.1:{self.port}", u.path,
                                             u.query, u.fragment))
            out.append((k, v))
        if is_auth:
            st["auth"] += 1
        head = render(rfirst, out)

        cut = faulted and len(rbody) > 1 and (
            f.get("reset") == "response" or f.get("truncate") in ("1", "true"))
        if cut and state.take():
            if f.get("reset") == "response":
                st["reset_response"] += 1
            else:
                st["truncated"] += 1
            writer.write(head + rbody[: len(rbody) // 2])
            await writer.drain()
            if f.get("reset") == "response":
                reset(writer)
            else:
                writer.close()
            return False
        writer.write(head + rbody)
        await writer.drain()
        return True


async def control(proxy, reader, writer):
    try:
        first, _ = await read_head(reader)
        target = first.split(" ")[1]
        path, _, query = target.partition("?")
        state = proxy.state
        code = "200 OK"
        if path == "/set":
            state.set(query)
            await proxy.set_down(state.faults.get("down") in ("1", "true"))
        elif path == "/clear":
            state.set("")
            await proxy.set_down(False)
        elif path != "/stats":
            code = "404 Not Found"
        body = json.dumps(dict(state.stats, faults=state.faults, epoch=state.epoch)).encode()
        writer.write(render(f"HTTP/1.1 {code}", [
            ("Content-Length", str(len(body))), ("Content-Type", "application/json"),
            ("Connection", "close")]) + body)
        await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, IndexError):
        pass
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the Swift proxy")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--ready-file", required=True)
    a = ap.parse_args()
    host, _, port = a.upstream.rpartition(":")
    proxy = Proxy(host, int(port), State())
    await proxy.listen(a.port)
    ctl = await asyncio.start_server(lambda r, w: control(proxy, r, w), "127.0.0.1",
                                     a.control_port)
    tmp = a.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"port={proxy.port} control={ctl.sockets[0].getsockname()[1]}\n")
    os.rename(tmp, a.ready_file)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
