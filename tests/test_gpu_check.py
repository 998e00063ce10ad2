"""The CUDA path, checked where the CPU can see it (the GPU slot itself: tests/test_slot.py)."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.measure.machine import smi_id
from benchmarks.schema.peaks import vendor_peak

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize(
    "name, label, tflops",
    [  # NVIDIA's datasheets, dense bf16 (half the "with sparsity" figure)
        ("NVIDIA H200 NVL", "H200 NVL", 835.5),
        ("NVIDIA H200", "H200 SXM", 989.4),
        ("NVIDIA L40", "L40", 181.0),
        ("NVIDIA L40S", "L40S", 362.1),
        ("NVIDIA L4", "L4", 121.0),
    ],
)
def test_each_gpu_name_finds_its_own_peak(name, label, tflops):
    rate, text = vendor_peak(name, "bf16")
    assert rate == tflops * 1e12 and text.startswith(label + " ")


def test_nvidia_smi_is_asked_by_uuid_not_by_torchs_index():
    """Under CUDA_VISIBLE_DEVICES=3 torch's device 0 is nvidia-smi's GPU 3: the UUID names the same GPU for both."""
    assert (
        smi_id(SimpleNamespace(uuid="6c1a2b3c-0000-1111-2222-333344445555"))
        == "GPU-6c1a2b3c-0000-1111-2222-333344445555"
    )
    assert smi_id(SimpleNamespace(uuid="", index=0)) == 0


def test_a_rank_binds_its_gpu_before_anything_touches_cuda_and_nccl_gets_the_device(monkeypatch):
    import torch

    from benchmarks.train import distributed

    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(("set_device", d)))
    distributed.bind_device(distributed.World(1, 2, 1), None)
    assert calls == [("set_device", 1)]
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda *a, **k: calls.append(("init", a, k)))
    distributed.init(distributed.World(1, 2, 1), "cuda:1")
    _, args, kwargs = calls[-1]
    assert args == ("nccl",) and kwargs["device_id"] == torch.device("cuda:1")


def test_every_rank_warms_up_as_many_steps():
    """129 examples, global batch 65, two ranks: global batches of 65 and 64, so rank 0 serves 33 and 32, rank 1
    32 and 32. Rank 0 has two shapes to warm up, rank 1 one: ranks that warmed up different numbers of steps would
    hang in their collectives."""
    import torch

    from benchmarks.data.device_data import DeviceLoader

    images, labels = torch.zeros(129, 28, 28, dtype=torch.uint8), torch.zeros(129, dtype=torch.int64)
    sizes = [[len(y) for _, y in DeviceLoader(images, labels, 65, 28, rank=r, world=2).shape_samples()]
             for r in range(2)]  # fmt: skip
    assert sizes == [[33, 32], [32, 32]]


def test_an_isolated_child_reuses_the_parents_machine_facts(monkeypatch):
    """collect_env (pip list, lscpu, nvidia-smi) runs once per suite, not once per isolated run."""
    import torch

    from benchmarks.measure import machine

    facts = {"machine": "the-parents", "device": "cpu", "torch": torch.__version__, "device_name": "x", "cpu": {},
             "gpu": None, "python": "3", "os": "y"}  # fmt: skip
    monkeypatch.setenv(machine.ENV_FACTS, json.dumps(facts))
    monkeypatch.setattr(machine, "_machine_facts", lambda device: pytest.fail("the child took the facts again"))
    found = machine.fingerprint("cpu")
    assert found["machine"] == "the-parents" and "numerics" in found and "command" in found
    monkeypatch.setenv(machine.ENV_FACTS, json.dumps({**facts, "torch": "another"}))  # another torch: taken anew
    monkeypatch.setattr(machine, "_machine_facts", lambda device: {"machine": "taken-here"})
    assert machine.fingerprint("cpu")["machine"] == "taken-here"


def test_an_oom_retry_runs_outside_the_failed_steps_traceback(tmp_path, monkeypatch):
    """The retry frees the failed attempt first: out of the except block (whose traceback holds the failed step's
    tensors), after a garbage collection."""
    import gc
    import sys as system

    import torch

    from benchmarks import cli
    from benchmarks.run import one

    real_train, seen = one.train, []
    monkeypatch.setattr(gc, "collect", lambda *a: seen.append("collected") or 0)

    def oom_once(model, train_loader, *args, **kwargs):
        seen.append(("exception being handled", system.exc_info()[0] is not None))
        if train_loader.batch_size > 128:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return real_train(model, train_loader, *args, **kwargs)

    monkeypatch.setattr(one, "train", oom_once)
    argv = ["run", "--out", str(tmp_path / "runs"), "--synthetic", "--train-subset", "512", "--test-subset", "128",
            "--epochs", "1", "--seeds", "0", "--arch", "lenet", "--recipe", "d2l", "--oom-retry"]  # fmt: skip
    assert cli.main(argv) == 0
    assert seen[:3] == [("exception being handled", False), "collected", ("exception being handled", False)]


def test_peak_memory_is_reset_after_the_warm_up(monkeypatch):
    """The warm-up's copy of the state and autotuning's workspaces are not the run's peak."""
    from benchmarks.train import harness
    from tests.test_harness import loaders, mlp, quiet

    order = []
    real_warm_up = harness.warm_up
    monkeypatch.setattr(harness, "warm_up", lambda *a: order.append("warm-up") or real_warm_up(*a))
    monkeypatch.setattr(harness.memory, "reset_peak", lambda device: order.append("reset"))
    train_loader, test_loader = loaders()
    harness.train(mlp(), train_loader, test_loader, harness.TrainSettings(epochs=1, lr=0.1), log=quiet)
    assert order == ["warm-up", "reset"]


def test_augmentation_draws_on_the_images_device():
    import torch

    from benchmarks.data.device_data import DeviceLoader

    images = torch.zeros(8, 28, 28, dtype=torch.uint8)
    loader = DeviceLoader(images, torch.zeros(8, dtype=torch.int64), 4, 28, flip=True, translate=2)
    assert loader.augment_generator.device == images.device
    assert len(list(loader)) == 2


def test_torchrun_refuses_one_named_gpu_for_every_rank(monkeypatch):
    """Under torchrun each rank takes cuda:LOCAL_RANK; --device cuda:0 would put every rank on GPU 0."""
    import torch

    from benchmarks.errors import UsageError
    from benchmarks.run import plan
    from benchmarks.run.options import RunOptions
    from benchmarks.train import distributed

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(UsageError, match="each rank takes cuda:LOCAL_RANK"):
        plan.plan(RunOptions(arch=("lenet",), device="cuda:0"), distributed.World(1, 2, 1))


def test_a_failed_data_parallel_run_raises_on_its_rank_so_that_torchrun_ends_the_others(monkeypatch):
    """A rank that recorded its failure and went on would leave the other ranks waiting in a collective; it raises,
    and torchrun stops every rank (a collective that waits longer than minutes times out: COLLECTIVE_TIMEOUT)."""
    from datetime import timedelta

    from benchmarks.data.device_data import synthetic_fashion_mnist
    from benchmarks.run import one
    from benchmarks.train import distributed
    from tests.records_by_hand import make_config

    def broken(*args, **kwargs):
        raise RuntimeError("a rank's step failed")

    monkeypatch.setattr(one, "train", broken)
    config = make_config("lenet", 0, device="cpu", train_subset=256, test_subset=128)
    data = synthetic_fashion_mnist()
    assert one.run_one(config, data, "cpu", log=lambda _: None).status == "error"  # one process: recorded
    with pytest.raises(RuntimeError, match="a rank's step failed"):
        one.run_one(config, data, "cpu", log=lambda _: None, world=distributed.World(0, 2, 0))
    assert distributed.COLLECTIVE_TIMEOUT <= timedelta(minutes=30)
