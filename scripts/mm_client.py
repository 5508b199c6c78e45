#!/usr/bin/python3
"""An independent marketmonitor client, written from docs/api.md only.

Runs with Debian's /usr/bin/python3 (python3-grpcio, python3-protobuf). The
stubs are generated at run time from the project's .proto with protoc and
/usr/bin/grpc_python_plugin into a cache directory.

  mm_client.py --target HOST:PORT watch AAPL MSFT [--snapshot] [--mode all]
               [--count N] [--flush-interval-ms N] [--max-batch N]
               [--max-frequency-hz N] [--resume TICKER:EPOCH:SEQ ...]
  mm_client.py --target HOST:PORT subscribe AAPL [same options]
  mm_client.py --target HOST:PORT last AAPL MSFT

Security (docs/security.md): --tls-ca FILE connects over TLS and trusts that
CA for the server's certificate; --tls-cert FILE --tls-key FILE add a client
certificate (mutual TLS); --token TOKEN (or the environment variable
MM_TOKEN) sends "authorization: Bearer TOKEN" with every call.

Every update line shows its epoch and seq, and "gap" when ticks of that
ticker may have been lost just before it. When it ends, the client prints
(on stderr) one "resume TICKER:EPOCH:SEQ" line per ticker: pass them back
with --resume to get what was missed in between.
"""

import argparse
import hashlib
import importlib
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "..", "proto")
PROTO_FILE = "marketmonitor/v1/market_monitor.proto"
GRPC_PLUGIN = "/usr/bin/grpc_python_plugin"


def load_stubs(proto_root=PROTO_ROOT):
    """Generates (once per .proto content) and imports the Python stubs.

    Returns the (messages, services) modules.
    """
    proto_path = os.path.join(proto_root, PROTO_FILE)
    with open(proto_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    cache_root = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        tempfile.gettempdir(), "mm_client-%d" % os.getuid())
    out = os.path.join(cache_root, "stubs-" + digest)
    marker = os.path.join(out, ".complete")
    if not os.path.exists(marker):
        # Generate into a private directory, then rename: concurrent clients
        # never import half-written modules.
        os.makedirs(cache_root, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=cache_root, prefix="gen-")
        cmd = ["protoc", "--proto_path=" + proto_root,
               "--python_out=" + tmp, "--grpc_python_out=" + tmp,
               "--plugin=protoc-gen-grpc_python=" + GRPC_PLUGIN, proto_path]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError("protoc failed: " + res.stderr.strip())
        open(os.path.join(tmp, ".complete"), "w").close()
        try:
            os.rename(tmp, out)
        except OSError:
            # Someone else finished first; theirs is as good as ours.
            subprocess.run(["rm", "-rf", tmp], check=False)
    if out not in sys.path:
        sys.path.insert(0, out)
    pb2 = importlib.import_module("marketmonitor.v1.market_monitor_pb2")
    pb2_grpc = importlib.import_module(
        "marketmonitor.v1.market_monitor_pb2_grpc")
    return pb2, pb2_grpc


def session_options(pb2, args):
    """Builds SessionOptions from the command-line options."""
    opts = pb2.SessionOptions(snapshot=args.snapshot)
    if args.mode == "all":
        opts.mode = pb2.DELIVERY_MODE_ALL
    else:
        opts.mode = pb2.DELIVERY_MODE_CONFLATE
    if args.flush_interval_ms is not None:
        opts.flush_interval_ms = args.flush_interval_ms
    if args.max_batch is not None:
        opts.max_batch = args.max_batch
    if args.max_frequency_hz is not None:
        opts.max_frequency_hz = args.max_frequency_hz
    return opts


def parse_position(text):
    """TICKER:EPOCH:SEQ -> (ticker, epoch, seq); raises ValueError."""
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise ValueError("expected TICKER:EPOCH:SEQ, got %r" % text)
    return parts[0], int(parts[1]), int(parts[2])


def resume_positions(pb2, args):
    """The StreamPositions of --resume."""
    result = []
    for text in args.resume or ():
        ticker, epoch, seq = parse_position(text)
        result.append(pb2.StreamPosition(ticker=ticker, epoch=epoch, seq=seq))
    return result


def format_update(update, snapshot):
    """One line per update: ticker, price, volume, seq, latency."""
    now = time.time_ns()
    latency_ms = (now - update.ts_unix_nanos) / 1e6
    line = ("%-16s price=%-12s volume=%-10d epoch=%d seq=%-8d "
            "latency_ms=%.3f") % (
        update.ticker, repr(update.price), update.volume, update.epoch,
        update.seq, latency_ms)
    if update.conflated:
        line += " conflated=%d" % update.conflated
    if update.gap:
        line += " gap"
    if snapshot:
        line += " snapshot"
    return line


def format_recovery(result):
    """One line per RecoveryResult of a resumed session."""
    return "recovery %-16s recovered=%s replayed=%d" % (
        result.ticker, "true" if result.recovered else "false",
        result.replayed)


def print_batches(stream, count, positions):
    """Prints the updates of `stream`; returns after `count` (0: forever).

    Keeps the last (epoch, seq) of each ticker in `positions`.
    """
    seen = 0
    for batch in stream:
        for result in batch.recovery:
            print(format_recovery(result), flush=True)
        for update in batch.updates:
            print(format_update(update, batch.snapshot), flush=True)
            positions[update.ticker] = (update.epoch, update.seq)
            seen += 1
            if count and seen >= count:
                return


def print_positions(positions):
    """Where to resume from, on stderr (stdout carries only updates)."""
    for ticker in sorted(positions):
        epoch, seq = positions[ticker]
        print("resume %s:%d:%d" % (ticker, epoch, seq), file=sys.stderr,
              flush=True)


def cmd_watch(pb2, stub, args):
    res = stub.StartPriceMonitoring(pb2.StartPriceMonitoringRequest(
        tickers=args.tickers, options=session_options(pb2, args),
        resume_from=resume_positions(pb2, args)),
        timeout=args.timeout, metadata=args.metadata)
    print("session %s tickers %s" % (res.session_id, ",".join(res.tickers)),
          file=sys.stderr, flush=True)
    stream = stub.StreamPriceUpdates(
        pb2.StreamPriceUpdatesRequest(session_id=res.session_id),
        metadata=args.metadata)
    positions = {}
    try:
        print_batches(stream, args.count, positions)
    except KeyboardInterrupt:
        pass
    finally:
        stream.cancel()
        print_positions(positions)
        # Ending the session explicitly frees it at once; a NOT_FOUND here
        # only means the server ended it first.
        try:
            stub.StopPriceMonitoring(
                pb2.StopPriceMonitoringRequest(session_id=res.session_id),
                timeout=args.timeout, metadata=args.metadata)
        except Exception as err:  # noqa: BLE001 (report, do not mask)
            import grpc
            if not (isinstance(err, grpc.RpcError)
                    and err.code() == grpc.StatusCode.NOT_FOUND):
                raise
    return 0


def cmd_subscribe(pb2, stub, args):
    stream = stub.Subscribe(pb2.SubscribeRequest(
        tickers=args.tickers, options=session_options(pb2, args),
        resume_from=resume_positions(pb2, args)), metadata=args.metadata)
    positions = {}
    try:
        print_batches(stream, args.count, positions)
    except KeyboardInterrupt:
        pass
    finally:
        stream.cancel()
        print_positions(positions)
    return 0


def cmd_last(pb2, stub, args):
    res = stub.GetLastPrices(pb2.GetLastPricesRequest(tickers=args.tickers),
                             timeout=args.timeout, metadata=args.metadata)
    for update in res.prices:
        print(format_update(update, False))
    for health in res.health:
        print("health %-16s upstream_connected=%s last_tick_age_ms=%d" % (
            health.ticker, "true" if health.upstream_connected else "false",
            health.last_tick_age_ms))
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="marketmonitor client (see docs/api.md)")
    parser.add_argument("--target", default="127.0.0.1:50051",
                        help="HOST:PORT of the gRPC endpoint")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="deadline of unary calls in seconds")
    parser.add_argument("--tls-ca", metavar="FILE",
                        help="connect over TLS, trusting this CA (PEM) for "
                        "the server's certificate")
    parser.add_argument("--tls-cert", metavar="FILE",
                        help="client certificate for mutual TLS (PEM; with "
                        "--tls-key and --tls-ca)")
    parser.add_argument("--tls-key", metavar="FILE",
                        help="the client certificate's private key (PEM)")
    parser.add_argument("--token", default=os.environ.get("MM_TOKEN"),
                        help="send 'authorization: Bearer TOKEN' with every "
                        "call (default: $MM_TOKEN)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("watch", "subscribe"):
        p = sub.add_parser(name)
        p.add_argument("tickers", nargs="+")
        p.add_argument("--snapshot", action="store_true")
        p.add_argument("--mode", choices=["conflate", "all"],
                       default="conflate")
        p.add_argument("--count", type=int, default=0,
                       help="stop after N updates (0: until Ctrl-C)")
        p.add_argument("--flush-interval-ms", type=int)
        p.add_argument("--max-batch", type=int)
        p.add_argument("--max-frequency-hz", type=int,
                       help="at most N updates per second per ticker "
                       "(CONFLATE only)")
        p.add_argument("--resume", action="append", metavar="TICKER:EPOCH:SEQ",
                       help="replay what was missed after this position "
                       "(repeatable; the client prints them when it ends)")
    p = sub.add_parser("last")
    p.add_argument("tickers", nargs="+")
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_cert and not args.tls_ca:
        parser.error("--tls-cert needs --tls-ca")
    return args


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def make_channel(grpc, args):
    """A TLS channel with --tls-ca, else a plain-text one."""
    if not args.tls_ca:
        return grpc.insecure_channel(args.target)
    creds = grpc.ssl_channel_credentials(
        root_certificates=read_file(args.tls_ca),
        private_key=read_file(args.tls_key) if args.tls_key else None,
        certificate_chain=read_file(args.tls_cert) if args.tls_cert else None)
    return grpc.secure_channel(args.target, creds)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import grpc
    try:
        pb2, pb2_grpc = load_stubs()
    except (OSError, RuntimeError) as err:
        print("error: cannot generate the gRPC stubs: %s" % err,
              file=sys.stderr)
        return 1
    args.metadata = (("authorization", "Bearer " + args.token),) \
        if args.token else ()
    try:
        channel = make_channel(grpc, args)
    except OSError as err:
        print("error: %s" % err, file=sys.stderr)
        return 2
    stub = pb2_grpc.MarketMonitorStub(channel)
    commands = {"watch": cmd_watch, "subscribe": cmd_subscribe,
                "last": cmd_last}
    try:
        return commands[args.command](pb2, stub, args)
    except ValueError as err:
        print("error: %s" % err, file=sys.stderr)
        return 2
    except grpc.RpcError as err:
        print("error: %s: %s" % (err.code().name, err.details()),
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1
    finally:
        channel.close()


if __name__ == "__main__":
    sys.exit(main())
