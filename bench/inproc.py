"""Server CPU per request without the network: pubkit's own uvicorn protocol and app, fed
HTTP requests through an in-memory transport on one keep-alive connection.

    python bench/inproc.py --data-dir DIR [--source DIR] [--path /simple/p/] [-n 5000]

Everything a worker runs for a request runs here (the httptools parser, pubkit's protocol
class, the middleware, the app, the answer's serialization) except the kernel's socket work,
so the number is steadier than a wrk run on a shared machine and can be profiled
(``--profile``). ``--source`` runs the ``pubkit`` package found in that directory (e.g. a
``git archive REV pubkit``), so that two revisions can be compared in turn. The server is
configured the way ``pubkit serve`` configures a worker (its own ``serve`` is called with
uvicorn's ``Server.run`` replaced), from ``PUBKIT_*`` variables and ``--data-dir``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any


class MemoryTransport(asyncio.Transport):
    """What uvicorn's protocol writes to: kept as a byte count, never sent."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.closing = False
        self.chunks: list[bytes] = []
        self.keep = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)
        if self.keep:
            self.chunks.append(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def worker_config() -> Any:
    """The uvicorn Config ``pubkit.server.run.serve`` builds for a worker, loaded."""
    import uvicorn

    from pubkit.server import run
    from pubkit.settings import load_server_settings

    captured: list[Any] = []
    original = uvicorn.Server.run
    uvicorn.Server.run = lambda self, sockets=None: captured.append(self.config)  # type: ignore
    try:
        run.serve(load_server_settings(environ=os.environ))
    finally:
        uvicorn.Server.run = original  # type: ignore[method-assign]
    config = captured[0]
    config.load()
    return config


async def measure(args: argparse.Namespace) -> None:
    from uvicorn.lifespan.on import LifespanOn
    from uvicorn.server import ServerState

    config = worker_config()
    lifespan = LifespanOn(config)
    await lifespan.startup()
    state = ServerState()
    protocol = config.http_protocol_class(config=config, server_state=state,
                                          app_state=lifespan.state)  # fmt: skip
    transport = MemoryTransport()
    protocol.connection_made(transport)
    head = f"{args.method} {args.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += "".join(f"{h}\r\n" for h in args.header) + "\r\n"
    request = head.encode("latin-1")

    async def one() -> None:
        protocol.data_received(request)
        while state.tasks:
            await asyncio.gather(*list(state.tasks))

    transport.keep = True
    await one()
    transport.keep = False
    answer = b"".join(transport.chunks)
    print(answer.split(b"\r\n\r\n", 1)[0].decode("latin-1"), file=sys.stderr)
    print(f"({len(answer)} bytes)", file=sys.stderr)
    for _ in range(args.n // 5):  # warm-up: caches, the first snapshot
        await one()
    if args.follow:
        # Driven by --compare: one sample of N requests per line read, its us/request back.
        print("ready", flush=True)
        for line in sys.stdin:
            count = int(line)
            started = time.process_time()
            for _ in range(count):
                await one()
            print(f"{(time.process_time() - started) / count * 1e6:.3f}", flush=True)
        return
    samples = []
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    for _ in range(args.repeat):
        if profiler is not None:
            profiler.enable()
        started = time.process_time()
        for _ in range(args.n):
            await one()
        samples.append((time.process_time() - started) / args.n * 1e6)
        if profiler is not None:
            profiler.disable()
    print(f"us/request: min {min(samples):.1f}  median {statistics.median(samples):.1f}  "
          f"({', '.join(f'{s:.1f}' for s in samples)})")  # fmt: skip
    if profiler is not None:
        import pstats

        stats = pstats.Stats(profiler)
        stats.sort_stats(args.sort).print_stats(args.top)
    protocol.connection_lost(None)
    await lifespan.shutdown()


def compare(args: argparse.Namespace) -> None:
    """Each source in its own process, samples taken in turn (A B C, then C B A, ...), so
    that whatever else runs on the machine weighs on them alike; per source the median and
    minimum of its samples, and the median of its ratios to the first source's sample of
    the same round."""
    import shutil
    import subprocess
    import tempfile

    names, procs = [], []
    done: list[float] = []
    with tempfile.TemporaryDirectory(prefix="pubkit-inproc-") as tmp:
        for spec in args.compare:
            name, _, rest = spec.partition("=")
            source, _, own_data = rest.partition(",")
            data = os.path.join(tmp, name)
            shutil.copytree(own_data or args.data_dir, data, symlinks=True)
            argv = [sys.executable, os.path.abspath(__file__), "--follow", "--data-dir", data,
                    "--path", args.path, "--method", args.method, "-n", str(args.n),
                    "--loop", args.loop]  # fmt: skip
            argv += [f"-H{h}" for h in args.header]
            if source and source != ".":
                argv += ["--source", source]
            if args.callgrind:
                argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                        f"--callgrind-out-file={tmp}/{name}.%p.out", *argv]  # fmt: skip
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    text=True, env={**os.environ})  # fmt: skip
            assert proc.stdout is not None
            while (line := proc.stdout.readline()) and line.strip() != "ready":
                pass
            names.append(name)
            procs.append(proc)
        samples: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(args.repeat):
            order = list(zip(names, procs, strict=True))
            for name, proc in order if round_ % 2 == 0 else reversed(order):
                assert proc.stdin is not None and proc.stdout is not None
                if args.callgrind:
                    subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)],
                                   capture_output=True, check=True)  # fmt: skip
                proc.stdin.write(f"{args.n}\n")
                proc.stdin.flush()
                samples[name].append(float(proc.stdout.readline()))
                if args.callgrind:
                    subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)],
                                   capture_output=True, check=True)  # fmt: skip
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait()
        if args.callgrind:
            # Instructions counted only while samples ran: per request, whatever the load.
            for name in names:
                totals = [int(line.split()[1]) for out in Path(tmp).glob(f"{name}.*.out")
                          for line in out.read_text().splitlines()
                          if line.startswith("totals:")]  # fmt: skip
                done.append(sum(totals) / (args.n * args.repeat))
    if done:
        for name, instructions in zip(names, done, strict=True):
            print(f"{name:>12}: {instructions:10,.0f} instructions/request"
                  f"  vs {names[0]}: {instructions / done[0]:.3f}x")  # fmt: skip
        return
    first = samples[names[0]]
    for name in names:
        ratios = [mine / theirs for mine, theirs in zip(samples[name], first, strict=True)]
        print(f"{name:>12}: us/request median {statistics.median(samples[name]):6.1f}"
              f"  min {min(samples[name]):6.1f}"
              f"  vs {names[0]}: {statistics.median(ratios):.3f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--source", help="a directory holding the pubkit package to run")
    parser.add_argument("--path", default="/simple/bench-pkg-00025/")
    parser.add_argument("--method", default="GET")
    parser.add_argument("-H", "--header", action="append", default=[],
                        help="a request header, 'Name: value' (repeatable)")  # fmt: skip
    parser.add_argument("-n", type=int, default=5000, help="requests per sample")
    parser.add_argument("--repeat", type=int, default=7, help="samples")
    parser.add_argument("--profile", action="store_true", help="cProfile the samples")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--compare", nargs="+", metavar="NAME=SOURCE[,DATA]",
                        help="run each source (a directory holding pubkit; '.' for the work"
                             " tree) in its own process on its own copy of --data-dir (or of"
                             " DATA, e.g. one an older revision can read), and interleave"
                             " their samples")  # fmt: skip
    parser.add_argument("--callgrind", action="store_true",
                        help="with --compare: run each source under valgrind's callgrind and"
                             " report instructions per request (slow, but deaf to the load)")
    parser.add_argument("--follow", action="store_true",
                        help="take one sample of N requests per line read from stdin")
    args = parser.parse_args()
    if args.compare:
        compare(args)
        return
    if args.source:
        sys.path.insert(0, os.path.abspath(args.source))
    os.environ["PUBKIT_DATA_DIR"] = os.path.abspath(args.data_dir)
    os.environ.setdefault("PUBKIT_LOG_LEVEL", "warning")
    import pubkit

    print(f"pubkit from {os.path.dirname(pubkit.__file__)}", file=sys.stderr)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(measure(args))
    else:
        asyncio.run(measure(args))


if __name__ == "__main__":
    main()
