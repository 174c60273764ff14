"""Both budget caps, across two videos sharing one store: per video and for the whole store.

The per-video cap must count only its own video's ledger (another video's spending does not
stop it); the total cap must count every video's (a new video is stopped by what others
spent). Cache hits cost nothing and pass any cap. The caps come from the environment
(`VIDEOGEN_BUDGET_PER_VIDEO`, `VIDEOGEN_BUDGET_TOTAL`) through the generation resource.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from videogen_dagster.defs.resources import LocalProviderConfig, resources_from_env
from videogen_dagster.generation import Budget, BudgetExceededError, Generator
from videogen_dagster.providers.base import ImageRequest
from videogen_dagster.providers.local import LocalSettings, local_provider
from videogen_dagster.store import layout
from videogen_dagster.store.local import LocalStore

PRICE = 0.04
SETTINGS = LocalSettings(short_side=32, price_per_image=PRICE)
SIZE = SETTINGS.sizes()["1:1"]


def _request(n: int) -> ImageRequest:
    return ImageRequest(prompt=f"frame {n}", size=SIZE, seed=n)


def _generator(store: LocalStore, video_id: str, budget: Budget) -> Generator:
    return Generator(local_provider(SETTINGS), store, video_id, budget=budget)


def _spent(store: LocalStore, key: str) -> float:
    lines = (store.root / key).read_text().splitlines()
    return round(sum(json.loads(line)["cost"] for line in lines), 6)


def test_the_per_video_cap_counts_only_its_own_video(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    cap = Budget(per_video=2 * PRICE + 0.001)
    first, second = _generator(store, "first", cap), _generator(store, "second", cap)
    first.image(_request(1), label="image 1")
    first.image(_request(2), label="image 2")
    with pytest.raises(BudgetExceededError, match="video 'first'"):
        first.image(_request(3), label="image 3")
    # The other video has its own cap: two paid calls, then it stops too.
    second.image(_request(4), label="image 4")
    second.image(_request(5), label="image 5")
    with pytest.raises(BudgetExceededError, match="video 'second'"):
        second.image(_request(6), label="image 6")
    # What is cached costs nothing: served whatever the cap.
    assert first.image(_request(2), label="image 2").cache_hit
    assert _spent(store, layout.cost_ledger("first")) == 2 * PRICE
    assert _spent(store, layout.cost_ledger("second")) == 2 * PRICE
    assert _spent(store, "logs/costs.jsonl") == 4 * PRICE


def test_the_total_cap_counts_every_video_in_the_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    total = Budget(total=3 * PRICE + 0.001)
    first, second = _generator(store, "first", total), _generator(store, "second", total)
    first.image(_request(1), label="image 1")
    first.image(_request(2), label="image 2")
    second.image(_request(3), label="image 3")
    # The second video has spent one call's worth, but the store has spent three.
    with pytest.raises(BudgetExceededError, match="but the store has") as stopped:
        second.image(_request(4), label="image 4")
    assert f"${3 * PRICE:.4f} of its ${total.total:.2f} cap committed" in str(stopped.value)
    with pytest.raises(BudgetExceededError, match="the store"):
        first.image(_request(5), label="image 5")
    assert _spent(store, "logs/costs.jsonl") == 3 * PRICE
    # Nothing was paid for the refused calls; the stopped video's manifest says why.
    failed = json.loads((store.root / layout.manifest("second")).read_text())
    assert [f["reason"] for f in failed["failures"]] == ["budget"]
    # Raising the cap lets the video carry on, paying only for the new call.
    more = _generator(store, "second", Budget(total=4 * PRICE + 0.001))
    assert not more.image(_request(4), label="image 4").cache_hit
    assert _spent(store, "logs/costs.jsonl") == 4 * PRICE


def test_both_caps_come_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VIDEOGEN_BUDGET_PER_VIDEO", str(2 * PRICE + 0.001))
    monkeypatch.setenv("VIDEOGEN_BUDGET_TOTAL", str(3 * PRICE + 0.001))
    generation = resources_from_env()["generation"]
    assert (generation.budget_per_video, generation.budget_total) == (
        2 * PRICE + 0.001,
        3 * PRICE + 0.001,
    )
    store = LocalStore(tmp_path / "store")
    local = LocalProviderConfig(short_side=32, price_per_image=PRICE)
    generation = generation.model_copy(update={"local": local})
    first = generation.generator(store, "first")
    assert first.budget == Budget(per_video=2 * PRICE + 0.001, total=3 * PRICE + 0.001)
    first.image(_request(1), label="image 1")
    first.image(_request(2), label="image 2")
    with pytest.raises(BudgetExceededError, match="video 'first'"):
        first.image(_request(3), label="image 3")
    second = generation.generator(store, "second")
    second.image(_request(4), label="image 4")
    with pytest.raises(BudgetExceededError, match="the store"):
        second.image(_request(5), label="image 5")


def test_no_cap_in_the_environment_is_no_cap(monkeypatch) -> None:
    monkeypatch.delenv("VIDEOGEN_BUDGET_PER_VIDEO", raising=False)
    monkeypatch.delenv("VIDEOGEN_BUDGET_TOTAL", raising=False)
    generation = resources_from_env()["generation"]
    assert (generation.budget_per_video, generation.budget_total) == (None, None)


def test_calls_in_flight_count_against_the_cap(tmp_path: Path) -> None:
    """Three calls at once with room for two: the third is refused while the others are paid
    for, not after (the estimates of calls in flight are reserved, and add up)."""
    slow = LocalSettings(short_side=32, price_per_image=PRICE, image_latency=0.5)
    store = LocalStore(tmp_path / "store")
    budget = Budget(per_video=2.5 * PRICE, total=2.5 * PRICE)
    generator = Generator(local_provider(slow), store, "first", budget=budget)
    outcomes: list[str] = []

    def call(n: int) -> None:
        try:
            generator.image(_request(n), label=f"image {n}")
            outcomes.append("paid")
        except BudgetExceededError:
            outcomes.append("refused")

    threads = [threading.Thread(target=call, args=(n,)) for n in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["paid", "paid", "refused"]
    # Once settled, the reservations are gone: the ledger alone holds the spend.
    assert _spent(store, layout.cost_ledger("first")) == 2 * PRICE
    roomy = Generator(local_provider(SETTINGS), store, "first", budget=Budget(per_video=3 * PRICE))
    assert not roomy.image(_request(4), label="image 4").cache_hit


def test_a_call_that_lands_exactly_on_the_cap_is_allowed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    generator = _generator(store, "first", Budget(per_video=2 * PRICE, total=2 * PRICE))
    generator.image(_request(1), label="image 1")
    generator.image(_request(2), label="image 2")
    with pytest.raises(BudgetExceededError) as stopped:
        generator.image(_request(3), label="image 3")
    assert str(stopped.value).startswith(f"budget: image 3 would cost up to ${PRICE:.4f}")
    assert "nothing was paid for it. Raise the cap (budget config) and render again: " in str(
        stopped.value
    )
    failed = json.loads((store.root / layout.manifest("first")).read_text())
    [failure] = failed["failures"]
    assert failure["what"] == "image 3" and failure["message"] in str(stopped.value)


def test_a_free_call_adds_no_ledger_line(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    free = LocalSettings(short_side=32)
    generator = Generator(local_provider(free), store, "first", budget=Budget(per_video=0.0))
    generator.image(_request(1), label="image 1")
    assert not (store.root / layout.cost_ledger("first")).exists()
    assert not (store.root / "logs" / "costs.jsonl").exists()
