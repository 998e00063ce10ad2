"""pytest options, machine info and shared fixtures of the pytest-benchmark suites in this folder (``bench_*.py``)."""

import signal

import pytest
import torch

from benchmarks.data.device_data import real_fashion_mnist
from benchmarks.data.fashion_mnist import DataError
from benchmarks.measure import machine
from benchmarks.schema.compute import ComputePath
from benchmarks.train.compute import compute_defaults


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def pytest_configure(config):
    """SIGTERM (a GPU slot's step stopped at its minutes) ends the session as Ctrl-C does: pytest then finishes the
    session, and pytest-benchmark saves every benchmark that had finished (it saves at the session's end only)."""
    signal.signal(signal.SIGTERM, _interrupt)


def pytest_addoption(parser):
    group = parser.getgroup("cnn-bench")
    group.addoption("--bench-device", default=None, help="cuda, cuda:N or cpu (default: cuda when present)")
    group.addoption("--bench-resolution", type=int, default=None,
                    help="input side for every model (default: each entry's own on CUDA, the smoke profile's on CPU)")  # fmt: skip
    group.addoption("--bench-batch", type=int, default=None, help="batch size (default: each entry's recipe)")
    group.addoption("--bench-arch", default=None, help="shell pattern: benchmark only these architectures")
    group.addoption("--bench-stack", default=None, help="shell pattern: the architectures whose eager step is timed "
                    "one seed against seeds stacked (test_chapter_step; default: none)")  # fmt: skip


def pytest_benchmark_update_machine_info(config, machine_info):
    device = bench_device(config)
    fast, why = compute_defaults(machine.capability(device))
    machine_info["torch"] = torch.__version__
    machine_info["cuda"] = torch.version.cuda
    machine_info["device"] = device
    machine_info["cnn_bench_machine"] = machine.machine_slug(device)  # "machine" is pytest-benchmark's own
    machine_info["device_name"] = machine.device_name(device)
    machine_info["compute_defaults"] = {**fast.__dict__, "why": why}
    machine_info["fingerprint"] = machine.fingerprint(device)


def bench_device(config) -> str:
    return config.getoption("--bench-device") or ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture(scope="session")
def device(pytestconfig) -> str:
    return bench_device(pytestconfig)


@pytest.fixture(scope="session")
def fast(device) -> ComputePath:
    """The machine's fast defaults, as a run on it would use them."""
    return compute_defaults(machine.capability(device))[0]


@pytest.fixture(scope="session")
def data():
    """Real Fashion-MNIST on the host; the benchmarks that need it skip where it is absent."""
    try:
        return real_fashion_mnist(download=False)
    except DataError as err:
        pytest.skip(str(err))
