"""Two sets of records side by side (``python -m benchmarks compare A B``): per configuration both hold, both
figures and their ratio, each difference judged against what the records can tell apart.

- Accuracy: B's mean minus A's, with Welch's 95% interval, where each side has at least two learned seeds; it
  "differs" when the interval leaves out zero. With fewer seeds no verdict is given, only the figures.
- Throughput: B's mean over A's. The noise is what the records measured: the larger of the two sides' relative
  standard deviations over seeds. A ratio further from 1 than ``NOISE_SIGMAS`` times that noise is flagged; with
  one seed a side the noise is unknown and nothing is flagged.

Configurations are matched on the recipe and budget, the compute path (precision, memory format, compilation,
optimizer step: ``summary.SAME_CONFIG``), profile and data, and on the machine unless each side holds one machine
and they differ. A bf16 run against an fp32 one is no throughput change: with ``across_compute_paths`` (the
command's ``--across-compute-paths``) the compute path is left out of the match, and the label says both
precisions. When nothing matches, ``why_nothing_matches`` says what differs. Where one side holds one machine and the other several, the
other's records of that machine are compared (a machine against an older commit of its records).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from benchmarks.report import stats
from benchmarks.report import summary as summary_io

NOISE_SIGMAS = 2.0  # a throughput ratio beyond 2 standard deviations of the run-to-run noise is flagged


@dataclass(frozen=True)
class Row:
    key: tuple
    label: str
    a: object  # the summary row of each side
    b: object

    @property
    def accuracy(self) -> stats.Difference | None:
        if self.a.n_learned < 2 or self.b.n_learned < 2:
            return None
        return stats.welch(self.b.accs, self.a.accs)

    @property
    def ratio(self) -> float | None:
        return self.b.train_eps / self.a.train_eps if self.a.train_eps and self.b.train_eps else None

    @property
    def noise(self) -> float | None:
        """The larger relative standard deviation of the two sides' throughputs over seeds; None with one seed."""
        spreads = [s.train_eps_std / s.train_eps for s in (self.a, self.b)
                   if s.train_eps_std is not None and pd.notna(s.train_eps_std) and s.train_eps]  # fmt: skip
        return max(spreads) if len(spreads) == 2 else None

    @property
    def accuracy_differs(self) -> bool:
        d = self.accuracy
        return d is not None and (d.low > 0 or d.high < 0)

    @property
    def throughput_differs(self) -> bool:
        return self.ratio is not None and self.noise is not None and abs(self.ratio - 1) > NOISE_SIGMAS * self.noise


def _keyed(groups: list[summary_io.Group], same_machine: bool, fields: list[str]) -> dict[tuple, tuple[str, object]]:
    out = {}
    for g in groups:
        for s in g.summary.itertuples():
            where = (g.key.machine,) if same_machine else ()
            key = where + (g.key.profile, g.key.data, s.arch, summary_io.config_key(s, fields))
            out[key] = (f"{s.label} · {g.key.profile} · {g.key.precision}", s)
    return out


def _narrowed(a: list[summary_io.Group], b: list[summary_io.Group]):
    """Where one side holds one machine and the other holds it among others, the other's records of it alone."""
    machines_a, machines_b = {g.key.machine for g in a}, {g.key.machine for g in b}
    if len(machines_a) == 1 and len(machines_b) > 1 and machines_a <= machines_b:
        b = [g for g in b if g.key.machine in machines_a]
    elif len(machines_b) == 1 and len(machines_a) > 1 and machines_b <= machines_a:
        a = [g for g in a if g.key.machine in machines_b]
    return a, b


def pair(a: list[summary_io.Group], b: list[summary_io.Group],
         across_compute_paths: bool = False) -> tuple[list[Row], list[str], list[str]]:  # fmt: skip
    """The configurations both sides hold, and the labels of those only A or only B holds."""
    a, b = _narrowed(a, b)
    machines_a, machines_b = {g.key.machine for g in a}, {g.key.machine for g in b}
    same_machine = not (len(machines_a) == 1 and len(machines_b) == 1 and machines_a != machines_b)
    fields = summary_io.RECIPE if across_compute_paths else summary_io.SAME_CONFIG
    ka, kb = _keyed(a, same_machine, fields), _keyed(b, same_machine, fields)
    both_precisions = not same_machine or across_compute_paths
    label = {
        k: f"{ka[k][0]} / {kb[k][0].rsplit(' · ', 1)[1]}" if both_precisions else ka[k][0]
        for k in ka.keys() & kb.keys()
    }
    rows = [Row(k, label[k], ka[k][1], kb[k][1]) for k in sorted(ka.keys() & kb.keys(), key=str)]
    return rows, sorted(ka[k][0] for k in ka.keys() - kb.keys()), sorted(kb[k][0] for k in kb.keys() - ka.keys())


def _acc(s) -> str:
    return s.acc.text() if s.acc else "no learned seed"


def table(rows: list[Row]) -> str:
    out = []
    for r in rows:
        d = r.accuracy
        out.append({
            "configuration": r.label, "A test acc": _acc(r.a), "B test acc": _acc(r.b),
            "B − A (95% CI)": (f"{d.difference * 100:+.1f} pp [{d.low * 100:+.1f}, {d.high * 100:+.1f}]" if d
                               else "needs 2 learned seeds a side"),
            "accuracy": "**differs**" if r.accuracy_differs else ("same within CI" if d else ""),
            "A examples/s": f"{r.a.train_eps:,.0f}" if r.a.train_eps else "",
            "B examples/s": f"{r.b.train_eps:,.0f}" if r.b.train_eps else "",
            "B / A": f"{r.ratio:.2f}x" if r.ratio else "",
            "noise": f"±{r.noise:.0%}" if r.noise is not None else "unknown (1 seed)",
            "throughput": "**differs**" if r.throughput_differs else ("within noise" if r.noise is not None else ""),
        })  # fmt: skip
    return pd.DataFrame(out).to_markdown(index=False, disable_numparse=True)


def why_nothing_matches(a: list[summary_io.Group], b: list[summary_io.Group], across_compute_paths: bool) -> str:
    """One line: why two non-empty sides share no configuration."""

    def paths(groups):
        return ", ".join(sorted({f"{g.key.profile} {g.key.precision}" for g in groups}))

    if not across_compute_paths and pair(a, b, across_compute_paths=True)[0]:
        return (f"they match in recipe and budget but not in compute path (A: {paths(a)}; B: {paths(b)}): a ratio "
                "would measure the precision, not a change; --across-compute-paths compares them anyway")  # fmt: skip
    return f"they share no entry trained on the same recipe, budget and data (A: {paths(a)}; B: {paths(b)})"


def report(a_name: str, b_name: str, a: list[summary_io.Group], b: list[summary_io.Group],
           across_compute_paths: bool = False) -> tuple[str, int]:  # fmt: skip
    """The comparison as text, and the number of configurations both sides hold."""
    rows, only_a, only_b = pair(a, b, across_compute_paths)
    changed = [r for r in rows if r.accuracy_differs or r.throughput_differs]
    machines = lambda groups: ", ".join(sorted({g.key.machine for g in groups})) or "no records"  # noqa: E731
    lines = [f"A: {a_name} ({machines(a)})", f"B: {b_name} ({machines(b)})", ""]
    if rows:
        lines += [table(rows), ""]
    lines.append(f"{len(rows)} configuration(s) in both, {len(changed)} changed"
                 + (": " + ", ".join(r.label for r in changed) if changed else "") + ".")  # fmt: skip
    if not rows and a and b:
        lines.append(f"Nothing to compare: {why_nothing_matches(a, b, across_compute_paths)}.")
    for name, only in (("A", only_a), ("B", only_b)):
        if only:
            lines.append(f"only in {name}: {', '.join(only)}")
    return "\n".join(lines) + "\n", len(rows)
