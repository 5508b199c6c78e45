#!/usr/bin/python3
"""End-to-end test of mm-server with the independent Python client.

Starts its own redis-server and mm-server (path from $MM_SERVER_BIN),
publishes ticks with the real `redis-cli PUBLISH` and talks gRPC through
stubs generated from the .proto by scripts/mm_client.py. Run with
/usr/bin/python3 (Debian's python3-grpcio and python3-protobuf).
"""

import os
import queue
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
CLIENT = os.path.join(SOURCE_DIR, "scripts", "mm_client.py")
sys.path.insert(0, os.path.join(SOURCE_DIR, "scripts"))

import grpc  # noqa: E402
import mm_client  # noqa: E402

pb2, pb2_grpc = mm_client.load_stubs()

WAIT = 5.0  # seconds: the deadline of waits that should succeed quickly


def wait_until(pred, timeout=WAIT, interval=0.005):
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def die_with_parent():
    """Children die with the test, so a killed run leaves no servers."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc, timeout=10.0):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Redis:
    """A redis-server on a free loopback port, driven with redis-cli."""

    def __init__(self):
        for _ in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind",
                 "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=die_with_parent)
            if wait_until(lambda: self.proc.poll() is not None
                          or self.cli("PING") == "PONG"):
                if self.proc.poll() is None:
                    return
            stop_process(self.proc)
        raise RuntimeError("cannot start redis-server")

    def cli(self, *args):
        res = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p",
                              str(self.port)] + list(args),
                             capture_output=True, text=True)
        return res.stdout.strip()

    def publish(self, ticker, payload):
        return int(self.cli("PUBLISH", "prices:" + ticker, payload))

    def subscribers(self, ticker):
        lines = self.cli("PUBSUB", "NUMSUB", "prices:" + ticker).split("\n")
        return int(lines[1])

    def stop(self):
        stop_process(self.proc)


class Server:
    """mm-server on ephemeral loopback ports."""

    READY = re.compile(r"^marketmonitor ready grpc=(\S+) admin=(\S+)\s*$")

    def __init__(self, redis, flags=()):
        binary = os.environ.get("MM_SERVER_BIN")
        if not binary:
            raise RuntimeError("set MM_SERVER_BIN to the mm-server binary")
        self.proc = subprocess.Popen(
            [binary, "--grpc-listen", "127.0.0.1:0", "--admin-listen",
             "127.0.0.1:0", "--redis", "127.0.0.1:%d" % redis.port]
            + list(flags), stdout=subprocess.PIPE, preexec_fn=die_with_parent)
        deadline = time.monotonic() + 20
        buf = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [],
                                        deadline - time.monotonic())
            if not ready:
                break
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            for line in buf.decode(errors="replace").splitlines():
                m = self.READY.match(line)
                if m:
                    self.target = m.group(1)
                    # Keep draining so the server never blocks on stdout.
                    threading.Thread(target=self._drain, daemon=True).start()
                    return
        stop_process(self.proc)
        raise RuntimeError("mm-server printed no ready line: %r" % buf)

    def _drain(self):
        while os.read(self.proc.stdout.fileno(), 4096):
            pass

    def stop(self):
        return stop_process(self.proc)


class Collector:
    """Reads a server stream on a thread and queues its batches."""

    def __init__(self, stream):
        self.stream = stream
        self.batches = queue.Queue()
        self.error = None
        self.done = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        try:
            for batch in self.stream:
                self.batches.put(batch)
        except grpc.RpcError as err:
            self.error = err
        finally:
            self.done.set()

    def next_update(self, timeout=WAIT):
        """Returns the next update (batch's updates flattened)."""
        if not hasattr(self, "_pending"):
            self._pending = []
        if not self._pending:
            batch = self.batches.get(timeout=timeout)
            self._pending = [(u, batch) for u in batch.updates]
        return self._pending.pop(0)


def tick(price, volume, ts):
    return '{"price": %r, "volume": %d, "ts": %d}' % (price, volume, ts)


class ClientTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = Redis()
        try:
            cls.server = Server(cls.redis, ["--linger-ms", "200",
                                            "--attach-timeout-ms", "2000"])
        except Exception:
            cls.redis.stop()
            raise
        cls.channel = grpc.insecure_channel(cls.server.target)
        cls.stub = pb2_grpc.MarketMonitorStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        code = cls.server.stop()
        cls.redis.stop()
        assert code == 0, "mm-server exited with %s on SIGTERM" % code

    def wait_subscribed(self, ticker):
        self.assertTrue(wait_until(
            lambda: self.redis.subscribers(ticker) > 0),
            "mm-server never subscribed prices:" + ticker)

    def test_start_stream_update_stop(self):
        res = self.stub.StartPriceMonitoring(
            pb2.StartPriceMonitoringRequest(
                tickers=[" pya", "PYA"],
                options=pb2.SessionOptions(mode=pb2.DELIVERY_MODE_ALL)),
            timeout=WAIT)
        self.assertEqual(len(res.session_id), 36)
        self.assertEqual(list(res.tickers), ["PYA"])
        sid = res.session_id
        stream = self.stub.StreamPriceUpdates(
            pb2.StreamPriceUpdatesRequest(session_id=sid))
        got = Collector(stream)
        self.wait_subscribed("PYA")
        self.assertEqual(self.redis.publish("PYA", tick(189.25, 100,
                                                        1763800000123456789)),
                         1)
        self.redis.publish("PYA", "not json")
        self.redis.publish("PYA", tick(190.5, 200, 1763800000223456789))
        u1, b1 = got.next_update()
        u2, _ = got.next_update()
        self.assertEqual(b1.batch_seq, 1)
        self.assertEqual((u1.ticker, u1.price, u1.volume, u1.ts_unix_nanos,
                          u1.seq),
                         ("PYA", 189.25, 100, 1763800000123456789, 1))
        self.assertEqual((u2.ticker, u2.price, u2.volume, u2.ts_unix_nanos,
                          u2.seq),
                         ("PYA", 190.5, 200, 1763800000223456789, 2))

        # Switch from PYA to PYB.
        upd = self.stub.UpdateSubscription(
            pb2.UpdateSubscriptionRequest(session_id=sid, add=["pyb"],
                                          remove=["PYA"]), timeout=WAIT)
        self.assertEqual(list(upd.tickers), ["PYB"])
        self.wait_subscribed("PYB")
        self.redis.publish("PYA", tick(1.0, 1, 1))
        self.redis.publish("PYB", tick(2.0, 2, 2))
        u3, _ = got.next_update()
        self.assertEqual((u3.ticker, u3.price, u3.seq), ("PYB", 2.0, 1))

        self.stub.StopPriceMonitoring(
            pb2.StopPriceMonitoringRequest(session_id=sid), timeout=WAIT)
        self.assertTrue(got.done.wait(WAIT), "stream did not end after Stop")
        self.assertIsNone(got.error, "stream ended with %r" % got.error)
        self.assertTrue(got.batches.empty(), "PYA tick arrived after removal")

        for call in (
                lambda: self.stub.StopPriceMonitoring(
                    pb2.StopPriceMonitoringRequest(session_id=sid),
                    timeout=WAIT),
                lambda: self.stub.UpdateSubscription(
                    pb2.UpdateSubscriptionRequest(session_id=sid,
                                                  add=["PYC"]),
                    timeout=WAIT),
                lambda: list(self.stub.StreamPriceUpdates(
                    pb2.StreamPriceUpdatesRequest(session_id=sid),
                    timeout=WAIT))):
            with self.assertRaises(grpc.RpcError) as ctx:
                call()
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_get_last_prices(self):
        res = self.stub.StartPriceMonitoring(
            pb2.StartPriceMonitoringRequest(tickers=["PYL"]), timeout=WAIT)
        got = Collector(self.stub.StreamPriceUpdates(
            pb2.StreamPriceUpdatesRequest(session_id=res.session_id)))
        self.wait_subscribed("PYL")
        self.redis.publish("PYL", tick(33.5, 3, 333))
        got.next_update()
        last = self.stub.GetLastPrices(
            pb2.GetLastPricesRequest(tickers=["pyl", "PYUNKNOWN"]),
            timeout=WAIT)
        self.assertEqual(len(last.prices), 1)
        p = last.prices[0]
        self.assertEqual((p.ticker, p.price, p.volume, p.ts_unix_nanos,
                          p.seq), ("PYL", 33.5, 3, 333, 1))
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stub.GetLastPrices(pb2.GetLastPricesRequest(tickers=["A B"]),
                                    timeout=WAIT)
        self.assertEqual(ctx.exception.code(),
                         grpc.StatusCode.INVALID_ARGUMENT)
        proc = self.run_client("last", "PYL", "PYUNKNOWN")
        out, err = proc.communicate(timeout=WAIT * 2)
        self.assertEqual(proc.returncode, 0, err)
        lines = out.strip().split("\n")
        self.assertEqual(len(lines), 2, out)
        self.assertRegex(
            lines[0], r"^PYL\s+price=33\.5\s+volume=3\s+epoch=[1-9]\d*\s+seq=1 ")
        # The feed's health: Redis connected, a tick a moment ago.
        self.assertRegex(lines[1], r"^health PYL\s+upstream_connected=true "
                         r"last_tick_age_ms=\d+$")
        self.stub.StopPriceMonitoring(
            pb2.StopPriceMonitoringRequest(session_id=res.session_id),
            timeout=WAIT)

    def run_client(self, *args, **kwargs):
        return subprocess.Popen(
            ["/usr/bin/python3", CLIENT, "--target", self.server.target]
            + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, **kwargs)

    def test_cli_watch_prints_updates_and_stops_the_session(self):
        proc = self.run_client("watch", "PYW", "--mode", "all", "--count",
                               "2")
        try:
            self.wait_subscribed("PYW")
            self.redis.publish("PYW", tick(10.5, 1, time.time_ns()))
            self.redis.publish("PYW", tick(11.5, 2, time.time_ns()))
            out, err = proc.communicate(timeout=WAIT * 2)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, err)
        lines = out.strip().split("\n")
        self.assertEqual(len(lines), 2, out)
        self.assertRegex(
            lines[0], r"^PYW\s+price=10\.5\s+volume=1\s+epoch=[1-9]\d*\s+seq=1 ")
        self.assertRegex(
            lines[1], r"^PYW\s+price=11\.5\s+volume=2\s+epoch=[1-9]\d*\s+seq=2 ")
        self.assertNotIn(" gap", out)
        # Where to resume from, for the next run.
        self.assertRegex(err, r"resume PYW:[1-9]\d*:2\n")
        self.assertIn("latency_ms=", lines[0])
        # The client stopped its session: nobody follows PYW any more.
        self.assertTrue(wait_until(lambda: self.redis.subscribers("PYW") == 0),
                        "the session of the CLI was not stopped")

    def test_cli_reports_errors_with_code_and_exit_1(self):
        proc = self.run_client("watch", "A B")
        out, err = proc.communicate(timeout=WAIT * 2)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("INVALID_ARGUMENT", err)
        self.assertIn("A B", err)
        proc = self.run_client("last", "--", "-X")
        out, err = proc.communicate(timeout=WAIT * 2)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("INVALID_ARGUMENT", err)

    def test_cli_subscribe(self):
        proc = self.run_client("subscribe", "PYS", "--count", "1",
                               "--snapshot")
        try:
            self.wait_subscribed("PYS")
            # Subscribe returns no id: publish until the stream has one.
            self.assertTrue(wait_until(
                lambda: self.redis.publish("PYS", tick(5.25, 5, 55)) >= 0
                and proc.poll() is not None, interval=0.05))
            out, err = proc.communicate(timeout=WAIT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, err)
        self.assertRegex(
            out, r"^PYS\s+price=5\.25\s+volume=5\s+epoch=\d+\s+seq=\d+ ")

    def test_cli_resume_replays_what_was_missed(self):
        # A keeper holds the broadcaster (and its history) between the runs.
        stream = self.stub.Subscribe(pb2.SubscribeRequest(tickers=["PYR"]))
        keeper = Collector(stream)
        try:
            self.wait_subscribed("PYR")
            proc = self.run_client("subscribe", "PYR", "--mode", "all",
                                   "--count", "1")
            published = [0]

            def publish_until_done():
                published[0] += 1
                n = published[0]
                self.redis.publish("PYR", tick(float(n), 1, n))
                return proc.poll() is not None

            self.assertTrue(wait_until(publish_until_done, interval=0.05))
            out, err = proc.communicate(timeout=WAIT)
            self.assertEqual(proc.returncode, 0, err)
            match = re.search(r"resume (PYR:\d+:(\d+))\n", err)
            self.assertIsNotNone(match, err)
            seen = int(match.group(2))
            for _ in range(3):
                published[0] += 1
                n = published[0]
                self.redis.publish("PYR", tick(float(n), 1, n))
            # The keeper was there from the first tick: seq counts them all.
            last = published[0]
            while keeper.next_update()[0].seq < last:
                pass
            missed = last - seen
            proc = self.run_client("subscribe", "PYR", "--mode", "all",
                                   "--count", str(missed),
                                   "--resume", match.group(1))
            out, err = proc.communicate(timeout=WAIT * 2)
            self.assertEqual(proc.returncode, 0, err)
            lines = out.strip().split("\n")
            self.assertRegex(lines[0], r"^recovery PYR\s+recovered=true "
                             r"replayed=%d$" % missed, out)
            seqs = [int(re.search(r"seq=(\d+)", x).group(1))
                    for x in lines[1:]]
            self.assertEqual(seqs, list(range(seen + 1, last + 1)), out)
            proc = self.run_client("subscribe", "PYR", "--resume", "PYR:x")
            out, err = proc.communicate(timeout=WAIT * 2)
            self.assertEqual(proc.returncode, 2)
            self.assertIn("TICKER:EPOCH:SEQ", err)
        finally:
            stream.cancel()


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_token(secret, claims):
    """A JWT made with the standard library only (not libjwt)."""
    import hashlib
    import hmac
    import json
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), ("%s.%s" % (head, body)).encode(),
                   hashlib.sha256).digest()
    return "%s.%s.%s" % (head, body, b64url(sig))


class SecureClientTest(unittest.TestCase):
    """mm_client.py --tls-ca/--tls-cert/--tls-key/--token against a node
    with mutual TLS and --auth jwt (docs/security.md)."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.dir = tempfile.TemporaryDirectory()
        d = cls.dir.name
        script = """set -e
cd "%s"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout ca.key -out ca.pem -days 2 -subj "/CN=test CA"
for name in server client; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout $name.key -out $name.csr -subj "/CN=$name"
done
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
printf 'extendedKeyUsage=clientAuth\n' >client.ext
for name in server client; do
  openssl x509 -req -in $name.csr -CA ca.pem -CAkey ca.key \
    -CAcreateserial -days 2 -extfile $name.ext -out $name.pem
done
""" % d
        subprocess.run(["bash", "-c", script], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.secret = "python-client-test-secret-0123456789abcdef"
        with open(os.path.join(d, "secret"), "w") as f:
            f.write(cls.secret + "\n")
        cls.redis = Redis()
        try:
            cls.server = Server(cls.redis, [
                "--tls-cert", os.path.join(d, "server.pem"),
                "--tls-key", os.path.join(d, "server.key"),
                "--tls-client-ca", os.path.join(d, "ca.pem"),
                "--auth", "jwt", "--jwt-key-file", os.path.join(d, "secret")])
        except Exception:
            cls.redis.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.redis.stop()
        cls.dir.cleanup()
        assert code == 0, "mm-server exited with %s on SIGTERM" % code

    def run_client(self, *args, env=None):
        d = self.dir.name
        return subprocess.run(
            ["/usr/bin/python3", CLIENT, "--target", self.server.target,
             "--tls-ca", os.path.join(d, "ca.pem"),
             "--tls-cert", os.path.join(d, "client.pem"),
             "--tls-key", os.path.join(d, "client.key")] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=WAIT * 4, env=env)

    def token(self, sub="alice", ttl=600, **extra):
        claims = {"sub": sub, "exp": int(time.time()) + ttl}
        claims.update(extra)
        return hs256_token(self.secret, claims)

    def test_token_and_client_certificate(self):
        res = self.run_client("--token", self.token(), "last", "AAPL")
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_token_from_the_environment(self):
        env = dict(os.environ, MM_TOKEN=self.token())
        res = self.run_client("last", "AAPL", env=env)
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_refusals(self):
        res = self.run_client("last", "AAPL")
        self.assertEqual(res.returncode, 1)
        self.assertIn("UNAUTHENTICATED: missing credentials", res.stderr)
        res = self.run_client("--token", self.token(ttl=-10), "last", "AAPL")
        self.assertEqual(res.returncode, 1)
        self.assertIn("UNAUTHENTICATED: token expired", res.stderr)
        res = self.run_client(
            "--token", self.token(tickers=["MS*"]), "last", "AAPL")
        self.assertEqual(res.returncode, 1)
        self.assertIn("PERMISSION_DENIED: ticker AAPL", res.stderr)
        # Plain text reaches nothing.
        res = subprocess.run(
            ["/usr/bin/python3", CLIENT, "--target", self.server.target,
             "--timeout", "2", "--token", self.token(), "last", "AAPL"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=WAIT * 4)
        self.assertEqual(res.returncode, 1)
        self.assertIn("UNAVAILABLE", res.stderr)


if __name__ == "__main__":
    unittest.main()
