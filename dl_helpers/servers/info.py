"""What a started server is (``ServerInfo``), and how a Spark task finds its executor's server.

Plain data, pickled into every task's closure: clients of every kind use it to find their
server, check it is still running and name it (executor, URL, log tail) when something fails.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from dl_helpers.servers.errors import ServerError
from dl_helpers.servers.processes import LOG_TAIL_LINES, alive, executor_identity, log_tail


@dataclasses.dataclass(frozen=True)
class ServerInfo:
    """Where one executor's server listens, and how to reach and check it."""

    executor: str  # ExecutorIdentity.key
    executor_name: str  # for messages: "executor 1 on host (JVM pid ...)"
    host: str
    pid: int
    pid_start: float
    protocol: str
    address: str
    port: int
    models: tuple[str, ...]
    log_path: str
    run_dir: str
    token: str | None = dataclasses.field(default=None, repr=False)
    kind: str = "Triton"  # the kind's display name, for messages

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.protocol}://{host}:{self.port}"

    def is_alive(self) -> bool:
        return alive(self.pid, self.pid_start)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return log_tail(self.log_path, lines)

    def failure(self, what: str, model: str, cause: BaseException | None = None) -> ServerError:
        """An error naming this server, its state and log tail (and the cause, if any)."""
        state = "running" if self.is_alive() else "NOT running"
        return ServerError(
            f"{self.kind} server for {self.executor_name} at {self.url} (model {model!r}): "
            f"{what}. Server process {self.pid} is {state}.\n--- server log {self.log_path} "
            f"(last lines) ---\n{self.log_tail()}"
            + (f"\n--- cause ---\n{type(cause).__name__}: {cause}" if cause else "")
        )

    def check_model(self, model: str) -> None:
        """Fail at once if this server does not serve ``model`` (it said which it has)."""
        if model not in self.models:
            raise ServerError(
                f"{self.kind} server for {self.executor_name} at {self.url} has no model "
                f"{model!r}; it serves {list(self.models)}"
            )


def server_for_this_executor(table: Mapping[str, ServerInfo], kind: str) -> ServerInfo:
    """The server of the executor this Spark task runs on (from ``{executor key: ServerInfo}``)."""
    ident = executor_identity()
    info = table.get(ident.key)
    if info is None:
        raise ServerError(
            f"no {kind} server for {ident.describe()} (key {ident.key}); servers were started "
            f"for: {[s.executor_name for s in table.values()]}. Executors added after "
            "start() (dynamic allocation, a replaced executor) have none: restart the manager."
        )
    return info
