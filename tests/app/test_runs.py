"""The runs a visitor keeps (core/runs/kept.py) and the plot data drawn from them (core/runs/curves.py): no server,
no gradio."""

from dataclasses import replace

from mnist_demo.app.core.runs.curves import SAMPLE_SUFFIX, curves, series_of
from mnist_demo.app.core.runs.kept import COMPARISONS, MAX_RUNS, PALETTE, KeptRun, Runs, labels, table_rows
from mnist_demo.app.core.runs.training import FULL, SAMPLE, LiveRun
from mnist_demo.config import PRESETS, make_config
from mnist_demo.train import Evaluation, Progress

SGD = make_config("tutorial", device="cpu", limit=2000)


def kept(runs: Runs, config=SGD, points: int = 3, accuracy: float = 0.9) -> KeptRun:
    """A run with `points` loss points and two full-test and `points` sample accuracy points, kept in `runs`."""
    number, colour = runs.reserve()
    losses = [(s, s * config.batch_size, 0.1 * s, 2.3 / s) for s in range(1, points + 1)]
    accuracies = [(0, 0, 0.0, 10.0, FULL), (0, 0, 0.0, 11.0, SAMPLE)]
    accuracies += [(s, s * config.batch_size, 0.1 * s, 50.0 + s, SAMPLE) for s in range(1, points + 1)]
    accuracies.append((points, points * config.batch_size, 0.1 * points + 0.05, 100 * accuracy, FULL))
    run = KeptRun(number, colour, config, "tutorial", losses, accuracies, Evaluation(accuracy, 0.3, [accuracy] * 10,
                  10000), 1.5, 1234.0, 1.0, False, object(), {"model": config.model})
    runs.add(run)
    return run


def test_at_most_eight_runs_are_kept_oldest_dropped_first():
    runs = Runs()
    made = [kept(runs, replace(SGD, lr=0.001 * (i + 1))) for i in range(MAX_RUNS + 2)]
    assert MAX_RUNS == 8 and len(runs) == MAX_RUNS
    assert runs.numbers() == [r.number for r in made[2:]] == list(range(3, 11))
    assert runs.get(1) is None and runs.get(2) is None and runs.get("3") is made[2]
    # a kept run's colour is never shared with another kept run's, nor with the one reserved for the next
    colours = [r.colour for r in runs.all()]
    assert len(set(colours)) == len(colours) and runs.reserve()[1] not in colours


def test_a_run_can_be_removed_and_numbers_are_not_reused():
    runs = Runs()
    a, b, c = (kept(runs) for _ in range(3))
    assert runs.remove(b.number) is b and runs.numbers() == [a.number, c.number]
    assert runs.remove(b.number) is None and runs.remove("nonsense") is None and runs.get(None) is None
    d = kept(runs)
    assert d.number == 4 and d.colour == b.colour  # the freed colour is used again, the number is not
    runs.clear()
    assert len(runs) == 0


def test_labels_name_what_differs_else_number_the_runs():
    low, high = replace(SGD, lr=0.001), replace(SGD, lr=0.1)
    assert labels([(1, low), (2, high)]) == {1: "lr 0.001", 2: "lr 0.1"}
    big = replace(SGD, lr=0.1, batch_size=512)
    assert labels([(1, low), (2, high), (3, big)]) == {1: "lr 0.001 · bs 64", 2: "lr 0.1 · bs 64",
                                                       3: "lr 0.1 · bs 512"}
    assert labels([(1, SGD), (2, SGD)]) == {1: "run 1", 2: "run 2"}
    assert labels([(4, SGD)]) == {4: "run 4"}
    # two identical configs among different ones still get a curve each
    assert labels([(1, low), (2, high), (3, low)]) == {1: "lr 0.001 · run 1", 2: "lr 0.1", 3: "lr 0.001 · run 3"}
    other = make_config("fast", device="cpu")
    named = labels([(1, SGD), (2, other)])
    assert named[1].startswith("tutorial · sgd · lr 0.001") and named[2].startswith("cnn-small · adam · lr 0.005")


def test_curves_keep_each_runs_points_apart_with_their_own_colours():
    runs = Runs()
    kept(runs, replace(SGD, lr=0.001))
    second = kept(runs, replace(SGD, lr=0.1), points=5)
    live = LiveRun(replace(SGD, lr=1.0), train_size=60000)
    number, colour = runs.reserve()
    live.apply(Progress(1, 1, 0, 20, 0, 2000, 1, 20, 2.2, 1.0, 100.0, 0.5))
    live.apply(Progress(1, 1, 1, 20, 100, 2000, 2, 20, 2.0, 1.0, 100.0, 1.0))
    names = runs.labels((number, live.config))
    c = curves(series_of(runs.all(), names, (number, colour, live)))
    loss, acc = c.loss, c.accuracy
    assert list(loss["run"].unique()) == ["lr 0.001", "lr 0.1", "lr 1"]  # the running one last: drawn on top
    assert len(set(c.loss_colours.values())) == 3
    assert c.loss_colours["lr 0.1"] == PALETTE[second.colour][0] and c.loss_colours["lr 1"] == PALETTE[colour][0]
    for label, rows in loss.groupby("run"):
        for x in ("steps", "samples seen", "seconds"):
            assert rows[x].is_monotonic_increasing, (label, x)
    assert len(loss[loss["run"] == "lr 0.1"]) == 5 and len(loss[loss["run"] == "lr 1"]) == 2
    assert list(loss[loss["run"] == "lr 1"]["samples seen"]) == [64, 128]
    # accuracy: the full test set and the 1,000-image sample are separate series, each monotonic in x
    assert set(acc["run"]) == {"lr 0.001", "lr 0.001" + SAMPLE_SUFFIX, "lr 0.1", "lr 0.1" + SAMPLE_SUFFIX}
    assert len(set(c.accuracy_colours.values())) == len(c.accuracy_colours) == 6
    assert c.legend == ["lr 0.001", "lr 0.1", "lr 1"]  # the legend names runs, not the sample series
    for label, rows in acc.groupby("run"):
        assert rows["samples seen"].is_monotonic_increasing and rows["seconds"].is_monotonic_increasing, label
    full = acc[acc["run"] == "lr 0.1"]
    assert list(full["accuracy"]) == [10.0, 90.0] and list(full["steps"]) == [0, 5]
    # a new series changes the key the plots are rebuilt on; more points of the same series do not
    key = c.key
    live.apply(Progress(1, 1, 2, 20, 200, 2000, 3, 20, 1.9, 1.0, 100.0, 1.5))
    assert curves(series_of(runs.all(), names, (number, colour, live))).key == key
    assert curves(series_of(runs.all(), runs.labels())).key != key


def test_no_runs_no_data():
    c = curves([])
    assert c.loss is None and c.accuracy is None and c.legend == []


def test_live_run_counts_samples_with_a_smaller_last_batch():
    live = LiveRun(replace(SGD, batch_size=64, limit=1000), train_size=60000)
    assert live.batches == 16
    assert [live.samples_at(s) for s in (0, 1, 15, 16, 17, 32)] == [0, 64, 960, 1000, 1064, 2000]


def test_table_rows_and_the_comparisons_are_valid_configs():
    runs = Runs()
    run = kept(runs, replace(SGD, lr=0.1))
    row = table_rows(runs.all(), runs.labels())[0]
    assert row[:6] == [run.number, "run 1", "tutorial", "sgd", "0.1", 64] and row[10] == "90.00%"
    for comparison in COMPARISONS:
        configs = comparison.configs("cpu", 3)
        assert len(configs) == 2 and all(c.seed == configs[0].seed for c in configs)
        differing = [f for f in ("model", "optimizer", "lr", "batch_size", "epochs", "limit")
                     if getattr(configs[0], f) != getattr(configs[1], f)]
        assert len(differing) == 1, (comparison.key, differing)  # one change at a time
        assert all(c.epochs == 1 for c in configs)  # short: well under a minute for both (benchmarks/try_it.py)
    assert PRESETS["tutorial"].lr == COMPARISONS[0].configs("cpu", 3)[0].lr  # the tutorial's own rate first


def test_a_visitor_keeps_its_own_runs_and_closing_drops_them():
    from mnist_demo.app.core.visitor import Visitor

    one, two = Visitor(), Visitor()
    kept(one.runs)
    assert len(one.runs) == 1 and len(two.runs) == 0 and one.runs is not two.runs
    one.close()
    assert len(one.runs) == 0 and one.current is None


def test_the_preset_box_says_which_values_were_changed_by_hand():
    from mnist_demo.app.core.runs.text import preset_info

    PRESET_INFO = "Fills the controls below with a tested recipe"

    fast = PRESETS["fast"]
    shown = dict(model=fast.model, optimizer=fast.optimizer, lr=fast.lr, batch_size=fast.batch_size,
                 epochs=fast.epochs, augment=fast.augment)
    assert preset_info("fast", 20, **shown) == PRESET_INFO
    assert preset_info("fast", 20, **{**shown, "lr": 0.004, "batch_size": 96}) == (
        "Changed by hand: lr 0.004, batch 96; the rest is the fast recipe")
    assert preset_info("Fast", 20, **{**shown, "augment": not fast.augment, "lr": None}) == (
        f"Changed by hand: lr empty, augmentation {'off' if fast.augment else 'on'}; the rest is the fast recipe")
    best = PRESETS["best"]
    capped = dict(model=best.model, optimizer=best.optimizer, lr=best.lr, batch_size=best.batch_size,
                  epochs=min(best.epochs, 2), augment=best.augment)
    assert preset_info("best", 2, **capped) == PRESET_INFO  # epochs as the box fills them under the server's cap
    assert preset_info("no-such-preset", 20, lr=1.0) == PRESET_INFO
