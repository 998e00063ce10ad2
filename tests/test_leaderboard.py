import re

import pytest

from benchmarks import cli, leaderboard, records
from tests.records_by_hand import make_record, standard_set, write


def render_from(folder):
    return leaderboard.leaderboard_markdown(records.read_records(folder), "runs")


def row_of(markdown, arch):
    return next(line for line in markdown.splitlines() if line.startswith(f"| {arch} "))


def test_table_shows_mean_std_and_n(tmp_path):
    standard_set(tmp_path)
    md = render_from(tmp_path)
    assert "0.810 ± 0.010 (n=3)" in row_of(md, "lenet")  # 0.80, 0.81, 0.82
    assert "80,000" in row_of(md, "lenet")
    assert "61,706" in row_of(md, "lenet")
    assert "0.779–0.824" in row_of(md, "lenet") and "within" in row_of(md, "lenet")


def test_failed_runs_show_as_what_they_are(tmp_path):
    standard_set(tmp_path)
    nin = row_of(render_from(tmp_path), "nin")
    assert "0.870 ± 0.014 (n=2); 1 diverged (epoch 2)" in nin  # the diverged 0.1 is not averaged in
    write(tmp_path, *make_record("lenet", 0, 0.0, 1.0, status="oom", profile="smoke"))
    smoke = render_from(tmp_path).split("profile `smoke`")[1]
    assert re.search(r"\| lenet .*\| oom ", smoke)


def test_nin_ablation_table(tmp_path):
    standard_set(tmp_path)
    md = render_from(tmp_path)
    ablation = md.split("NiN ablations")[1]
    row = row_of(ablation, "nin-no-1x1")
    assert "-446,108" in row  # 1,546,058 - 1,992,166
    assert "-1.0 pp" in row  # 0.860 against 0.870
    assert "1.33x" in row  # 40,000 / 30,000


def test_groups_by_device(tmp_path):
    write(tmp_path / "a", *make_record("lenet", 0, 0.8, 1.0, device_name="GPU A"))
    write(tmp_path / "b", *make_record("lenet", 0, 0.7, 1.0, device_name="GPU B"))
    md = render_from(tmp_path)
    assert md.index("### GPU A") < md.index("### GPU B")
    assert md.count("| lenet ") == 2


def test_regeneration_is_byte_identical(tmp_path):
    standard_set(tmp_path / "runs")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{leaderboard.README_START}\nold\n{leaderboard.README_END}\nafter\n")

    argv = ["leaderboard", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "results" / "LEADERBOARD.md"),
            "--readme", str(readme)]  # fmt: skip
    args = cli.build_parser().parse_args(argv)
    leaderboard.main(args)
    board = tmp_path / "results" / "LEADERBOARD.md"
    pictures = sorted((tmp_path / "results" / "plots").glob("*.png"))
    assert len(pictures) == 3  # accuracy against throughput, learning curves, NiN ablations
    first, first_readme = board.read_bytes(), readme.read_bytes()
    first_pictures = [p.read_bytes() for p in pictures]
    leaderboard.main(args)
    assert board.read_bytes() == first
    assert readme.read_bytes() == first_readme
    assert [p.read_bytes() for p in pictures] == first_pictures
    for p in pictures:  # linked from both, relative to each file
        assert f"](plots/{p.name})" in first.decode()
        assert f"](results/plots/{p.name})" in first_readme.decode()
    text = first_readme.decode()
    assert text.startswith("# x\n\nbefore\n") and text.endswith("after\n") and "old" not in text
    assert "0.810 ± 0.010 (n=3)" in text


def test_malformed_record_is_skipped_with_a_warning_naming_it(tmp_path, capsys):
    standard_set(tmp_path)
    (tmp_path / "broken.json").write_text('{"arch": "lenet", ')
    (tmp_path / "wrong.json").write_text('{"arch": "lenet"}')
    warnings = []
    found = records.read_records(tmp_path, warn=warnings.append)
    assert len(found) == 8
    assert any("broken.json" in w for w in warnings) and any("wrong.json" in w for w in warnings)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda r: r.pop("status"),
        lambda r: r.update(status="great"),
        lambda r: r.update(final=None),
        lambda r: r["final"].update(test_acc=87.0),
        lambda r: r.update(params="many"),
    ],
)
def test_validation_rejects(mangle):
    _, record = make_record("lenet", 0, 0.8, 1.0)
    assert records.validate(record) is None
    mangle(record)
    assert records.validate(record) is not None


def test_no_records_still_renders():
    assert "No run records yet" in leaderboard.render([])
