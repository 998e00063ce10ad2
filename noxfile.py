"""Sessions: ``nox -s tests``, ``nox -s bench -- [runner arguments]``, ``nox -s perf``, ``nox -s leaderboard``,
``nox -s lint``.

Each session makes its own virtualenv with pip. Torch is installed first, pinned by ``$CNN_BENCH_TORCH``
(default ``torch==2.13.0``, a CPU build where the pip config provides one), or by the test build; then the other
dependencies, read from pyproject.toml, less its own torch requirement (the pin is the torch under test: the GPU
slot's build pins 2.11, below the project's lowest for everything else), and the session checks that the torch it
imports is the pinned one. On a machine whose Python already has a CUDA torch, run
``nox --no-venv -s bench``: nothing is installed and that Python is used as it is.
"""

import os
import re
import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2024.3.2"  # nox.project.load_toml and @nox.session(default=...)
nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "venv"  # pip, which finds the machine's local torch build; uv does not

PROJECT = nox.project.load_toml("pyproject.toml")["project"]
TORCH = os.environ.get("CNN_BENCH_TORCH", "torch==2.13.0")
# The tests run against two torch builds, as a matrix: the light CPU build, with which torchvision does not import
# (its tests skip and say why), and a CUDA build that runs on the CPU, with torchvision (they run). On these
# machines pip takes the second mostly from the local disk (about 5.5 GB in the virtualenv).
TORCH_BUILDS = {
    "cpu": [TORCH],
    "torchvision": ["torch==2.14.1", "torchvision==0.29.1"],
    "gpu-slot": ["torch==2.11.0"],  # the lent H200's torch: the GPU slot's code must run under it (its tests only)
}
# the slot's own code, and the harness and recipes it trains with (Muon: the fast recipe's NiN step)
SLOT_TESTS = ["tests/test_slot.py", "tests/test_timing_promises.py", "tests/test_gpu_check.py", "tests/test_harness.py",
              "tests/test_recipes.py", "tests/test_stacked.py"]  # fmt: skip
TEST_DEPS = PROJECT["optional-dependencies"]["test"]
CLUSTER_DEPS = PROJECT["optional-dependencies"]["cluster"]  # the cluster tests run on a real one-node SLURM
VERSIONS = (
    "import sys, torch; cuda = torch.cuda.is_available(); "
    "print(f'python {sys.version.split()[0]}, torch {torch.__version__}, '"
    "f'device {torch.cuda.get_device_name() if cuda else \"cpu\"}'); "
    "pinned = sys.argv[1].removeprefix('torch==') if sys.argv[1:] else None; "
    "sys.exit(f'torch {torch.__version__}, not the pinned {pinned}' if pinned and "
    "torch.__version__.split('+')[0] != pinned else None)"
)
HAS_DATA = "from benchmarks.data.fashion_mnist import locate; locate(download=False)"


def install(session: nox.Session, *extra: str, build: str = "cpu") -> None:
    if session.venv_backend == "none":  # --no-venv: the caller's Python has what it needs
        return
    session.install(*TORCH_BUILDS[build])
    session.install(*(d for d in PROJECT["dependencies"] if re.match(r"[\w.-]+", d).group() != "torch"), *extra)


def ensure_data(session: nox.Session) -> None:
    """Install Debian's dataset-fashion-mnist when the data is nowhere and apt-get can run (root, Debian)."""
    try:
        session.run("python", "-c", HAS_DATA, silent=True)
        return
    except nox.command.CommandFailed:
        pass
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        try:
            session.run("apt-get", "update", "-qq", external=True)
            session.run("apt-get", "install", "-y", "-qq", "dataset-fashion-mnist", external=True)
            return
        except nox.command.CommandFailed:
            pass  # no Debian mirror reachable: fall through
    session.log("Fashion-MNIST not found: the runner will try to download it (see README, 'The data')")


@nox.session
@nox.parametrize("build", list(TORCH_BUILDS))
def tests(session: nox.Session, build: str) -> None:
    """Unit and integration tests against each torch build (CPU is enough; the real-data tests need Fashion-MNIST)."""
    install(session, *TEST_DEPS, *CLUSTER_DEPS, build=build)
    session.run("python", "-c", VERSIONS, *([TORCH_BUILDS[build][0]] if session.venv_backend != "none" else []))
    ensure_data(session)
    session.run("pytest", *(session.posargs or (SLOT_TESTS if build == "gpu-slot" else ["tests"])))


BENCH_STORAGE = Path("results/benchmarks")


MACHINE_SLUG = ("import torch; from benchmarks.measure.machine import machine_slug; "
                "print(machine_slug('cuda' if torch.cuda.is_available() else 'cpu'))")  # fmt: skip


def pytest_benchmarks(session: nox.Session) -> None:
    """The pytest-benchmark suites, saved under results/benchmarks/MACHINE (the suite's machine slug) and compared
    with that machine's previous save only: another machine's numbers are no baseline."""
    slug = session.run("python", "-c", MACHINE_SLUG, silent=True).strip().splitlines()[-1]
    storage = BENCH_STORAGE / slug
    compare = ["--benchmark-compare"] if any(storage.rglob("*.json")) else []
    session.run("pytest", "perf/", f"--benchmark-storage=file://{storage}", "--benchmark-autosave", *compare)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Train and time the registry (arguments after -- go to the runner), then regenerate the leaderboard and its
    plots. The pytest-benchmark suites are `nox -s perf`: on a 2-core AVX2 CPU they take longer than the runs."""
    install(session, *TEST_DEPS)
    session.run("python", "-c", VERSIONS)
    ensure_data(session)
    try:
        session.run("python", "-m", "benchmarks", "run", *session.posargs)
    finally:  # the leaderboard shows whatever finished, failed runs included: of the records this run wrote to
        session.run("python", "-m", "benchmarks", "leaderboard", "--runs", runs_folder(session.posargs))


def runs_folder(runner_args: list[str]) -> str:
    """The runner's ``--out`` (default results/runs): the leaderboard is built from the records the run wrote,
    and a folder other than results/runs gets its leaderboard beside it, never in results/ or the README."""
    for i, arg in enumerate(runner_args):
        if arg == "--out" and i + 1 < len(runner_args):
            return runner_args[i + 1]
        if arg.startswith("--out="):
            return arg.split("=", 1)[1]
    return "results/runs"


@nox.session(default=False)
def perf(session: nox.Session) -> None:
    """The pytest-benchmark suites (step throughput and MFU, the compute path against d2l's loop, the pipeline),
    saved under results/benchmarks; then the leaderboard, whose step-throughput tables read them."""
    install(session, *TEST_DEPS)
    session.run("python", "-c", VERSIONS)
    ensure_data(session)
    pytest_benchmarks(session)
    session.run("python", "-m", "benchmarks", "leaderboard")


@nox.session(default=False)
def leaderboard(session: nox.Session) -> None:
    """Regenerate results/LEADERBOARD.md and the README block from the run records."""
    install(session)
    session.run("python", "-m", "benchmarks", "leaderboard", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    if session.venv_backend != "none":
        session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
