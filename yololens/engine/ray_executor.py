"""``--executor ray``: a resumable job's windows as Ray tasks on actors that load the model once per worker.

The executor contract of :mod:`yololens.engine.executors`, on Ray: each actor calls ``build(spec)`` once
(model, runner, pooling); each window is one actor call that writes the window's durable part straight into
OUT (so OUT must be on a filesystem every node shares: checked before the first window) under a name fixed by
the window, so a retried window replaces its part instead of adding one. A killed worker is restarted and its window retried (``max_restarts`` /
``max_task_retries``). The driver shows one progress bar (images/s) and finalizes as the local executor does.
Ray is an optional extra: ``pip install "yololens[ray]"``.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from yololens.engine.executors import Build, S, Window, WindowOutcome, WindowWork
from yololens.errors import InputError, YololensError

RETRIES = 3  # per window: a killed worker is restarted and the window run again
CONNECT_TIMEOUT_S = 10.0  # --ray-address: give up on a host that does not answer after this long


@dataclass(frozen=True)
class RayExecutor:
    """Runs windows on a Ray cluster (``address``: ``None`` = start or join a local one, else ``ray://...`` or
    ``auto``). ``workers``: actors (default: one per GPU with CUDA, else CPUs / ``cpus_per_worker``)."""

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: int = 1

    def run(self, build: Build, spec: S, windows: Sequence[Window], out: Path, *, gpu: bool = False,
            progress: bool = True, desc: str = "images") -> Iterator[WindowOutcome]:
        """Yield one :class:`WindowOutcome` per window of ``windows``, as they finish (any order)."""
        if not windows:
            return
        ray = _ray()
        if not ray.is_initialized():
            _connect(ray, self.address)
        probe = out / f".yololens-ray-{uuid.uuid4().hex}"
        probe.write_text("")
        try:
            resources = ray.cluster_resources()
            n = self.workers or (int(resources.get("GPU", 0)) if gpu else
                                 max(1, int(resources.get("CPU", 1)) // self.cpus_per_worker))
            n = max(1, min(n, len(windows)))
            opts = {"num_gpus": 1} if gpu else {"num_cpus": self.cpus_per_worker}
            actor_cls = ray.remote(max_restarts=RETRIES, max_task_retries=RETRIES, **opts)(_WindowActor)
            # the spec (model and source) goes to the object store once, held here for the whole run: a restarted
            # actor is built from it again (arguments Ray put there itself may be gone by then)
            job = ray.put(functools.partial(build, spec))
            actors = [actor_cls.remote(job, str(probe)) for _ in range(n)]
            try:
                yield from _drive(ray, actors, windows, progress, desc)
            finally:  # a stopped driver stops its workers: none may write a part after it let go of OUT's lock
                for actor in actors:
                    ray.kill(actor, no_restart=True)
        finally:
            probe.unlink(missing_ok=True)


class _WindowActor:
    """One worker: the job's window work, built once (``make_work``: ``build`` bound to the spec); checks that
    it sees the driver's OUT."""

    def __init__(self, make_work, probe: str):
        if not os.path.exists(probe):
            raise InputError(f"{Path(probe).parent}: this Ray worker (host {os.uname().nodename}) cannot see OUT; "
                             "--executor ray needs OUT on a filesystem all nodes share")
        self.work: WindowWork = make_work()

    def pid(self) -> int:
        return os.getpid()

    def run(self, window: Window) -> WindowOutcome:
        return self.work(window)


def _drive(ray, actors: list, windows: Sequence[Window], progress: bool, desc: str) -> Iterator[WindowOutcome]:
    """Keep every actor busy with one window at a time; yield outcomes as they come."""
    pending = list(windows)[::-1]
    running: dict = {}
    bar = tqdm(total=sum(len(w) for w in windows), unit="img", desc=f"{desc} (ray, {len(actors)} workers)",
               disable=not progress, dynamic_ncols=True)
    try:
        for actor in actors:
            if pending:
                w = pending.pop()
                running[actor.run.remote(w)] = (actor, w)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            actor, w = running.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
            except ray.exceptions.RayTaskError as exc:
                cause = exc.as_instanceof_cause()
                raise (cause if isinstance(cause, YololensError) else exc) from None
            except ray.exceptions.RayActorError as exc:
                raise InputError(f"a Ray worker died {RETRIES + 1} times on the window at image {w[0].index}: "
                                 f"{exc}") from None
            bar.update(len(w))
            if pending:
                nxt = pending.pop()
                running[actor.run.remote(nxt)] = (actor, nxt)
            yield outcome
    finally:
        bar.close()


def _connect(ray, address: str | None) -> None:
    """``ray.init`` that gives up on an unreachable ``address`` within :data:`CONNECT_TIMEOUT_S` (one line, not
    minutes of retries) and leaves SIGTERM to the command (Ray's own handler would exit 15, not 143)."""
    host, _, port = (address or "").removeprefix("ray://").rpartition(":")
    if host and port.isdigit():
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
        except OSError as exc:
            raise InputError(f"--ray-address {address}: cannot connect within {CONNECT_TIMEOUT_S:g} s "
                             f"({exc.strerror or exc or 'timed out'}); is the cluster up?") from None
        _grpc_ready(address, f"{host}:{port}")
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except SystemExit as exc:  # Ray's SIGTERM handler, while connecting: stop as our handler would
        if main and exc.code == signal.SIGTERM:
            signal.signal(signal.SIGTERM, previous)
            signal.raise_signal(signal.SIGTERM)
        raise
    except (ConnectionError, TimeoutError, RuntimeError) as exc:
        raise InputError(f"--ray-address {address}: cannot start or join Ray ({' '.join(str(exc).split())[:200]})") \
            from None
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _grpc_ready(address: str, target: str) -> None:
    """Ray speaks gRPC on that port: wait for the handshake here, in Python (a signal stops the wait at once),
    not inside ``ray.init``, which blocks in C and retries a silent port for minutes."""
    import grpc

    channel = grpc.insecure_channel(target)
    try:
        grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT_S)
    except grpc.FutureTimeoutError:
        raise InputError(f"--ray-address {address}: no Ray answer within {CONNECT_TIMEOUT_S:g} s (something listens "
                         "there, but it does not speak Ray's protocol)") from None
    finally:
        channel.close()


def _ray():
    try:
        import ray
    except ImportError:
        raise InputError('--executor ray needs Ray: pip install "yololens[ray]"') from None
    return ray
