#!/usr/bin/env python3
"""omniprof serve against hostile and slow clients, over raw sockets: bodies
over the limit (chunked or not), truncated, pipelined and interleaved
requests, a hundred idle connections, requests that trickle in, a start
that waits for a stopped process, and the server's memory over hundreds of
refused bodies.  The server is omniprof_asan (AddressSanitizer and UBSan):
every test ends it and checks that it exited cleanly and reported nothing."""
import json
import os
import re
import select
import signal
import socket
import subprocess
import time
import unittest

from helpers import CLI, LIB, base_env, binary, entries, trace_dir, wait_for

ASAN_CLI = binary("omniprof_asan")
LIMIT = 65536  # CLI_SERVE_BODY_MAX
PER_IP = 64    # cmd_serve.c's PER_IP


class Conn:
    """One client connection that reads HTTP/1.1 answers off a buffer, so
    that pipelined answers are taken one at a time."""

    def __init__(self, port, source="127.0.0.1", timeout=5.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                          source_address=(source, 0))
        self.buf = b""

    def send(self, data):
        self.s.sendall(data.encode() if isinstance(data, str) else data)

    def _fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError(f"closed by the server; had {self.buf[:200]!r}")
        self.buf += chunk

    def answer(self):
        """(status, JSON body) of the next answer."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in
                   (l.split(":", 1) for l in lines[1:])}
        n = int(headers["content-length"])
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, json.loads(body)

    def closed_by_server(self):
        """Whether the server has closed (or reset) the connection, waiting
        up to the socket's timeout for it."""
        try:
            return self.s.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


def request(method, path, body=None, extra=""):
    data = b"" if body is None else (body.encode() if isinstance(body, str) else body)
    length = f"Content-Length: {len(data)}\r\n" if body is not None else ""
    return (f"{method} {path} HTTP/1.1\r\nHost: omniprof\r\n{length}{extra}\r\n").encode() + data


def chunked(method, path, pieces):
    out = f"{method} {path} HTTP/1.1\r\nHost: omniprof\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    for p in pieces:
        out += f"{len(p):x}\r\n".encode() + p + b"\r\n"
    return out + b"0\r\n\r\n"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


class Serve(unittest.TestCase):
    def setUp(self):
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            if s.poll() is None:
                s.kill()
                s.communicate()

    def serve(self, *args, cli=ASAN_CLI):
        """Starts omniprof serve on a free loopback port; returns its port."""
        env = base_env(ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
                       UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
        s = subprocess.Popen([cli, "serve", "--listen", "127.0.0.1:0", *args], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.servers.append(s)
        line = s.stdout.readline()
        m = re.search(r":(\d+) ", line)
        if not m:
            s.kill()
            self.fail(f"the server did not start: {line!r} {s.communicate()[1]}")
        self.server = s
        return int(m.group(1))

    def alive(self, port):
        """The server still answers a plain GET /processes."""
        c = Conn(port)
        c.send(request("GET", "/processes"))
        status, body = c.answer()
        c.close()
        self.assertEqual(status, 200)
        self.assertEqual(body["status"], "ok")

    def stop_cleanly(self):
        """Ends the server with SIGTERM: it exits 0 and the sanitizers
        reported nothing (LeakSanitizer runs at that exit)."""
        s = self.server
        self.assertIsNone(s.poll(), "the server is still running")
        s.send_signal(signal.SIGTERM)
        _, err = s.communicate(timeout=20)
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            self.assertNotIn(bad, err, err[-3000:])
        self.assertEqual(s.returncode, 0, err[-3000:])

    # ---- bodies over the limit -----------------------------------------------

    def test_chunked_body_over_the_limit(self):
        port = self.serve()
        # Chunks sent one at a time arrive one at a time: the buffer grows to
        # 64046 bytes for 32034, is filled to 64022, then 2000 bytes go over
        # the limit and 1000 more must not be written past its end.
        c = Conn(port)
        c.send(b"POST /start_profile HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for n in (10, 16000, 16000, 12, 16000, 16000, 2000, 1000, 0):
            time.sleep(0.03)
            c.send(f"{n:x}\r\n".encode() + b" " * n + b"\r\n")
        status, body = c.answer()
        self.assertEqual(status, 413, body)
        c.close()
        for pieces in ([b" " * 10, b" " * (LIMIT + 5000), b" " * 100],  # small, too large, small
                       [b"x" * 1000] * 200,                             # many, 200 KB in all
                       [b" " * LIMIT, b" "]):                           # one byte too many
            c = Conn(port)
            c.send(chunked("POST", "/start_profile", pieces))
            status, body = c.answer()
            self.assertEqual(status, 413, body)
            self.assertIn("larger than 64 KiB", body["error"])
            # the body was read to its end: the connection serves on
            c.send(request("GET", "/processes"))
            self.assertEqual(c.answer()[0], 200)
            c.close()
        # exactly the limit is a body like any other (blank: every process)
        c = Conn(port)
        c.send(chunked("POST", "/start_profile", [b" " * (LIMIT - 1), b"\n"]))
        status, body = c.answer()
        self.assertEqual((status, body["processes"]), (404, []), "no process, but read")
        c.close()
        self.alive(port)
        self.stop_cleanly()

    def test_plain_body_over_the_limit(self):
        port = self.serve()
        for size in (LIMIT + 1, 10 * LIMIT):
            c = Conn(port)
            c.send(request("POST", "/stop_profile", b" " * size))
            status, body = c.answer()
            self.assertEqual(status, 413, body)
            self.assertIn("larger than 64 KiB", body["error"])
            # read to its end and dropped: the connection serves on
            c.send(request("GET", "/processes"))
            self.assertEqual(c.answer()[0], 200)
            c.close()
        # declared far too large: answered from the headers alone, then closed
        c = Conn(port)
        c.send(request("POST", "/stop_profile", extra=f"Content-Length: {2**40}\r\n"))
        self.assertEqual(c.answer()[0], 413)
        self.assertTrue(c.closed_by_server())
        c.close()
        self.alive(port)
        self.stop_cleanly()

    def test_memory_stays_flat_over_refused_bodies(self):
        # the plain command: AddressSanitizer's quarantine would hide the count
        port = self.serve(cli=CLI)
        big = b"[" + b"1," * 4000  # not JSON: cut off
        def round_of(n):
            for i in range(n):
                c = Conn(port)
                if i % 3 == 0:
                    c.send(request("POST", "/start_profile", b" " * (LIMIT + 1000)))
                    want = 413
                elif i % 3 == 1:
                    c.send(chunked("POST", "/start_profile", [b" " * 40000, b" " * 40000]))
                    want = 413
                else:
                    c.send(request("POST", "/start_profile", b'{"stages": ' + big))
                    want = 400
                self.assertEqual(c.answer()[0], want)
                c.close()
        round_of(30)  # the allocator settles
        before = rss_kib(self.server.pid)
        round_of(200)
        grown = rss_kib(self.server.pid) - before
        self.assertLess(grown, 2048, f"VmRSS grew by {grown} KiB over 200 refused bodies")
        self.stop_cleanly()

    # ---- malformed, pipelined and interleaved requests --------------------------

    def test_truncated_requests(self):
        port = self.serve("--request-timeout", "2")
        cuts = [b"POST /start_pro",
                b"POST /start_profile HTTP/1.1\r\nHost: x\r\nContent-Le",
                request("POST", "/start_profile", '{"stages": [0]}')[:-5],
                b"POST /start_profile HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"100\r\n{\"stages\"",
                b"POST /start_profile HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"zz\r\n{}\r\n0\r\n\r\n",
                b"POST /start_profile HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
                b"\x00\xff\r\n\r\n"]
        conns = []
        for data in cuts:  # each sent, then the client's side shut
            c = Conn(port)
            c.send(data)
            c.s.shutdown(socket.SHUT_WR)
            conns.append(c)
        self.alive(port)
        # an error answer or a plain close, never a crash; libmicrohttpd may
        # miss a close that comes with the last bytes: the deadline ends those
        end = time.time() + 4
        for c in conns:
            c.s.settimeout(max(0.1, end - time.time()))
            try:
                while c.s.recv(65536):
                    pass
            except ConnectionResetError:
                pass
            except TimeoutError:
                self.fail(f"{cuts[conns.index(c)]!r} is still open")
            c.close()
        self.alive(port)
        self.stop_cleanly()

    def test_pipelined_requests(self):
        port = self.serve()
        c = Conn(port)
        c.send(request("GET", "/processes")
               + request("POST", "/start_profile", "{not json")
               + chunked("POST", "/start_profile", [b" " * 50000, b" " * 50000])
               + request("POST", "/nowhere", "{}")
               + request("POST", "/stop_profile", '{"stages": [7]}')
               + request("GET", "/start_profile")
               + request("GET", "/processes"))
        got = [c.answer() for _ in range(7)]
        self.assertEqual([s for s, _ in got], [200, 400, 413, 404, 404, 405, 200])
        self.assertIn("not JSON", got[1][1]["error"])
        self.assertIn("no profiled process has stage 7", got[4][1]["error"])
        c.close()
        self.stop_cleanly()

    def test_interleaved_requests(self):
        port = self.serve()
        whole = request("POST", "/start_profile", '{"stages": [3]}')
        a, b, d = Conn(port), Conn(port), Conn(port)
        a.send(whole[:20])                # half a request line
        b.send(whole[:len(whole) - 4])    # all but the end of the body
        d.send(request("GET", "/processes"))
        self.assertEqual(d.answer()[0], 200, "answered while the others are half-sent")
        a.send(whole[20:])
        b.send(whole[len(whole) - 4:])
        for c in (a, b):
            status, body = c.answer()
            self.assertEqual(status, 404)
            self.assertIn("stage 3", body["error"])
        for c in (a, b, d):
            c.close()
        self.stop_cleanly()

    # ---- idle and slow clients ---------------------------------------------------

    def test_idle_connections_do_not_lock_out_others(self):
        port = self.serve()
        idle = []
        for _ in range(100):
            c = Conn(port)
            c.send(b"POST /start_profile HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{")
            idle.append(c)
        start = time.time()
        other = Conn(port, source="127.0.0.2")  # another client
        other.send(request("GET", "/processes"))
        status, _ = other.answer()
        took = time.time() - start
        self.assertEqual(status, 200)
        self.assertLess(took, 2.0, "a new client is answered at once")
        other.close()
        # one address holds at most PER_IP connections: the rest were closed
        time.sleep(0.3)
        readable, _, _ = select.select([c.s for c in idle], [], [], 0)
        self.assertEqual(len(idle) - len(readable), PER_IP)
        for c in idle:
            c.close()
        self.stop_cleanly()

    def test_slow_requests_are_closed(self):
        port = self.serve("--request-timeout", "1")
        start = time.time()
        header = Conn(port)  # headers, one byte every 0.2 s: never silent for 1 s
        body = Conn(port)    # whole headers, then the body as slowly
        body.send(b"POST /start_profile HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        kept = Conn(port)    # one answered request, then idle
        kept.send(request("GET", "/processes"))
        self.assertEqual(kept.answer()[0], 200)
        closed = {}
        text = b"POST /start_profile HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        for i in range(25):  # 5 s at most
            for name, c in (("header", header), ("body", body)):
                if name not in closed:
                    try:
                        c.send(text[i:i + 1] if name == "header" else b" ")
                    except (BrokenPipeError, ConnectionResetError):
                        closed[name] = time.time() - start
            if len(closed) == 2:
                break
            time.sleep(0.2)
        for c in (header, body, kept):
            c.s.settimeout(3)
        self.assertTrue(kept.closed_by_server(), "an idle keep-alive connection is closed")
        for name, c in (("header", header), ("body", body)):
            if name not in closed:
                self.assertTrue(c.closed_by_server(), f"the slow {name} is closed")
                closed[name] = time.time() - start
            self.assertLess(closed[name], 3.5, f"slow {name} closed after {closed[name]:.1f} s")
        for c in (header, body, kept):
            c.close()
        self.alive(port)
        self.stop_cleanly()

    def test_waiting_start_does_not_block_others(self):
        # a profiled process that is stopped answers no request until it
        # continues: the start waits for it on its own thread
        d = trace_dir(self, "omniprof-serve-")
        p = subprocess.Popen([binary("driver_loop"), "100000", "5"],
                             env=base_env(LD_PRELOAD=LIB, OMNIPROF=f"dir={d},stage=5"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (p.kill(), p.wait()))
        wait_for(lambda: p.pid in entries())
        port = self.serve()
        os.kill(p.pid, signal.SIGSTOP)
        waiting = [Conn(port, timeout=20) for _ in range(16)]
        for c in waiting:
            c.send(request("POST", "/start_profile", '{"stages": [5]}'))
        # each waits on a thread of its own, besides the server's one
        wait_for(lambda: len(os.listdir(f"/proc/{self.server.pid}/task")) == 17)
        over = Conn(port)
        over.send(request("POST", "/start_profile", '{"stages": [5]}'))
        status, body = over.answer()
        self.assertEqual(status, 503, "16 starts wait at most")
        over.close()
        start = time.time()
        self.alive(port)
        self.assertLess(time.time() - start, 2.0, "answered while 16 starts wait")
        os.kill(p.pid, signal.SIGCONT)
        for c in waiting:
            status, body = c.answer()
            self.assertEqual(status, 200, body)
            self.assertEqual(body["processes"][0]["pid"], p.pid)
            self.assertTrue(body["processes"][0]["ok"], body)
            c.close()
        self.stop_cleanly()


if __name__ == "__main__":
    unittest.main()
