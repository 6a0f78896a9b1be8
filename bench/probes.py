"""What a measured run yields, for the measuring and the report's tables alike: the request
measured (``Case``), its result with what the processes' metrics gained (``Probe``), and the
list probes at one seeded size (``Sized``)."""

from dataclasses import dataclass, field

from bench import cpu
from bench.analysis import ServerSide, SqlPerRequest, server_side, sql_per_request
from bench.load import Result
from bench.prom import Snapshot
from bench.seed import Growth


@dataclass(frozen=True)
class Case:
    label: str
    path: str
    service: str
    """The process whose handler answers the command of ``queue``."""
    queue: str
    method: str = "GET"
    body: bytes = b""
    expect: int = 200
    settle: float = 0.2
    """Seconds to let the work a request set off finish, before and after the measured run."""


@dataclass(frozen=True)
class Probe:
    case: Case
    concurrency: int
    result: Result
    deltas: dict[str, Snapshot]
    """What each process's metrics gained during the measured run."""
    cpu: dict[str, float] = field(default_factory=dict)
    """Milliseconds of CPU per request, by process (``bench.cpu``)."""

    @property
    def system_cpu(self) -> float:
        """Milliseconds of CPU per request of every process but the load generator."""
        return cpu.system(self.cpu)

    @property
    def p50(self) -> float:
        return self.result.percentile(50)

    @property
    def p99(self) -> float:
        return self.result.percentile(99)

    @property
    def sql(self) -> list[SqlPerRequest]:
        return sql_per_request(self.deltas, len(self.result.latencies))

    @property
    def server(self) -> ServerSide:
        return server_side(self.deltas, self.case.service, self.case.queue)


@dataclass(frozen=True)
class Sized:
    growth: Growth
    probes: list[Probe]
