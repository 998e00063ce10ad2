"""What a reader sees: the README's headline table first, rows that fit, plots that are linked, the summary as CSV
and JSON with the tables' numbers."""

import csv
import dataclasses
import io
import json
import re
from pathlib import Path

from benchmarks import cli
from benchmarks.report import leaderboard, summary
from benchmarks.schema import records
from tests.records_by_hand import ablation_set, make_record, standard_set, write

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_shows_the_headline_table_in_its_first_60_lines():
    lines = (ROOT / "README.md").read_text().splitlines()
    first_row = next(i for i, line in enumerate(lines) if line.startswith("| rank "))
    assert first_row < 60
    header = [c.strip() for c in lines[first_row].split("|")[1:-1]]
    assert len(header) <= 10 and "test acc (95% CI, n)" in header and "time to 0.85" in header


def test_no_table_row_is_wider_than_200_characters():
    for name in ("README.md", "results/LEADERBOARD.md"):
        wide = [line for line in (ROOT / name).read_text().splitlines() if line.startswith("|") and len(line) > 200]
        assert not wide, (name, wide[:1])


def test_every_plot_is_linked_and_every_link_resolves():
    links = set()
    for name in ("README.md", "results/LEADERBOARD.md"):
        path = ROOT / name
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", path.read_text()):
            assert (path.parent / target).is_file(), (name, target)
            links.add((path.parent / target).resolve())
    pictures = {p.resolve() for p in (ROOT / "results" / "plots").glob("*.png")}
    assert pictures and pictures == links


def test_one_machine_has_one_name_and_each_run_is_shown_once(tmp_path):
    """A schema-1 copy of a fingerprinted machine's run is that run: shown once, its machine under the new name."""
    config, record = make_record("lenet", 0, 0.80, 80_000.0, machine="cpu-x")
    write(tmp_path, config, record)
    legacy = dataclasses.replace(config, machine="legacy-cpu-x-2t")
    write(tmp_path, legacy, dataclasses.replace(record, config=legacy))
    other = dataclasses.replace(legacy, seed=1)  # a legacy run with no copy: kept, under the machine's name
    write(tmp_path, other, dataclasses.replace(record, config=other, epochs=record.epochs[:1]))
    (group,) = summary.groups(records.read_records(tmp_path))
    assert group.key.machine == "cpu-x" and group.aliases == ("legacy-cpu-x-2t",) and len(group.runs) == 2


def test_the_headline_prefers_a_gpu_and_gives_one_row_per_architecture(tmp_path):
    standard_set(tmp_path)  # on test-gpu
    for seed in range(3):  # a CPU group with more seeds: still second to the GPU's
        for arch in ("lenet", "nin", "nin-no-1x1", "alexnet"):
            config, record = make_record(arch, seed, 0.7, 1_000.0, machine="cpu-y", profile="cpu")
            config = dataclasses.replace(config, device="cpu")
            write(tmp_path, config, dataclasses.replace(record, config=config))
    groups = summary.groups(records.read_records(tmp_path))
    group, rows = summary.headline(groups)
    assert group.key.machine == "test-gpu"
    assert [s.arch for s in rows] == ["nin", "nin-no-1x1", "lenet"]  # by accuracy: 0.870, 0.860, 0.810
    block = leaderboard.readme_block(groups)
    assert "On **test-gpu**" in block and block.count("\n| ") == 4  # the header, the rule and... 3 rows in all
    nin = next(line for line in block.splitlines() if line.startswith("| ") and "| nin " in line)
    assert "0.870 ± 0.127 (n=2) ¹" in nin and "- ¹ not counted: 1 diverged (epoch 2)" in block


def recipe_runs(folder, arch, recipe, accs):
    """``arch``'s seeds under ``recipe`` ("d2l" or "fast"), one record per accuracy."""
    from benchmarks.schema.recipe import FAST

    for seed, acc in enumerate(accs):
        config, record = make_record(arch, seed, acc, 1_000.0)
        if recipe == "fast":
            config = dataclasses.replace(config, recipe=FAST.parts, optimizer=FAST.optimizer, lr=FAST.lr,
                                         batch_size=FAST.batch_size)  # fmt: skip
        write(folder, config, dataclasses.replace(record, config=config))


def test_the_headline_names_its_one_recipe_under_the_table_not_in_a_row(tmp_path):
    """LeNet and NiN also have d2l-recipe runs at chance in the group, so the group's tables must tell the two
    apart ("lenet (fast)"); the headline shows one row an entry, all of the fast recipe, which its text names: a row
    called "lenet (fast)" beside a plain "nin-no-1x1" would say that only some entries had the fast recipe."""
    for arch in ("lenet", "nin"):
        recipe_runs(tmp_path, arch, "d2l", [0.10, 0.10])
    for arch, accs in (("lenet", [0.89, 0.90]), ("nin", [0.86, 0.87]), ("nin-no-1x1", [0.88, 0.88])):
        recipe_runs(tmp_path, arch, "fast", accs)
    groups = summary.groups(records.read_records(tmp_path))
    _, rows = summary.headline(groups)
    assert [s.label for s in rows] == ["lenet", "nin-no-1x1", "nin"]
    block = leaderboard.readme_block(groups)
    assert "| lenet " in block and "(fast) " not in block.split("Recipe:")[0]
    assert "lenet (fast)" in leaderboard.render(groups).split("## Every machine")[1]  # the group's tables keep it


def test_a_headline_of_two_recipes_keeps_each_rows_recipe(tmp_path):
    recipe_runs(tmp_path, "lenet", "d2l", [0.10, 0.10])
    recipe_runs(tmp_path, "lenet", "fast", [0.89, 0.90])
    recipe_runs(tmp_path, "nin", "d2l", [0.86, 0.87])  # nin has only d2l's recipe here: the headline mixes two
    _, rows = summary.headline(summary.groups(records.read_records(tmp_path)))
    assert sorted(s.label for s in rows) == ["lenet (fast)", "nin"]


def export(tmp_path, capsys, fmt):
    assert cli.main(["leaderboard", "--runs", str(tmp_path), "--format", fmt]) == 0
    return capsys.readouterr().out


def test_csv_has_one_row_per_configuration_and_the_tables_numbers(tmp_path, capsys):
    ablation_set(tmp_path)
    for seed in range(2):
        write(tmp_path, *make_record("lenet", seed, 0.80, 80_000.0, profile="smoke"))
    out = export(tmp_path, capsys, "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    groups = summary.groups(records.read_records(tmp_path))
    assert len(rows) == sum(len(g.summary) for g in groups) == 4
    md = leaderboard.render(groups)
    for r in rows:
        if r["profile"] == "smoke":
            assert r["test_acc_mean"] == ""  # a check: no accuracy, as in the tables
            continue
        table_row = next(line for line in md.split("## Every machine")[1].splitlines()
                         if line.startswith(f"| {r['label']} ") and " px |" in line)  # fmt: skip
        assert f"{float(r['test_acc_mean']):.3f} ± {float(r['test_acc_ci95']):.3f} (n={r['n_counted']})" in table_row
        cost_row = [line for line in md.split("Cost:")[1].splitlines() if line.startswith(f"| {r['label']} ")][0]
        assert f"{float(r['train_examples_per_sec']):,.0f}" in cost_row and f"{int(r['params']):,}" in cost_row
        assert r["machine"] == "test-gpu" and r["config_id"] in {
            p.name.split("__")[3] for p in tmp_path.rglob("*.json")
        }


def test_json_is_the_same_rows(tmp_path, capsys):
    ablation_set(tmp_path)
    as_csv = list(csv.DictReader(io.StringIO(export(tmp_path, capsys, "csv"))))
    as_json = json.loads(export(tmp_path, capsys, "json"))
    assert [r["config_id"] for r in as_json] == [r["config_id"] for r in as_csv]
    assert [r["test_acc_mean"] for r in as_json] == [float(r["test_acc_mean"]) for r in as_csv]


def test_export_writes_no_file(tmp_path, capsys, monkeypatch):
    standard_set(tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    before = sorted(p for p in tmp_path.rglob("*"))
    export(tmp_path / "runs", capsys, "csv")
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_every_committed_record_carries_its_configurations_id_in_its_name():
    """One id per configuration: the file name's is the one the leaderboard shows (``upgrade_records`` renames)."""
    runs = ROOT / "results" / "runs"
    found = sorted(runs.rglob("*.json"))
    assert found
    for path in found:
        record, problem = records.read_record(path)
        assert problem is None and str(path.relative_to(runs)) == record.config.file_name()


def test_upgrade_records_gives_a_record_its_name_of_today(tmp_path):
    from benchmarks import upgrade_records

    config, record = make_record("lenet", 0, 0.8, 1000.0)
    old = tmp_path / config.machine / "lenet__full__bf16__0123456789__seed0.json"  # an id from an older version
    records.write_record(old, record)
    assert upgrade_records.upgrade(tmp_path) == 1
    assert not old.exists() and (tmp_path / config.file_name()).read_text() == records.to_json(record)
    assert upgrade_records.upgrade(tmp_path) == 0  # once


def test_upgrade_records_keeps_each_record_in_the_records_folder_it_is_in(tmp_path):
    """An ablation's arms are records folders inside one folder: upgrading that folder leaves every arm's records
    in their arm (it once moved them all into one machine folder at the top)."""
    from benchmarks import upgrade_records

    config, record = make_record("lenet", 0, 0.8, 1000.0)
    arms = [tmp_path / "A-today", tmp_path / "B-other"]
    for arm in arms:
        records.write_record(arm / config.machine / "lenet__full__bf16__0123456789__seed0.json", record)
    assert upgrade_records.upgrade(tmp_path) == 2
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json")) == sorted(
        f"{arm.name}/{config.file_name()}" for arm in arms
    )


def test_a_leaderboard_of_other_records_writes_beside_them_and_leaves_every_committed_file_as_it_was(tmp_path):
    """The suite's last line suggests `leaderboard --runs DIR`: run from a checkout, it must not touch results/
    or the README (it once rewrote both from 3 records and deleted the committed plots)."""
    import hashlib
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    checkout = tmp_path / "checkout"
    shutil.copytree(root / "results", checkout / "results")
    shutil.copy(root / "README.md", checkout / "README.md")

    def digest():
        return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(checkout.rglob("*")) if p.is_file()}

    before = digest()
    other = tmp_path / "x" / "runs"
    learned = [p for p in sorted((root / "results" / "runs").rglob("lenet__cpu__*.json"))
               if json.loads(p.read_text())["config"]["recipe"]["name"] == "fast"]  # fmt: skip
    for path in learned[:3]:
        target = other / path.relative_to(root / "results" / "runs")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    for argv in (["leaderboard", "--runs", str(other)], ["plots", "--runs", str(other)]):
        done = subprocess.run([sys.executable, "-m", "benchmarks", *argv], cwd=checkout, env=env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert digest() == before
    assert (tmp_path / "x" / "LEADERBOARD.md").is_file() and list((tmp_path / "x" / "plots").glob("*.png"))
    abbreviated = subprocess.run([sys.executable, "-m", "benchmarks", "run", "--profil", "smoke"], cwd=checkout,
                                 env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert abbreviated.returncode == 2 and "did you mean --profile?" in abbreviated.stderr


def test_help_shows_each_default_once_and_describe_exports_its_table(capsys):
    import io
    import json

    import pandas as pd
    import pytest

    from benchmarks import cli

    for argv, expected in ((["leaderboard", "--help"], "(default: markdown)"), (["describe", "--help"], "default: fp32"),
                           (["gpu-check", "--help"], "(default 8)")):  # fmt: skip
        with pytest.raises(SystemExit):
            cli.main(argv)
        text = " ".join(capsys.readouterr().out.split())
        assert expected in text and "(default: None)" not in text and "default: default" not in text
    assert cli.main(["describe", "lenet", "--no-measure", "--format", "csv"]) == 0
    layers = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert int(layers.params.sum()) == 61_706  # LeNet-5's parameters, as d2l counts them
    assert cli.main(["describe", "lenet", "--no-measure", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["layers"]) == len(layers)


def test_a_pandas_round_trip_of_the_runs_csv_gives_the_headlines_means_and_intervals(capsys):
    """The committed records exported one row a run, summarised again by pandas and scipy alone (mean and the
    Student-t 95% half width over the counted runs) give the README headline's figures to its printed precision.
    A row is found as a reader finds it: its entry, and the recipe the text under the table names (or the row's
    own, where the headline has two)."""
    import re
    from pathlib import Path

    import pandas as pd
    from scipy import stats as scipy_stats

    root = Path(__file__).resolve().parents[1]
    assert (
        cli.main(["leaderboard", "--runs", str(root / "results" / "runs"), "--format", "csv", "--table", "runs"]) == 0
    )
    runs = pd.read_csv(io.StringIO(capsys.readouterr().out))
    readme = (root / "README.md").read_text()
    machine, profile, precision = re.search(r"On \*\*(\S+)\*\* \(.*?\), profile `(\w+)`, (\w+),", readme).groups()
    mine = runs[(runs.machine == machine) & (runs.profile == profile) & (runs.precision == precision) & runs.counted]
    block = readme.split("<!-- leaderboard:start")[1].split("<!-- leaderboard:end")[0]
    rows = [line for line in block.splitlines() if re.match(r"\| (rank|=?\d)", line)]
    named = re.findall(r"Recipe: ([\w\[\]=.,]+)\s+\(batch", block)
    assert len(rows) >= 9
    for line in rows[1:]:  # the header first
        cells = [c.strip() for c in line.strip("|").split("|")]
        label = re.sub(r"[\u00b9\u00b2\u00b3\u2070-\u2079 ]+$", "", cells[1])  # after the rank
        arch, _, tag = label.partition(" (")
        recipe = tag.rstrip(")") if tag else named[0]
        mean, half, n = re.search(r"([0-9.]+) ± ([0-9.]+) \(n=(\d+)\)", line).groups()
        accs = mine[(mine.arch == arch) & (mine.recipe == recipe)].test_acc
        assert len(accs) == int(n), label
        t = scipy_stats.t.ppf(0.975, len(accs) - 1) * accs.std(ddof=1) / len(accs) ** 0.5
        assert (f"{accs.mean():.3f}", f"{t:.3f}") == (mean, half), label


def test_each_export_table_has_its_documented_columns_and_an_ablation_table_of_its_own(tmp_path, capsys):
    from benchmarks.report import export as export_module

    ablation_set(tmp_path)
    for table, columns in export_module.TABLES.items():
        assert cli.main(["leaderboard", "--runs", str(tmp_path), "--format", "csv", "--table", table]) == 0
        header = capsys.readouterr().out.splitlines()[0].split(",")
        assert header == list(columns) and all(columns[c] for c in header)
    assert cli.main(["leaderboard", "--runs", str(tmp_path), "--format", "json", "--table", "ablations"]) == 0
    tests = json.loads(capsys.readouterr().out)
    assert {t["ablation"] for t in tests} >= {"nin-no-1x1"} and all("acc_p" in t for t in tests)
    assert cli.main(["leaderboard", "--columns"]) == 0
    text = capsys.readouterr().out
    assert all(f"## --table {t}" in text for t in export_module.TABLES) and "`time_to_0_90_reached`" in text
    assert cli.main(["leaderboard", "--runs", str(tmp_path), "--table", "runs"]) == 2  # a table is an export's


def test_the_findings_rank_ties_as_ties_and_say_which_ablation_differs_and_which_way(tmp_path):
    """Three entries: a and b far apart (a significant difference), c too spread to be told from either. Ranks: 1 +
    the entries significantly more accurate; the words name the tie and the direction of each ablation's test."""
    from benchmarks.report import findings

    accs = {"lenet": (0.80, 0.81, 0.82), "alexnet": (0.60, 0.61, 0.62), "nin": (0.30, 0.70, 0.95),
            "nin-no-1x1": (0.31, 0.71, 0.96)}  # fmt: skip
    for arch, values in accs.items():
        for seed, acc in enumerate(values):
            write(tmp_path, *make_record(arch, seed, acc, 1_000.0))
    groups = summary.groups(records.read_records(tmp_path))
    group, rows = summary.headline(groups)
    shown = {s.arch: rank for rank, s in findings.ranked(rows)}
    assert shown["lenet"] == "=1" and shown["nin"] == "=1" and shown["alexnet"] == "2"
    text = "\n".join(findings.sentences(group, rows))
    assert "Tied at the top" in text and "Rank 2 (each significantly below 1 entry): alexnet 0.610" in text
    assert "Not told apart from nin in accuracy" in text and "nin-no-1x1 +1.0" in text
    # the detectable difference, by its formula: (t(0.975, 4) + t(0.8, 4)) x sqrt(s1^2/3 + s2^2/3)
    import statistics as st

    from scipy import stats as scipy_stats

    se = (st.variance(accs["nin"]) / 3 + st.variance(accs["nin-no-1x1"]) / 3) ** 0.5
    mdd = (scipy_stats.t.ppf(0.975, 4) + scipy_stats.t.ppf(0.8, 4)) * se
    assert f"detectable from {mdd * 100:.0f}" in text


READS_ONLY = {"list", "leaderboard", "compare", "describe"}  # run in the clone; the others are parsed only


def test_every_command_the_readme_shows_runs_in_a_clone_and_leaves_its_committed_files_as_they_were(tmp_path):
    """Each `python -m benchmarks ...` line of the README's code blocks: those that read (and the documented
    regeneration, which regenerates the committed files byte for byte) run in a fresh clone, which `git status`
    then finds unchanged; those that train or need a GPU parse as the CLI's own. `gpu-check --dry-run` and
    `--prepare` run too (the latter writes the ignored .data/ only)."""
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    from benchmarks.cli import build_parser

    root = Path(__file__).resolve().parents[1]
    if subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD~5"], capture_output=True).returncode:
        import pytest

        pytest.skip("needs the repository's history (a clone deeper than 5 commits)")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    readme = (root / "README.md").read_text()
    commands = [line.split("#")[0].strip() for block in readme.split("```bash")[1:]
                for line in block.split("```")[0].splitlines() if line.startswith("python -m benchmarks ")]  # fmt: skip
    assert len(commands) >= 10
    for command in commands:
        words = shlex.split(command.replace("$OUT", str(tmp_path / "out")))[3:]
        build_parser(words).parse_args(words)  # a flag the CLI does not take would exit 2 here
        runs = words[0] in READS_ONLY or "--dry-run" in words or "--prepare" in words
        if runs:
            done = subprocess.run([sys.executable, "-m", "benchmarks", *words], cwd=clone, capture_output=True,
                                  text=True, timeout=600)  # fmt: skip
            assert done.returncode == 0, (command, done.stderr[-2000:])
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout
    assert status == "", status
