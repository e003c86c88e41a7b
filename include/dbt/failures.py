"""What failed in a dbt run, in one line an on-call engineer can act on: which model or test, and why.

dbt's exit code says only that something failed; its console output ends with a summary ("Completed with
N errors ...") holding, per failed node, a header (``Failure in model station_features_wide (models/...)``,
``Database Error in model ...``, ``Failure in test not_null_... (models/...)``) and the cause below it. This
module reads that summary (ANSI colours and the log timestamps stripped) so the task's exception, and with
it the alert, names the node and the cause; a BigQuery job that ran past ``job_execution_timeout_seconds``
is called a time-out, with the setting that sizes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STAMP = re.compile(r"^\d{2}:\d{2}:\d{2}(?:\s{1,2}|$)")
_HEADER = re.compile(
    r"^(?P<what>[A-Za-z ]*?(?:Failure|Error|Warning)) in (?P<resource>model|test|seed|snapshot|unit_test|source|"
    r"sql_operation|operation) (?P<name>\S+)(?: \((?P<path>[^)]*)\))?"
)
_SUMMARY = re.compile(r"^Completed with \d+ errors?")
_TIMEOUT = re.compile(r"did not complete within the designated timeout of (?P<s>[\d.]+) seconds|timed? ?out", re.I)
TIMEOUT_SETTING = "BIKESHARE_DBT_JOB_TIMEOUT_SECONDS"


@dataclass(frozen=True)
class NodeFailure:
    """One failed node of a dbt run: ``resource`` (model, test, …), its name and path, and the cause."""

    resource: str
    name: str
    path: str
    cause: str

    @property
    def timed_out(self) -> bool:
        return bool(_TIMEOUT.search(self.cause))

    def describe(self) -> str:
        cause = self.cause
        if self.timed_out:
            cause = f"a BigQuery job time-out ({cause}; raise {TIMEOUT_SETTING} if the warehouse is just slow)"
        return f"{self.resource} {self.name}: {cause}"


def _clean(line: str) -> str:
    return _STAMP.sub("", _ANSI.sub("", line)).rstrip()


def failures(output: str | Iterable[str]) -> list[NodeFailure]:
    """The failed nodes of dbt's final summary in ``output`` (the console text, or its lines)."""
    lines = [_clean(line) for line in (output.splitlines() if isinstance(output, str) else output)]
    start = next((i for i, line in enumerate(lines) if _SUMMARY.match(line.strip())), None)
    if start is None:
        return []
    found: list[NodeFailure] = []
    header: re.Match[str] | None = None
    cause: list[str] = []

    def close() -> None:
        if header is None:
            return
        kinds = [m["what"] for m in map(_HEADER.match, cause) if m]  # dbt repeats the header with the error kind
        text = " ".join(c for c in cause if c and not _HEADER.match(c))
        kind = kinds[0] if kinds else header["what"]
        found.append(
            NodeFailure(header["resource"], header["name"], header["path"] or "", f"{kind}: {text}" if text else kind)
        )

    for raw in lines[start + 1 :]:
        line = raw.strip()
        if line.startswith("Done. PASS="):
            break
        match = _HEADER.match(line)
        if match and raw == line:  # a header starts at the margin; the causes below it are indented
            close()
            header, cause = match, []
        elif match and header is None:
            header, cause = match, []
        elif header is not None and line and not line.startswith((">", "compiled code at")):  # the call stack
            cause.append(line)
    close()
    return found


def summary(output: str | Iterable[str], exit_code: int) -> str:
    """One line for the exception and the alert: every failed node and its cause, or the exit code alone."""
    found = failures(output)
    if not found:
        return f"dbt exited with code {exit_code} and named no failed model or test (see the task log)"
    listed = "; ".join(f.describe() for f in found[:5])
    more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
    return f"dbt failed on {len(found)} node(s): {listed}{more}"
