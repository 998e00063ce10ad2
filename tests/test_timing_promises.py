"""The harness's timing promises, each checked so that breaking it fails a test: the warm-up (and with it any
compilation) and every evaluation stay off the step clock, and the clock is read only after the device has been
synchronised since the last step or evaluation."""

import time

from benchmarks.train import harness
from tests.test_harness import loaders, mlp, quiet

PAUSE = 0.3  # the least seconds added to what must stay off the clock


def train_once(epochs=1, evals_per_epoch=2):
    from dataclasses import replace

    train_loader, test_loader = loaders()
    recipe = replace(harness.D2L, evals_per_epoch=evals_per_epoch)
    return harness.train(mlp(), train_loader, test_loader, harness.TrainSettings(epochs=epochs, lr=0.1, recipe=recipe),
                         log=quiet)  # fmt: skip


def unpaused(**run) -> tuple[float, float]:
    """(the step clock of the same training with nothing added, the pause to add): a pause 4x that clock at least,
    so that a pause on the clock shows above it even on a loaded machine (a shared CPU ran the tiny model's steps
    several times slower than alone): the clock stays under clock + pause / 2 unless the training runs 3x slower
    than the unpaused run, and a leaked pause always exceeds it."""
    clock = sum(e.timed_seconds for e in train_once(**run).epochs)
    return clock, max(PAUSE, 4 * clock)


def test_the_warm_up_stays_off_the_step_clock(monkeypatch):
    """The first call of each shape is where compilation and autotuning happen: made slow here, it must land in
    the warm-up's seconds and on no step clock."""
    real, calls = harness.Trainer.step, []
    clock, pause = unpaused()

    def step(self, x, y):
        if not calls:
            time.sleep(pause)  # as a cold compilation would, on the first call
        calls.append(1)
        return real(self, x, y)

    monkeypatch.setattr(harness.Trainer, "step", step)
    result = train_once()
    timed = sum(e.timed_seconds for e in result.epochs)
    assert result.final.warmup_seconds >= pause
    assert timed < clock + pause / 2, f"the step clock ({timed:.2f} s, {clock:.2f} s unpaused) holds the warm-up"
    assert result.evals[-1].train_seconds < clock + pause / 2  # time to accuracy runs on the same clock


def test_every_evaluation_stays_off_the_step_clock(monkeypatch):
    real = harness.Trainer.evaluate_batches
    calls = []
    clock, pause = unpaused(epochs=2, evals_per_epoch=2)

    def slow_evaluation(self, batches):
        calls.append(1)
        time.sleep(pause)
        return real(self, batches)

    monkeypatch.setattr(harness.Trainer, "evaluate_batches", slow_evaluation)
    result = train_once(epochs=2, evals_per_epoch=2)
    evaluations = len(calls) - 1  # the warm-up evaluates once, off every clock
    assert evaluations == 4
    timed = sum(e.timed_seconds for e in result.epochs)
    assert timed < clock + pause / 2, f"the step clock ({timed:.2f} s, {clock:.2f} s unpaused) holds evaluations"
    assert sum(e.eval_seconds for e in result.epochs) >= evaluations * pause
    assert all(p.train_seconds < clock + pause / 2 for p in result.evals)


def test_the_clock_is_read_only_after_a_synchronize(monkeypatch):
    """On a GPU a step returns before its kernels finish: a clock read with device work queued since the last
    synchronize would time the launches, not the work. Every read of the clock inside ``train`` must come after a
    synchronize with no step or evaluation since."""
    events = []
    real_step, real_eval = harness.Trainer.step, harness.Trainer.evaluate_batches
    real_clock = time.perf_counter
    monkeypatch.setattr(harness, "synchronize", lambda device: events.append("sync"))
    monkeypatch.setattr(harness.Trainer, "step", lambda self, x, y: events.append("work") or real_step(self, x, y))
    monkeypatch.setattr(harness.Trainer, "evaluate_batches",
                        lambda self, b: events.append("work") or real_eval(self, b))  # fmt: skip

    class Clock:
        @staticmethod
        def perf_counter():
            events.append("clock")
            return real_clock()

        def __getattr__(self, name):
            return getattr(time, name)

    monkeypatch.setattr(harness, "time", Clock())
    train_once(epochs=2)
    reads = 0
    for i, event in enumerate(events):
        if event == "clock":
            reads += 1
            since = events[:i]
            last_sync = len(since) - 1 - since[::-1].index("sync") if "sync" in since else -1
            assert "work" not in since[last_sync + 1 :], f"clock read {reads} with device work not synchronised"
    assert reads >= 8  # warm-up, each epoch's start and its evaluations
