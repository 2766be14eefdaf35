"""wrk as the benchmark client: one generated Lua script per run, results as JSON.

The script's `done` hook prints one `BENCHJSON {...}` line with the latency percentiles
and the count of every status code (wrk itself only counts "non-2xx or 3xx"). With
`limit`, every wrk thread stops after that many responses and says so on stderr; once
all have, we interrupt wrk (SIGINT ends its run early), so a run sends an exact number
of requests: `threads == connections` keeps one request in flight per thread.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

DONE_MARK = "SAVBENCH_THREAD_DONE"
RESULT_MARK = "BENCHJSON "
# Requests slower than wrk's timeout are left out of its latency histogram: keep them in.
TIMEOUT = "120s"

LUA = """
local paths = {%(paths)s}
local limit = %(limit)d
wrk.method = %(method)s
%(body)s
%(headers)s
local threads = {}
function setup(thread) table.insert(threads, thread) end
codes = {}
local count = 0
local i = 0
if #paths > 0 then
  request = function()
    i = i %% #paths + 1
    return wrk.format(nil, paths[i])
  end
end
function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
  count = count + 1
  if limit > 0 and count == limit then
    io.stderr:write("%(done)s\\n")
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("codes")) do all[code] = (all[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(all) do table.insert(parts, string.format('"%%d":%%d', code, n)) end
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"mean_us":%%f,"p50_us":%%d,"p90_us":%%d,' ..
    '"p99_us":%%d,"socket_errors":%%d,"codes":{%%s}}\\n',
    summary.requests, summary.duration, latency.mean, latency:percentile(50),
    latency:percentile(90), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, table.concat(parts, ",")))
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    socket_errors: int
    codes: dict[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return sum(n for code, n in self.codes.items() if 200 <= code < 300)

    @property
    def rate(self) -> float:
        """Successful (2xx) responses per second."""
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.codes.items() if code >= 500)

    @property
    def other_codes(self) -> dict[int, int]:
        return {code: n for code, n in sorted(self.codes.items()) if not 200 <= code < 300}


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Lua string literal


def lua_script(method: str, body: str | None, headers: dict[str, str], paths: Sequence[str],
               limit: int) -> str:
    return LUA % {
        "paths": ", ".join(lua_string(p) for p in paths),
        "limit": limit,
        "method": lua_string(method),
        "body": f"wrk.body = {lua_string(body)}" if body is not None else "",
        "headers": "\n".join(f"wrk.headers[{lua_string(k)}] = {lua_string(v)}"
                             for k, v in headers.items()),
        "done": DONE_MARK,
        "mark": RESULT_MARK,
    }


def parse_result(stdout: str) -> WrkResult:
    for line in stdout.splitlines():
        if line.startswith(RESULT_MARK):
            data = json.loads(line[len(RESULT_MARK):])
            return WrkResult(
                requests=data["requests"], seconds=data["duration_us"] / 1e6,
                p50_ms=data["p50_us"] / 1e3, p90_ms=data["p90_us"] / 1e3,
                p99_ms=data["p99_us"] / 1e3, socket_errors=data["socket_errors"],
                codes={int(k): v for k, v in data["codes"].items()})
    raise RuntimeError(f"no result in wrk output:\n{stdout}")


@dataclass
class Wrk:
    """Runs wrk, optionally pinned to some CPUs with taskset."""

    cpus: str | None = None

    def command(self, threads: int, connections: int, seconds: float, script: Path,
                url: str) -> list[str]:
        wrk = shutil.which("wrk")
        if wrk is None:
            raise RuntimeError("wrk is not installed (apt-get install wrk)")
        prefix = ["taskset", "-c", self.cpus] if self.cpus else []
        return [*prefix, wrk, "-t", str(threads), "-c", str(connections),
                "-d", f"{max(1, round(seconds))}s", "--timeout", TIMEOUT, "--latency",
                "-s", str(script), url]

    def run(self, url: str, *, connections: int, seconds: float = 10.0, method: str = "GET",
            body: str | None = None, headers: dict[str, str] | None = None,
            paths: Sequence[str] = (), threads: int | None = None) -> WrkResult:
        """Keep `connections` requests in flight for `seconds`."""
        threads = threads or 1
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "bench.lua"
            script.write_text(lua_script(method, body, headers or {}, paths, 0))
            done = subprocess.run(self.command(threads, connections, seconds, script, url),
                                  capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
        return parse_result(done.stdout)

    def run_count(self, url: str, *, connections: int, per_connection: int,
                  method: str = "GET", body: str | None = None,
                  headers: dict[str, str] | None = None, max_seconds: float = 3600
                  ) -> WrkResult:
        """Send exactly `connections * per_connection` requests, `connections` at a time."""
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "bench.lua"
            script.write_text(lua_script(method, body, headers or {}, (), per_connection))
            process = subprocess.Popen(
                self.command(connections, connections, max_seconds, script, url),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            errors: list[str] = []
            watcher = threading.Thread(target=_interrupt_when_done,
                                       args=(process, connections, errors), daemon=True)
            watcher.start()
            assert process.stdout is not None
            stdout = process.stdout.read()  # not communicate(): the watcher reads stderr
            process.wait()
            watcher.join(timeout=5)
        if process.returncode != 0:
            raise RuntimeError(f"wrk failed ({process.returncode}): {''.join(errors)}")
        return parse_result(stdout)


def _interrupt_when_done(process: subprocess.Popen[str], threads: int,
                         errors: list[str]) -> None:
    assert process.stderr is not None
    finished = 0
    for line in process.stderr:
        if line.strip() == DONE_MARK:
            finished += 1
            if finished == threads:
                process.send_signal(signal.SIGINT)
        else:
            errors.append(line)
