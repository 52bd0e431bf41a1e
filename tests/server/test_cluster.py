"""Trainings on a real Dask cluster on loopback: a scheduler and two workers started as separate processes (as a
teacher starts them on other machines), and `demo.py --scheduler` on them. Through the app, as visitors use it:
train, stop a run on a worker, kill the worker running a visitor's training (that visitor is told, nobody else
notices, the next training runs on the other worker), and two visitors' runs side by side never mix."""

import time

import pytest

from tests.support.app_server import (
    FIELDS,
    Server,
    loopback_cluster,
    loopback_cluster_workers,
    new_client,
    queue_status,
    wait_for,
)

TABLE = 8  # /train's outputs: status, progress, log, loss, accuracy, Draw's picker and info, save status, runs table
TINY = dict(preset="fast", model="cnn", optimizer="adam", lr=0.003, batch_size=128, epochs=1, augment=False,
            device="cpu", limit=2000)


def args(**changes) -> list:
    values = dict(TINY, **changes)
    return [values[f] for f in FIELDS]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, ckpt_dir):
    tmp = tmp_path_factory.mktemp("cluster")
    scheduler, workers = loopback_cluster(tmp, workers=2)
    server = Server(tmp, "--scheduler", scheduler.address, "--checkpoint-dir", str(ckpt_dir), "--max-epochs", "3")
    client = new_client(server)
    ready = wait_for(lambda: sum(w["ready"] for w in queue_status(client)["cluster"]["workers"]) == 2, 120, 0.5)
    assert ready, queue_status(client)
    yield server, scheduler, workers
    server.stop()
    for process in (*workers, scheduler):
        process.stop()


def final(job):
    """Every message of a streamed training, and the last one."""
    messages = list(job)
    return messages, job.result()


def test_the_app_reads_its_slots_from_the_workers_and_trains_on_one(cluster):
    server, scheduler, workers = cluster
    client = new_client(server)
    status = queue_status(client)
    assert status["cluster"]["scheduler"] == scheduler.address and status["max_running"] == 2  # 1 + 1 train slots
    assert {w["address"] for w in status["cluster"]["workers"]} == {w.address for w in workers}
    _, result = final(client.submit(*args(), api_name="/train"))
    assert result[0].startswith("**Done.**"), result[0]
    log = result[2]
    assert "loss: " in log and "Test Error:" in log and log.rstrip().endswith("Done!")  # the tutorial's lines
    table = result[TABLE]["data"]  # the runs table says where the run ran
    assert len(table) == 1 and table[0][-1] not in ("", "-"), table
    assert client.predict(api_name="/model_info")["current"]["origin"] == "trained just now"


def test_stop_ends_a_run_on_a_worker_and_keeps_the_partial_model(cluster):
    server, _, _ = cluster
    client = new_client(server)
    job = client.submit(*args(epochs=3, limit=60000), api_name="/train")
    assert wait_for(lambda: any("loss: " in (o[2] or "") for o in job.outputs()), 120, 0.2), job.outputs()[-1:]
    pressed = time.monotonic()
    assert client.predict(api_name="/stop").startswith("Stopping")
    _, result = final(job)
    took = time.monotonic() - pressed
    assert result[0].startswith("**Stopped**"), result[0]
    info = client.predict(api_name="/model_info")["current"]
    assert info["origin"] == "stopped early" and 0 < info["epochs"] < 3
    print(f"Stop pressed -> the run's last message: {took:.2f} s (includes the partial model's test pass)")


def test_a_worker_killed_mid_run_is_said_and_the_next_training_runs_on_the_other(cluster):
    server, _, workers = cluster
    victim, bystander = new_client(server), new_client(server)
    other = bystander.submit(*args(limit=20000), api_name="/train")  # runs through the death on its own worker
    job = victim.submit(*args(epochs=3, limit=60000), api_name="/train")
    running = wait_for(lambda: [r for r in queue_status(victim)["cluster"]["runs"] if r["worker"]]
                       if len(queue_status(victim)["cluster"]["runs"]) == 2 and
                       all(r["worker"] for r in queue_status(victim)["cluster"]["runs"]) else None, 120, 0.2)
    assert running, queue_status(victim)
    assert wait_for(lambda: any("loss: " in (o[2] or "") for o in job.outputs()), 120, 0.2)
    tickets = {row["id"]: row for row in queue_status(victim)["running"]}
    # the victim's run is the three-epoch one (its label says so); kill the worker it runs on
    mine = next(r for r in running if "3 epochs" in tickets[r["ticket"]]["label"])
    dying = next(w for w in workers if w.address == mine["worker"])
    dying.kill()
    _, result = final(job)
    assert "stopped before it finished" in result[0] and "press the button again" in result[0], result[0]
    _, theirs = final(other)
    assert theirs[0].startswith("**Done.**"), theirs[0]  # the other visitor noticed nothing
    assert wait_for(lambda: queue_status(victim)["max_running"] == 1, 30, 0.2)  # one worker left, one slot
    _, again = final(victim.submit(*args(), api_name="/train"))
    assert again[0].startswith("**Done.**"), again[0]
    alive = next(w for w in workers if w is not dying)
    assert again[TABLE]["data"][-1][-1] not in ("", "-")
    assert queue_status(victim)["cluster"]["workers"][0]["address"] == alive.address


def test_two_visitors_runs_on_two_workers_never_mix(tmp_path_factory, ckpt_dir):
    tmp = tmp_path_factory.mktemp("mix")
    scheduler, workers = loopback_cluster(tmp, workers=2)
    server = Server(tmp, "--scheduler", scheduler.address, "--checkpoint-dir", str(ckpt_dir))
    try:
        a, b = new_client(server), new_client(server)
        assert wait_for(lambda: queue_status(a)["max_running"] == 2, 120, 0.5)
        job_a = a.submit(*args(limit=2000, lr=0.003), api_name="/train")
        job_b = b.submit(*args(limit=3000, lr=0.001), api_name="/train")
        _, result_a = final(job_a)
        _, result_b = final(job_b)
        lines_a = [line for line in result_a[2].splitlines() if line.startswith("loss:")]
        lines_b = [line for line in result_b[2].splitlines() if line.startswith("loss:")]
        assert lines_a and all(line.endswith("/ 2000]") for line in lines_a), lines_a
        assert lines_b and all(line.endswith("/ 3000]") for line in lines_b), lines_b
        assert a.predict(api_name="/model_info")["current"]["steps"] == 16  # 2000 / 128
        assert b.predict(api_name="/model_info")["current"]["steps"] == 24  # 3000 / 128
        table_a, table_b = result_a[TABLE]["data"], result_b[TABLE]["data"]
        assert len(table_a) == len(table_b) == 1 and table_a[0][4] == "0.003" and table_b[0][4] == "0.001"
    finally:
        server.stop()
        for process in (*workers, scheduler):
            process.stop()


def test_a_worker_without_mnist_says_so_once_and_gets_no_runs(tmp_path_factory, ckpt_dir):
    tmp = tmp_path_factory.mktemp("nodata")
    scheduler, workers = loopback_cluster(tmp, workers=1, env={"MNIST_DEMO_DATA_DIR": str(tmp / "no-such-folder")})
    server = Server(tmp, "--scheduler", scheduler.address, "--checkpoint-dir", str(ckpt_dir))
    try:
        client = new_client(server)
        checked = wait_for(lambda: [w for w in queue_status(client)["cluster"]["workers"] if w["problem"]], 120, 0.5)
        assert checked and "MNIST not found" in checked[0]["problem"] and not checked[0]["ready"], checked
        assert queue_status(client)["max_running"] == 0
        started = time.monotonic()
        _, refused = final(client.submit(*args(), api_name="/train"))
        assert time.monotonic() - started < 30  # refused at once: nobody waits for a worker that cannot train
        assert "No worker can run it" in refused[0] and "MNIST not found" in refused[0], refused[0]
        good, = loopback_cluster_workers(tmp, scheduler, 1)
        try:
            assert wait_for(lambda: queue_status(client)["max_running"] == 1, 120, 0.5)
            _, result = final(client.submit(*args(), api_name="/train"))
            assert result[0].startswith("**Done.**"), result[0]
        finally:
            good.stop()
        assert server.output().count("gets no jobs") == 1  # said once, in the log
    finally:
        server.stop()
        for process in (*workers, scheduler):
            process.stop()
