"""The UI in a real browser: Debian's chromium, headless, driven by Playwright, against the
UI served over a temporary workspace on a loopback socket.

Every wait is Playwright's own (expect, wait_for_function): the tests never sleep. Each page
visited leaves a screenshot in tests/artifacts/ for a person to look at."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Locator, Page, expect
from sklearn.linear_model import LogisticRegression

import cairn
from cairn import models
from tests.ui.browsing import log_runs, ui_server
from tests.ui.conftest import Tab

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def wait_for_query(page: Page, name: str, value: str) -> None:
    """Until the address bar's `?name=` is `value` (htmx pushes it without a navigation)."""
    page.wait_for_function(
        "([name, value]) => new URLSearchParams(location.search).get(name) === value",
        arg=[name, value],
    )


def assert_clean(tab: Tab, base: str) -> None:
    """Nothing went wrong on the console, no server fault, nothing fetched from elsewhere."""
    assert tab.faults == []
    assert tab.errors == []
    assert tab.foreign_requests(base) == []


def run_names(page: Page) -> Locator:
    return page.locator("#runs-table tbody tr td:nth-child(2) a")


def test_experiments_page_links_to_runs_table_offline(workspace, tab: Tab) -> None:
    log_runs(2, experiment="digits", steps=2)
    log_runs(1, experiment="mnist", steps=2)
    page = tab.page
    with ui_server() as base:
        page.goto(base + "/")
        expect(page.locator("#experiments tbody tr")).to_have_count(2)
        # htmx came from the UI's own /static (the page works offline) and runs
        assert page.evaluate("typeof htmx") == "object"
        shoot(page, "experiments")
        page.locator("#experiments a", has_text="digits").click()
        expect(page).to_have_url(re.compile(r"/runs\?experiment=digits$"))
        expect(page.locator("h1")).to_have_text("Runs in digits")
        expect(run_names(page)).to_have_text(["train-1", "train-0"])
    assert_clean(tab, base)
    assert any(url.startswith(base + "/static/vendor/htmx/") for url in tab.requests)


def test_runs_filter_swaps_the_table_in_place_and_pushes_the_url(workspace, tab: Tab) -> None:
    log_runs(3, steps=2)
    page = tab.page
    with ui_server() as base:
        page.goto(base + "/runs?experiment=digits")
        expect(run_names(page)).to_have_count(3)
        page.evaluate("window.sameDocument = true")  # gone if the page were reloaded
        page.fill("form.query input[name=filter]", "params.C > 0.15")
        page.click("form.query button[type=submit]")
        expect(run_names(page)).to_have_text(["train-2", "train-1"])
        expect(page.locator("#runs .summary")).to_contain_text("2 run(s)")
        wait_for_query(page, "filter", "params.C > 0.15")
        assert page.evaluate("window.sameDocument") is True
        shoot(page, "runs-filtered")
    assert_clean(tab, base)


def test_a_bad_filter_shows_an_inline_error(workspace, tab: Tab) -> None:
    log_runs(1, steps=2)
    page = tab.page
    with ui_server() as base:
        page.goto(base + "/runs")
        page.fill("form.query input[name=filter]", "params.C >>> 1")
        page.click("form.query button[type=submit]")
        expect(page.get_by_role("alert")).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text("bad filter")
        expect(page.locator("form.query")).to_be_visible()  # still on the table, fix and retry
        shoot(page, "runs-bad-filter")
    assert tab.faults == []


def test_with_auth_a_page_without_a_token_is_refused_until_one_signs_in(
    workspace, tab: Tab
) -> None:
    from cairn.auth import grant, init

    init()
    (run_id,) = log_runs(1, steps=2)
    page = tab.page
    with ui_server(auth=True) as base:
        refused = page.goto(base + "/runs?experiment=digits")
        assert refused is not None and refused.status == 401
        expect(page.locator("#runs-table")).to_have_count(0)
        page.fill("textarea[name=token]", grant("alice", ["read:experiment/digits"], ttl="1h"))
        page.click("button[type=submit]")
        expect(page.locator("#runs-table")).to_contain_text("train-0")
        assert page.url == base + "/runs?experiment=digits"  # back where it was refused
        shoot(page, "signed-in")
        other = page.goto(base + "/models")
        assert other is not None and other.status == 403  # signed in, but not for models
        assert page.goto(f"{base}/runs/{run_id}").status == 200


def test_clicking_a_metric_header_sorts_by_it_both_ways(workspace, tab: Tab) -> None:
    log_runs(3)  # the last loss falls with the run's index; the newest run is shown first
    page = tab.page
    with ui_server() as base:
        page.goto(base + "/runs?experiment=digits")
        expect(run_names(page)).to_have_text(["train-2", "train-1", "train-0"])
        loss = page.locator("#runs-table th.metric a", has_text="loss")
        loss.click()
        expect(run_names(page)).to_have_text(["train-0", "train-1", "train-2"])
        expect(loss).to_contain_text("▲")
        wait_for_query(page, "order_by", "metrics.`loss` asc")
        loss.click()
        expect(run_names(page)).to_have_text(["train-2", "train-1", "train-0"])
        expect(loss).to_contain_text("▼")
    assert_clean(tab, base)


def test_pages_of_fifty_next_and_previous(workspace, tab: Tab) -> None:
    log_runs(120, steps=1)
    page = tab.page
    names = run_names(page)
    summary = page.locator("#runs .summary")
    with ui_server() as base:
        page.goto(base + "/runs?per_page=50")
        expect(summary).to_contain_text("120 run(s), page 1 of 3")
        expect(names).to_have_count(50)
        first = names.all_inner_texts()
        page.click("nav.pages a[rel=next]")
        expect(summary).to_contain_text("page 2 of 3")
        expect(names).to_have_count(50)
        second = names.all_inner_texts()
        assert not set(first) & set(second)
        wait_for_query(page, "page", "2")
        page.click("nav.pages a[rel=next]")
        expect(summary).to_contain_text("page 3 of 3")
        expect(names).to_have_count(20)
        expect(page.locator("nav.pages a[rel=next]")).to_have_count(0)
        assert len(set(first + second + names.all_inner_texts())) == 120
        page.click("nav.pages a[rel=prev]")
        expect(summary).to_contain_text("page 2 of 3")
        expect(names).to_have_text(second)
    assert_clean(tab, base)


# A uPlot or Cytoscape canvas is "drawn" when pixels of a series' own colour are on it: the
# axes and grid alone are grey, so a chart without its data does not pass.
COLOURED_PIXELS = """([selector, rgb]) => {
  let n = 0;
  for (const canvas of document.querySelectorAll(selector)) {
    if (!canvas.width || !canvas.height) continue;
    const d = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 200 && Math.abs(d[i] - rgb[0]) < 12 && Math.abs(d[i + 1] - rgb[1]) < 12
          && Math.abs(d[i + 2] - rgb[2]) < 12) n++;
    }
  }
  return n;
}"""
ACCENT = (47, 111, 222)  # app.css --accent (#2f6fde), the colour of a chart's main series


def wait_until_drawn(page: Page, selector: str, rgb: tuple[int, int, int] = ACCENT) -> None:
    page.wait_for_function(f"(args) => ({COLOURED_PIXELS})(args) > 20", arg=[selector, list(rgb)])


def test_lineage_graph_draws_and_a_click_on_a_node_opens_its_dataset(workspace, tab: Tab) -> None:
    x = np.random.default_rng(0).normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(int)
    dataset = cairn.datasets.save("train", {"X": x, "y": y})
    with cairn.start_run("fit", experiment="digits") as fit:
        data = cairn.datasets.load("train")
        models.register("digits", LogisticRegression().fit(data["X"], data["y"]), owner="alice")
    page = tab.page
    graph = page.locator("#lineage-graph")
    with ui_server() as base:
        page.goto(f"{base}/runs/{fit.id}")
        page.locator("p.meta a", has_text="lineage").click()  # a boosted link: scripts rerun
        expect(graph).to_have_attribute("data-state", "drawn")
        expect(graph).to_have_attribute("data-nodes", "3")  # train:1 -> fit -> digits/1
        expect(graph).to_have_attribute("data-edges", "2")
        expect(graph).to_be_visible()  # a box of some height: Cytoscape draws into its size
        wait_until_drawn(page, "#lineage-graph canvas", (222, 243, 228))  # a dataset's fill
        shoot(page, "lineage")
        graph.scroll_into_view_if_needed()
        x_at, y_at = page.evaluate(
            """(id) => {
              const cy = window.cairnLineage, at = cy.getElementById(id).renderedPosition();
              const box = cy.container().getBoundingClientRect();
              return [box.left + at.x, box.top + at.y];
            }""",
            dataset.node,
        )
        page.mouse.click(x_at, y_at)
        expect(page).to_have_url(f"{base}/datasets/train")
        expect(page.locator("h1")).to_contain_text("train")
    assert_clean(tab, base)


def quadratic_x(trial) -> float:
    return -((trial.params["x"] - 0.3) ** 2)


def tune(name: str, objective, trials: int) -> None:
    cairn.tune(objective, {"x": cairn.uniform(0, 1)}, "score", "max", n_trials=trials,
               executor="thread", scheduler=None, name=name, seed=1)  # fmt: skip


def test_a_study_draws_its_best_so_far_curve(workspace, tab: Tab) -> None:
    tune("quad", quadratic_x, 6)
    page = tab.page
    with ui_server() as base:
        page.goto(f"{base}/studies/quad")
        expect(page.locator("#trials-table tbody tr")).to_have_count(6)
        wait_until_drawn(page, "#best-curve canvas")
        wait_until_drawn(page, "#param-scatter canvas")
        shoot(page, "study")
    assert_clean(tab, base)


def test_a_running_study_updates_without_a_reload(workspace, tab: Tab) -> None:
    started, release = threading.Event(), threading.Event()

    def held(trial) -> float:
        started.set()
        if not release.wait(60):
            raise TimeoutError("the test never released the trial")
        return trial.params["x"]

    tuner = threading.Thread(target=tune, args=("slow", held, 1))
    page = tab.page
    with ui_server() as base:
        tuner.start()
        try:
            assert started.wait(60)
            page.goto(f"{base}/studies/slow")
            expect(page.locator("#study-live")).to_be_visible()
            expect(page.locator("#trials-table tbody tr .status")).to_have_text("running")
            page.evaluate("window.sameDocument = true")
        finally:
            release.set()
            tuner.join(60)
        expect(page.locator("#study-live")).to_be_hidden()
        expect(page.locator("#trials-table tbody tr .status")).to_have_text("completed")
        expect(page.locator("#study-best")).to_contain_text("best score")
        expect(page.locator("#best-curve canvas")).to_have_count(1)  # one point: no line yet
        assert page.evaluate("window.sameDocument") is True
    assert_clean(tab, base)


def test_promotion_refused_inline_then_allowed_with_its_audit_entry(workspace, tab: Tab) -> None:
    x = np.random.default_rng(0).normal(size=(40, 3))
    models.register("digits", LogisticRegression().fit(x, x[:, 0] > 0), owner="alice")
    models.add_gate("digits", "production", models.gates.custom(
        "tests.models.gate_functions:refuse", why="not on a Friday"))  # fmt: skip
    page = tab.page
    form, result = page.locator("#promote-form"), page.locator("#promote-result")
    with ui_server() as base:
        page.goto(f"{base}/models/digits")
        form.locator("input[name=alias]").fill("production")
        form.locator("button[type=submit]").click()
        expect(result.get_by_role("alert")).to_contain_text("Refused")
        expect(result.get_by_role("alert")).to_contain_text("not on a Friday")
        expect(page.locator("#audit-table tr[data-action='gate.run']")).to_have_count(1)
        expect(page.locator("#aliases-table")).to_have_count(0)  # nothing moved
        shoot(page, "model-refused")
        form.locator("input[name=alias]").fill("staging")
        form.locator("button[type=submit]").click()
        expect(result.locator(".moved")).to_contain_text("digits@staging")
        expect(page.locator("#aliases-table tr[data-alias='staging'] td.num")).to_have_text("1")
        expect(page.locator("#audit-table tr[data-action='alias.set']")).to_have_count(1)
        expect(page).to_have_url(f"{base}/models/digits")
    assert_clean(tab, base)


# charts.js colours the n-th line hsl(215 + 137.508 n, 65%, 42%): the first two, in RGB.
FIRST_LINE, SECOND_LINE = (38, 96, 177), (177, 38, 55)


def legend_at(page: Page, key: str, fraction: float) -> tuple[int, str]:
    """The step and the value uPlot's legend shows for the chart of `key` with the mouse at
    `fraction` of the plot's width (moved away first, so the legend is read afresh)."""
    chart = page.locator(f'.chart[data-key="{key}"]')
    page.mouse.move(0, 0)
    box = chart.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + fraction * box["width"], box["y"] + box["height"] / 2)
    values = chart.locator(".u-legend .u-series .u-value")
    expect(values.first).not_to_have_text("--")
    return int(values.nth(0).inner_text()), values.nth(1).inner_text()


def debiased_ema(values: list[float], weight: float) -> list[float]:
    out, last = [], 0.0
    for n, v in enumerate(values, 1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight**n))
    return out


def test_run_charts_draw_and_smoothing_and_log_scale_change_them(workspace, tab: Tab) -> None:
    gap = [float(step - 10) for step in range(40)]  # below zero before step 10: no log
    with cairn.start_run("curves", experiment="digits") as run:
        for step, value in enumerate(gap):
            run.log({"gap": value, "loss": 2.0**-step}, step=step)
    page = tab.page
    with ui_server() as base:
        page.goto(f"{base}/runs/{run.id}")
        for key in ("gap", "loss"):
            expect(page.locator(f'.chart[data-key="{key}"]')).to_have_attribute("data-points", "40")
        wait_until_drawn(page, '.chart[data-key="gap"] canvas', FIRST_LINE)
        wait_until_drawn(page, '.chart[data-key="loss"] canvas', FIRST_LINE)
        shoot(page, "run")
        step, value = legend_at(page, "gap", 0.1)
        assert step < 10 and float(value) == gap[step]
        page.locator("#smoothing").fill("0.9")
        expect(page.locator("#smoothing-value")).to_have_text("0.9")
        smoothed = legend_at(page, "gap", 0.1)
        assert smoothed[0] == step
        assert float(smoothed[1]) == pytest.approx(debiased_ema(gap, 0.9)[step], abs=1e-3)
        page.locator("#smoothing").fill("0")
        page.locator("#log-scale").check()
        high = legend_at(page, "gap", 0.9)
        assert float(high[1]) == gap[high[0]] > 0  # a positive value keeps its place
        low = legend_at(page, "gap", 0.1)
        assert low[0] == step and low[1] in ("", "--")  # below zero: none on a log scale
        shoot(page, "run-log-scale")
        page.locator("#log-scale").uncheck()
        assert legend_at(page, "gap", 0.1) == (step, value)
    assert_clean(tab, base)


def test_a_running_run_s_charts_get_new_points_without_a_reload(workspace, tab: Tab) -> None:
    page = tab.page
    loss = page.locator('.chart[data-key="loss"]')
    with ui_server() as base, cairn.start_run("live", experiment="digits") as run:
        for step in range(5):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        run.flush()
        page.goto(f"{base}/runs/{run.id}")
        expect(loss).to_have_attribute("data-points", "5")
        page.evaluate("window.sameDocument = true")
        for step in range(5, 12):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        run.log({"acc": 0.5}, step=11)  # a metric the page has not seen yet
        run.flush()
        expect(loss).to_have_attribute("data-points", "12", timeout=15_000)
        expect(page.locator('.chart[data-key="acc"]')).to_have_attribute("data-state", "drawn")
        run.end()
        expect(page.locator("#run-status")).to_have_text("finished", timeout=15_000)
        assert page.evaluate("window.sameDocument") is True
    assert_clean(tab, base)


def test_two_runs_chosen_in_the_table_are_compared_with_their_curves_overlaid(
    workspace, tab: Tab
) -> None:
    log_runs(2)
    page = tab.page
    with ui_server() as base:
        page.goto(f"{base}/runs?experiment=digits")
        page.get_by_label("compare train-0").check()
        page.get_by_label("compare train-1").check()
        page.get_by_role("button", name="Compare selected").click()
        expect(page.locator("h1")).to_contain_text("Compare 2 run(s)")
        expect(page.locator("#params-compare tr.diff[data-param='C']")).to_have_count(1)
        expect(page.locator("#params-compare tr.diff[data-param='kind']")).to_have_count(0)
        loss = page.locator('#compare-charts .chart[data-key="loss"]')
        expect(loss).to_have_attribute("data-state", "drawn")
        expect(loss).to_have_attribute("data-runs", "2")
        wait_until_drawn(page, '#compare-charts .chart[data-key="loss"] canvas', FIRST_LINE)
        wait_until_drawn(page, '#compare-charts .chart[data-key="loss"] canvas', SECOND_LINE)
        expect(page.locator("#at-step tbody tr")).to_have_count(2)
        shoot(page, "compare")
    assert_clean(tab, base)


def test_every_page_in_the_nav_opens_cleanly_and_leads_to_its_items(workspace, tab: Tab) -> None:
    x = np.random.default_rng(0).normal(size=(40, 3))
    cairn.datasets.save("train", {"X": x})
    models.register("digits", LogisticRegression().fit(x, x[:, 0] > 0), owner="alice")
    tune("quad", quadratic_x, 2)
    page = tab.page
    pages = [  # (nav link, its heading, an item it lists, that item's heading)
        ("Runs", "Runs", None, None),
        ("Datasets", "Datasets", "train", "Dataset train"),
        ("Studies", "Tuning studies", "quad", "quad"),
        ("Models", "Models", "digits", "digits"),
        ("Endpoints", "Endpoints", None, None),
    ]
    with ui_server() as base:
        page.goto(base + "/")
        for link, heading, item, item_heading in pages:
            page.locator("nav.top").get_by_role("link", name=link, exact=True).click()
            expect(page.locator("h1")).to_have_text(heading)
            expect(page.locator("nav.top a.here")).to_have_text(link)
            shoot(page, link.lower())
            if item is not None:
                page.locator("main").get_by_role("link", name=item, exact=True).first.click()
                expect(page.locator("h1")).to_contain_text(item_heading)
                shoot(page, f"{link.lower()}-{item}")
    assert_clean(tab, base)
