"""Jobs the threaded-executor tests run, at module level so ``reconstructable`` can load them.

Steps sleep instead of calling APIs: the executor cannot tell the difference, and a sleep keeps
a step in flight long enough for overlap to be observable. ``GAUGE`` counts steps inside their
bodies per group, from the steps' own threads, so a test can read the true peak concurrency.
"""

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from videogen_dagster import waits
from videogen_dagster.executor import threaded_executor


class Gauge:
    """Thread-safe count of steps currently inside a body, with the peak per group."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now: dict[str, int] = defaultdict(int)
        self._peak: dict[str, int] = defaultdict(int)

    @contextmanager
    def track(self, group: str) -> Iterator[None]:
        with self._lock:
            self._now[group] += 1
            self._peak[group] = max(self._peak[group], self._now[group])
        try:
            yield
        finally:
            with self._lock:
                self._now[group] -= 1

    def peak(self, group: str) -> int:
        return self._peak[group]

    def reset(self) -> None:
        with self._lock:
            self._now.clear()
            self._peak.clear()


GAUGE = Gauge()

NAP_SECONDS = 0.6


def _nap(group: str, seconds: float = NAP_SECONDS) -> None:
    with GAUGE.track(group):
        time.sleep(seconds)


# --- independent sleepers: overlap, max_concurrent, tag limits --------------------------------


def _sleeper(name: str, group: str, tags: dict[str, str] | None = None) -> dg.OpDefinition:
    @dg.op(name=name, tags=tags)
    def _op() -> str:
        _nap(group)
        return name

    return _op


@dg.graph
def sleepers() -> None:
    for i in range(6):
        _sleeper(f"nap_{i}", "nap")()


def sleepers_job() -> dg.JobDefinition:
    return sleepers.to_job(name="sleepers_threaded", executor_def=threaded_executor)


@dg.graph
def tagged_sleepers() -> None:
    for i in range(4):
        _sleeper(f"tagged_{i}", "tagged", tags={"api": "video"})()
    for i in range(2):
        _sleeper(f"free_{i}", "free")()


def tagged_sleepers_job() -> dg.JobDefinition:
    return tagged_sleepers.to_job(name="tagged_sleepers_threaded", executor_def=threaded_executor)


# --- the same mixed graph under both executors: events must match ---------------------------


@dg.op(out=dg.DynamicOut(int))
def split_beats() -> Iterator[dg.DynamicOutput[int]]:
    for beat in range(4):
        yield dg.DynamicOutput(beat, mapping_key=f"beat_{beat}")


@dg.op
def render_beat(context: dg.OpExecutionContext, beat: int) -> int:
    _nap("render", 0.2)
    context.log_event(dg.AssetMaterialization(asset_key=f"beat_{beat}", metadata={"beat": beat}))
    return beat * 10


@dg.op
def sum_beats(values: list[int]) -> int:
    return sum(values)


@dg.success_hook
def note_success(context: dg.HookContext) -> None:
    context.log.info(f"hook saw {context.op.name} succeed")


@dg.op
def standalone() -> str:
    _nap("standalone", 0.2)
    return "alone"


@dg.graph
def mixed() -> None:
    sum_beats(split_beats().map(render_beat).collect())
    standalone.with_hooks({note_success})()


def mixed_threaded_job() -> dg.JobDefinition:
    return mixed.to_job(name="mixed_threaded", executor_def=threaded_executor)


def mixed_in_process_job() -> dg.JobDefinition:
    return mixed.to_job(name="mixed_in_process", executor_def=dg.in_process_executor)


# --- retries ---------------------------------------------------------------------------------

RETRY_DELAY_SECONDS = 1.5


@dg.op(retry_policy=dg.RetryPolicy(max_retries=3, delay=0.1))
def fails_twice(context: dg.OpExecutionContext) -> int:
    if context.retry_number < 2:
        raise RuntimeError(f"attempt {context.retry_number} fails on purpose")
    return context.retry_number


@dg.op(retry_policy=dg.RetryPolicy(max_retries=1, delay=RETRY_DELAY_SECONDS))
def fails_once_slow_retry(context: dg.OpExecutionContext) -> int:
    if context.retry_number == 0:
        raise RuntimeError("first attempt fails on purpose")
    return 1


@dg.op
def quick_first() -> int:
    time.sleep(0.2)
    return 1


@dg.op
def quick_second(value: int) -> int:
    return value + 1


@dg.graph
def retries() -> None:
    fails_twice()
    fails_once_slow_retry()
    quick_second(quick_first())


def retries_job() -> dg.JobDefinition:
    return retries.to_job(name="retries_threaded", executor_def=threaded_executor)


# --- failure isolation and re-execution --------------------------------------------------------


@dg.op
def source() -> int:
    return 20


@dg.op(config_schema={"marker": str})
def needs_marker(context: dg.OpExecutionContext, value: int) -> int:
    """Fails until the marker file exists: the 'provider outage' a re-execution recovers from."""
    marker = Path(context.op_config["marker"])
    if not marker.exists():
        raise RuntimeError(f"marker {marker} missing")
    return value + 1


@dg.op
def after_marker(value: int) -> int:
    return value * 2


@dg.op
def sibling_first() -> int:
    _nap("sibling", 0.3)
    return 1


@dg.op
def sibling_second(value: int) -> int:
    _nap("sibling", 0.3)
    return value + 1


@dg.graph
def branches() -> None:
    after_marker(needs_marker(source()))
    sibling_second(sibling_first())


def branches_job() -> dg.JobDefinition:
    return branches.to_job(name="branches_threaded", executor_def=threaded_executor)


# --- pools -------------------------------------------------------------------------------------

POOL = "video_api"


def _pooled(name: str) -> dg.OpDefinition:
    @dg.op(name=name, pool=POOL)
    def _op() -> str:
        _nap("pool", 0.4)
        return name

    return _op


@dg.op(pool=POOL, retry_policy=dg.RetryPolicy(max_retries=1))
def pooled_failure() -> None:
    _nap("pool", 0.1)
    raise RuntimeError("pooled step fails on purpose")


@dg.graph
def pooled() -> None:
    for i in range(6):
        _pooled(f"clip_{i}")()
    for i in range(2):
        _sleeper(f"unpooled_{i}", "unpooled")()


@dg.graph
def pooled_with_failure() -> None:
    for i in range(3):
        _pooled(f"clip_{i}")()
    pooled_failure()


def pooled_job() -> dg.JobDefinition:
    return pooled.to_job(name="pooled_threaded", executor_def=threaded_executor)


def pooled_failure_job() -> dg.JobDefinition:
    return pooled_with_failure.to_job(
        name="pooled_failure_threaded", executor_def=threaded_executor
    )


# --- many parallel steps writing to SQLite ---------------------------------------------------

MANY = 40
LOGS_PER_STEP = 5


def _chatty(i: int) -> dg.OpDefinition:
    @dg.op(name=f"chatty_{i}")
    def _op(context: dg.OpExecutionContext) -> int:
        with GAUGE.track("chatty"):
            for n in range(LOGS_PER_STEP):
                context.log.info(f"chatty_{i} message {n}")
                time.sleep(0.01)
            context.log_event(dg.AssetMaterialization(asset_key=f"chatty_{i}"))
            print(f"stdout from chatty_{i}")
        return i

    return _op


@dg.graph
def many() -> None:
    for i in range(MANY):
        _chatty(i)()


def many_job() -> dg.JobDefinition:
    return many.to_job(name="many_threaded", executor_def=threaded_executor)


# --- errors and interrupts ---------------------------------------------------------------------

STUCK_LIMIT_SECONDS = 30.0


@dg.op
def raises_value_error() -> None:
    time.sleep(0.2)
    raise ValueError("user code fails on purpose")


@dg.op(config_schema={"started": str})
def busy_until_interrupted(context: dg.OpExecutionContext) -> str:
    """Polls like a client waiting on a render job, through the waits an interrupt ends; the
    marker tells a test it is running."""
    Path(context.op_config["started"]).write_text("running")
    deadline = time.monotonic() + STUCK_LIMIT_SECONDS
    while time.monotonic() < deadline:
        waits.sleep(0.02)
    return "never interrupted"


CHATTY_STEPS = 6


@dg.op(out=dg.DynamicOut(int))
def chatters() -> Iterator[dg.DynamicOutput[int]]:
    for index in range(CHATTY_STEPS):
        yield dg.DynamicOutput(index, mapping_key=str(index))


@dg.op(config_schema={"started": str})
def chatty_until_interrupted(context: dg.OpExecutionContext, index: int) -> int:
    """Logs without pause between short waits, so that most of its time is spent inside
    logging's handler locks, where an exception raised into the thread from outside would leave
    a lock held and hang the run."""
    Path(f"{context.op_config['started']}-{index}").write_text("running")
    deadline = time.monotonic() + STUCK_LIMIT_SECONDS
    while time.monotonic() < deadline:
        for _ in range(20):
            context.log.info(f"step {index} still waiting")
        waits.sleep(0.001)
    return index


@dg.graph
def chatty() -> None:
    chatters().map(chatty_until_interrupted)


def chatty_job() -> dg.JobDefinition:
    return chatty.to_job(name="chatty_threaded", executor_def=threaded_executor)


@dg.op
def never_runs(value: str) -> str:
    return value


@dg.graph
def raise_on_error_graph() -> None:
    raises_value_error()
    busy_until_interrupted()


@dg.graph
def interruptible() -> None:
    never_runs(busy_until_interrupted())
    never_runs.alias("never_runs_either")(busy_until_interrupted.alias("busy_too")())


def raise_on_error_job() -> dg.JobDefinition:
    return raise_on_error_graph.to_job(
        name="raise_on_error_threaded", executor_def=threaded_executor
    )


def interruptible_job() -> dg.JobDefinition:
    return interruptible.to_job(name="interruptible_threaded", executor_def=threaded_executor)


# --- a partitioned graph asset shaped like the video pipeline -------------------------------

videos = dg.DynamicPartitionsDefinition(name="videos")


@dg.op(out=dg.DynamicOut(int))
def plan_beats(context: dg.OpExecutionContext) -> Iterator[dg.DynamicOutput[int]]:
    for beat in range(3):
        yield dg.DynamicOutput(beat, mapping_key=f"beat_{beat}")


@dg.op
def storyboard_image(context: dg.OpExecutionContext, beat: int) -> str:
    _nap("image", 0.3)
    return f"{context.partition_key}/image_{beat}"


@dg.op
def video_chunk(context: dg.OpExecutionContext, image: str) -> str:
    _nap("chunk", 0.3)
    return f"{image}/chunk"


@dg.op
def gather(items: list[str]) -> list[str]:
    return sorted(items)


@dg.graph(out={"storyboard": dg.GraphOut(), "chunks": dg.GraphOut()})
def video_graph():
    images = plan_beats().map(storyboard_image)
    chunks = images.map(video_chunk)
    return {
        "storyboard": gather(images.collect()),
        "chunks": gather.alias("gather_chunks")(chunks.collect()),
    }


video_assets = dg.AssetsDefinition.from_graph(
    video_graph,
    partitions_def=videos,
    keys_by_output_name={"storyboard": dg.AssetKey("storyboard"), "chunks": dg.AssetKey("chunks")},
    internal_asset_deps={"storyboard": set(), "chunks": {dg.AssetKey("storyboard")}},
)

video_defs = dg.Definitions(
    assets=[video_assets],
    jobs=[dg.define_asset_job("video_job", selection=[video_assets])],
    executor=threaded_executor,
)


# --- loaders for reconstructable() -------------------------------------------------------------


def define_video_job() -> dg.JobDefinition:
    return video_defs.resolve_job_def("video_job")


BLOCKING_CALL_SECONDS = 4.0


@dg.op(config_schema={"started": str})
def blocked_in_one_call(context: dg.OpExecutionContext) -> None:
    """One long C call: an interrupt raised in this thread waits until the call returns."""
    Path(context.op_config["started"]).write_text("running")
    time.sleep(BLOCKING_CALL_SECONDS)


@dg.graph
def blocked() -> None:
    blocked_in_one_call()


def blocked_job() -> dg.JobDefinition:
    return blocked.to_job(name="blocked_threaded", executor_def=threaded_executor)
