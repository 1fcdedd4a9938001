"""Serving the sandbox: in a background thread for tests and benchmarks, or in the foreground
for `partnersync sandbox`."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from partnersync.sandbox.app import build_app
from partnersync.sandbox.data import Dataset
from partnersync.sandbox.generator import generate
from partnersync.sandbox.knobs import Knobs
from partnersync.sandbox.state import SandboxState

NORTHPASS_KEYS = ("np-sandbox-key", "np-sandbox-key-2")
IMPARTNER_KEYS = ("prm-sandbox-key", "prm-sandbox-key-2")
TENANT_ID = 1


@dataclass
class RunningSandbox:
    """Handle on a served sandbox: where it listens, its keys, its live data and knobs."""

    base_url: str
    state: SandboxState

    @property
    def dataset(self) -> Dataset:
        return self.state.dataset

    @property
    def northpass_key(self) -> str:
        return self.state.northpass_keys[0]

    @property
    def impartner_key(self) -> str:
        return self.state.impartner_keys[0]

    @property
    def northpass_keys(self) -> tuple[str, ...]:
        return self.state.northpass_keys

    @property
    def impartner_keys(self) -> tuple[str, ...]:
        return self.state.impartner_keys

    @property
    def tenant_id(self) -> int:
        return self.state.tenant_id

    @property
    def knobs(self) -> Knobs:
        return self.state.knobs

    def set_knobs(self, **changes: Any) -> Knobs:
        return self.state.set_knobs(**changes)

    def stats(self) -> dict[str, Any]:
        return self.state.counters.snapshot()

    def reset_counters(self) -> None:
        self.state.counters.reset()


def make_state(dataset: Dataset, **knob_overrides: Any) -> SandboxState:
    return SandboxState(
        dataset=dataset,
        knobs=Knobs().updated(**knob_overrides),
        northpass_keys=NORTHPASS_KEYS,
        impartner_keys=IMPARTNER_KEYS,
        tenant_id=TENANT_ID,
    )


def bind(port: int) -> socket.socket:
    # an explicit protocol lets asyncio set TCP_NODELAY on accepted connections (no 40 ms stalls)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def uvicorn_server(state: SandboxState) -> uvicorn.Server:
    config = uvicorn.Config(
        build_app(state),
        http="h11",
        loop="asyncio",
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


@contextmanager
def running_sandbox(
    size: str = "tiny",
    seed: int = 1,
    *,
    port: int = 0,
    dataset: Dataset | None = None,
    **knob_overrides: Any,
) -> Iterator[RunningSandbox]:
    """Serves a freshly generated (or the given) dataset on 127.0.0.1 until the block ends."""
    state = make_state(dataset or generate(size, seed), **knob_overrides)
    server = uvicorn_server(state)
    sock = bind(port)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="partnersync-sandbox", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    try:
        yield RunningSandbox(f"http://127.0.0.1:{sock.getsockname()[1]}", state)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        state.webhooks.close()


def environment_lines(sandbox: RunningSandbox) -> list[str]:
    """The settings that point partnersync at this sandbox."""
    return [
        f"NORTHPASS_BASE_URL={sandbox.base_url}",
        f"NORTHPASS_API_KEY={sandbox.northpass_key}",
        f"IMPARTNER_BASE_URL={sandbox.base_url}",
        f"IMPARTNER_API_KEY={sandbox.impartner_key}",
        f"IMPARTNER_TENANT_ID={sandbox.tenant_id}",
    ]


def main(size: str, port: int, seed: int, env_file: Path | None = None) -> None:
    """Serves both APIs on loopback until interrupted; prints where, and with which keys, only
    once it accepts connections. Raises OSError when the port cannot be had."""
    started = time.perf_counter()
    dataset = generate(size, seed)
    elapsed = time.perf_counter() - started
    bind(port).close()  # a taken port is found before anything is printed
    with running_sandbox(dataset=dataset, port=port) as sandbox:
        base = sandbox.base_url
        print(
            f"Generated the {size!r} dataset (seed {seed}) in {elapsed:.1f} s: "
            f"{len(dataset.people)} people, {len(dataset.groups)} groups, "
            f"{len(dataset.courses)} courses, {len(dataset.accounts)} accounts, "
            f"{len(dataset.users)} Impartner users."
        )
        print(f"Northpass: {base}/v2  (header X-Api-Key: {sandbox.northpass_key})")
        print(
            f"Impartner: {base}/api/objects/v1  (header Authorization: prm-key "
            f"{sandbox.impartner_key}, X-PRM-TenantId: {sandbox.tenant_id})"
        )
        print(f"Control:   {base}/_sandbox/stats, POST {base}/_sandbox/knobs")
        lines = environment_lines(sandbox)
        if env_file is not None:
            env_file.write_text("\n".join(lines) + "\n")
            print(f"wrote {env_file}; next: partnersync migrate, then partnersync sync all --full")
        else:
            print("\n".join(f"export {line}" for line in lines))
            print("next: partnersync migrate, then partnersync sync all --full")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return
