"""``python -m benchmarks leaderboard --format csv|json [--table runs|configs|ablations]``: the records as data.

Three tables, tidy, each column declared once in ``columns.EXPORTS`` with its one-line definition and its value
(``--columns`` prints them):
``runs``, one row per run record; ``configs`` (the default), one row per summarised configuration, as the tables
summarise it (n, mean, sd, 95% interval, time to accuracy with how many seeds reached it); ``ablations``, one row
per NiN ablation against nin under the same configuration (Welch's test). Numbers are plain numbers (accuracy as
a fraction, seconds, examples per second), floats rounded to 6 significant digits; an empty cell is a value that
is not there, and each table says which column tells why (status, n_ok, reason). timm's results CSVs and
pytest-benchmark's JSON are used this way: loaded beside others' in a notebook.
"""

from __future__ import annotations

import json

import pandas as pd

from benchmarks.report import summary as summary_io
from benchmarks.report.columns import EXPORTS
from benchmarks.report.columns import TABLES as LEADERBOARD_TABLES

TABLES = {name: columns for name, (columns, _) in EXPORTS.items()}


def _value(v):
    """A plain Python value (numpy's scalars unwrapped; floats to 6 significant digits), None where there is none."""
    v = v.item() if hasattr(v, "item") else v
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return None
    return float(f"{v:.6g}") if isinstance(v, float) else v


def row_dicts(groups: list[summary_io.Group], table: str = "configs") -> list[dict]:
    """The rows of ``table`` as dicts of plain Python values, in its columns' order: the JSON's rows, the CSV's."""
    columns, rows_of = EXPORTS[table]
    return [{name: _value(c.value(row)) for name, c in columns.items()} for row in rows_of(groups)]


def rows(groups: list[summary_io.Group], table: str = "configs") -> pd.DataFrame:
    frame = pd.DataFrame(row_dicts(groups, table), columns=list(TABLES[table]))
    for column in (name for name, c in TABLES[table].items() if c.count):  # counts stay integers where a row lacks one
        frame[column] = frame[column].astype("Int64")
    return frame


def to_csv(groups: list[summary_io.Group], table: str = "configs") -> str:
    return rows(groups, table).to_csv(index=False, lineterminator="\n")


def to_json(groups: list[summary_io.Group], table: str = "configs") -> str:
    return json.dumps(row_dicts(groups, table), indent=1) + "\n"


def columns_markdown() -> str:
    """Every export table's columns with their definitions, then the leaderboard's tables' (``leaderboard
    --columns``), as markdown."""
    lines = []
    for name, columns in TABLES.items():
        lines += [f"## --table {name}", "", "| column | what it holds |", "|---|---|"]
        lines += [f"| `{column}` | {c.definition} |" for column, c in columns.items()] + [""]
    for name, table in LEADERBOARD_TABLES.items():
        lines += [f"## the leaderboard's {name} table", "", "| column | what it holds |", "|---|---|"]
        lines += [f"| {c.header if isinstance(c.header, str) else key} | {c.definition} |"
                  for key, c in ((k, table.columns[k]) for k in table.shown)] + [""]  # fmt: skip
    return "\n".join(lines)
