// Metric charts (uPlot) for the run and compare pages.
//
// The server sends each series downsampled to buckets with their mean, min and max; a
// chart draws the mean and, where buckets hold more than one value, the min-max band, so a
// spike never disappears. Smoothing (EMA) and the log scale are applied here, to what was
// sent. Drag on a chart to zoom, double-click to reset (uPlot's own behaviour).
//
// htmx's boosted navigation does not run a new page's <head> scripts, so the pages load
// this file at the end of their <main>; it may run several times in one document, hence
// the guard and everything kept inside this function.
(function () {
  "use strict";
  if (window.cairnCharts) {
    window.cairnCharts.init(document);
    return;
  }

  const HEIGHT = 260;
  const POLL_MS = 2000;
  const BAND_RUNS = 10; // compare charts draw min-max bands for at most this many runs
  const PARALLEL_FETCHES = 4;
  const charts = new Map(); // element -> its chart, to resize and redraw when a control changes

  function color(i, alpha) {
    const hue = (i * 137.508 + 215) % 360;
    return alpha === undefined ? `hsl(${hue}, 65%, 42%)` : `hsla(${hue}, 65%, 42%, ${alpha})`;
  }

  function settings() {
    const smoothing = document.getElementById("smoothing");
    const log = document.getElementById("log-scale");
    return {
      smoothing: smoothing ? Number(smoothing.value) : 0,
      log: log ? log.checked : false,
    };
  }

  // Exponential moving average with TensorBoard's debiasing, so the start is not pulled to 0.
  // Gaps (null) stay gaps.
  function ema(values, weight) {
    if (!weight) return values;
    const out = new Array(values.length);
    let last = 0;
    let n = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || v === undefined) {
        out[i] = null;
        continue;
      }
      last = last * weight + (1 - weight) * v;
      n += 1;
      out[i] = last / (1 - Math.pow(weight, n));
    }
    return out;
  }

  // A log scale has no place for zero or less: such values become gaps.
  function positive(values) {
    return values.map((v) => (v !== null && v > 0 ? v : null));
  }

  // Axis labels that stay readable on a log scale, where uPlot's own round small values to 0.
  function ticks(u, splits) {
    return splits.map((v) => {
      if (v === null || v === undefined) return "";
      const size = Math.abs(v);
      return v !== 0 && (size < 1e-3 || size >= 1e6) ? v.toExponential(1) : String(+v.toPrecision(6));
    });
  }

  async function fetchJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || `${response.status} ${url}`);
    return body;
  }

  async function inTurns(items, work) {
    const queue = items.slice();
    const workers = Array.from({ length: Math.min(PARALLEL_FETCHES, queue.length) }, async () => {
      while (queue.length) await work(queue.shift());
    });
    await Promise.all(workers);
  }

  function showError(el, error) {
    el.dataset.state = "error";
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = `${el.dataset.key || "chart"}: ${error.message}`;
    el.replaceChildren(p);
  }

  // A chart in `el` of lines sharing x values. Each line: {label, values, min, max, color,
  // band}; a band is drawn between its min and max.
  class LineChart {
    constructor(el, title, xLabel, bandsInLegend) {
      this.el = el;
      this.bandsInLegend = bandsInLegend;
      this.title = title;
      this.xLabel = xLabel;
      this.zoomed = false;
      this.plot = null;
      this.xs = [];
      this.lines = [];
      this.log = null;
      charts.set(el, this);
    }

    update(xs, lines) {
      this.xs = xs;
      this.lines = lines;
      this.render();
    }

    render() {
      const { smoothing, log } = settings();
      const adjust = (values) => (log ? positive(values) : values);
      const data = [this.xs];
      this.lines.forEach((line) => {
        data.push(adjust(ema(line.values, smoothing)));
        if (line.band) data.push(adjust(line.max), adjust(line.min));
      });
      if (this.plot && this.log === log && this.plot.series.length === data.length) {
        this.plot.setData(data, !this.zoomed);
      } else {
        this.draw(data, log);
      }
      this.el.dataset.state = "drawn";
      this.el.dataset.points = String(this.xs.length);
    }

    draw(data, log) {
      if (this.plot) this.plot.destroy();
      this.el.replaceChildren();
      this.log = log;
      this.zoomed = false;
      const series = [{ label: this.xLabel }];
      const bands = [];
      const hidden = []; // legend rows of band edges, left out where many runs share a chart
      this.lines.forEach((line) => {
        series.push({ label: line.label, stroke: line.color, width: 1.5 });
        if (line.band) {
          // Faint edges as well as the fill: a one-bucket spike is too narrow to see filled.
          const max = series.length;
          const edge = { stroke: line.fill, width: 1, points: { show: false } };
          series.push({ ...edge, label: `${line.label} max` }, { ...edge, label: `${line.label} min` });
          bands.push({ series: [max, max + 1], fill: line.fill });
          if (!this.bandsInLegend) hidden.push(max, max + 1);
        }
      });
      const opts = {
        title: this.title,
        width: Math.max(this.el.clientWidth, 300),
        height: HEIGHT,
        scales: { x: { time: false }, y: log ? { distr: 3 } : {} },
        axes: [{ label: this.xLabel }, { values: ticks, size: 60 }],
        series,
        bands,
        legend: { show: this.lines.length <= 20 },
        cursor: { drag: { x: true, y: false } },
        hooks: {
          setSelect: [(u) => { if (u.select.width > 0) this.zoomed = true; }],
          init: [(u) => {
            const rows = u.root.querySelectorAll(".u-legend .u-series");
            hidden.forEach((i) => { if (rows[i]) rows[i].style.display = "none"; });
          }],
        },
      };
      this.plot = new uPlot(opts, data, this.el);
      this.plot.over.addEventListener("dblclick", () => { this.zoomed = false; });
    }

    resize() {
      if (this.plot) this.plot.setSize({ width: Math.max(this.el.clientWidth, 300), height: HEIGHT });
    }
  }

  // ---- a run's page: one chart per metric, live while the run is running ----

  function runLine(series) {
    return {
      label: series.key,
      values: series.value,
      min: series.min,
      max: series.max,
      color: color(0),
      fill: color(0, 0.18),
      band: series.downsampled,
    };
  }

  async function runCharts(root) {
    const run = root.dataset.run;
    const byKey = new Map();

    function chartFor(key) {
      let el = root.querySelector(`.chart[data-key="${CSS.escape(key)}"]`);
      if (!el) {
        el = document.createElement("div");
        el.className = "chart";
        el.dataset.key = key;
        root.append(el);
      }
      if (!byKey.has(key)) byKey.set(key, new LineChart(el, key, "step", true));
      return byKey.get(key);
    }

    async function load(key) {
      const chart = chartFor(key);
      try {
        const series = await fetchJSON(`/api/runs/${run}/metrics/${encodeURIComponent(key)}`);
        chart.update(series.step, [runLine(series)]);
        chart.el.dataset.downsampled = String(series.downsampled);
      } catch (error) {
        showError(chart.el, error);
      }
    }

    const keys = Array.from(root.querySelectorAll(".chart[data-key]"), (el) => el.dataset.key);
    await inTurns(keys, load);
    if (root.dataset.status !== "running") return;

    // Live: new points (and new metrics) every POLL_MS until the run ends or the page goes.
    while (root.isConnected) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (!root.isConnected) return;
      let status;
      try {
        const state = await fetchJSON(`/api/runs/${run}/metrics`);
        status = state.status;
        await inTurns(Object.keys(state.metrics), load);
      } catch (error) {
        continue; // a failed poll is retried at the next tick
      }
      if (status !== "running") {
        root.dataset.status = status;
        const badge = document.getElementById("run-status");
        if (badge) {
          badge.textContent = status;
          badge.className = `status ${status}`;
        }
        return;
      }
    }
  }

  // ---- the compare page: one chart per metric, one curve per run; a scatter ----

  async function compareCharts(root) {
    const query = root.dataset.query;
    const names = JSON.parse(root.dataset.names || "{}");
    const els = Array.from(root.querySelectorAll(".chart[data-key]"));
    await inTurns(els, async (el) => {
      const chart = new LineChart(el, el.dataset.key, "step", false);
      try {
        const curves = await fetchJSON(`/api/compare/curves?${query}&metric=${encodeURIComponent(el.dataset.key)}`);
        const ids = Object.keys(curves.runs);
        const band = curves.downsampled && ids.length <= BAND_RUNS;
        const lines = ids.map((id, i) => ({
          label: names[id] ? `${names[id]} ${id.slice(-6)}` : id,
          values: curves.runs[id].value,
          min: curves.runs[id].min,
          max: curves.runs[id].max,
          color: color(i),
          fill: color(i, 0.15),
          band,
        }));
        chart.update(curves.step, lines);
        el.dataset.runs = String(ids.length);
      } catch (error) {
        showError(el, error);
      }
    });
  }

  async function scatter(el) {
    const { param, metric, pick } = el.dataset;
    try {
      const query = new URLSearchParams({ param, metric, pick });
      const found = await fetchJSON(`/api/compare/scatter?${el.dataset.query}&${query}`);
      charts.set(el, new Scatter(el, found));
    } catch (error) {
      showError(el, error);
    }
  }

  // A little room on either side, so that the outermost points are drawn whole.
  function padded(u, low, high) {
    const pad = (high - low) * 0.04 || Math.abs(low) * 0.1 || 1;
    return [low - pad, high + pad];
  }

  // A param against a metric, one point per run. A param that is not a number everywhere is
  // drawn as categories, in sorted order. A click on a point opens its run.
  class Scatter {
    constructor(el, found) {
      this.el = el;
      this.found = found;
      this.plot = null;
      this.render();
    }

    render() {
      const { el, found } = this;
      const kept = found.x.map((x, i) => i).filter((i) => found.x[i] !== null && found.y[i] !== null);
      const numeric = kept.every((i) => typeof found.x[i] === "number");
      const text = (v) => (typeof v === "string" ? v : JSON.stringify(v));
      const categories = numeric ? [] : Array.from(new Set(kept.map((i) => text(found.x[i])))).sort();
      const position = (v) => (numeric ? v : categories.indexOf(text(v)));
      kept.sort((a, b) => position(found.x[a]) - position(found.x[b]));
      const xs = kept.map((i) => position(found.x[i]));
      const ys = kept.map((i) => found.y[i]);
      const runs = kept.map((i) => found.run[i]);
      const { log } = settings();
      const xAxis = { label: found.param };
      if (!numeric) {
        xAxis.splits = () => categories.map((_, i) => i);
        xAxis.values = (u, splits) => splits.map((s) => categories[s] ?? "");
      }
      const describe = (u, v, s, i) => (i === null ? "" : `${runs[i]}: ${numeric ? v : categories[v]}`);
      const opts = {
        title: `${found.metric} (${found.pick}) by ${found.param}: ${kept.length} of ${found.runs} runs`,
        width: Math.max(el.clientWidth, 300),
        height: HEIGHT + 60,
        scales: {
          x: numeric ? { time: false, range: padded } : { time: false, range: [-0.5, categories.length - 0.5] },
          y: log ? { distr: 3 } : {},
        },
        axes: [xAxis, { label: found.metric, values: ticks, size: 60 }],
        series: [
          { label: found.param, value: describe },
          {
            label: found.metric,
            stroke: color(0),
            paths: () => null,
            points: { show: true, size: 5, stroke: color(0), fill: color(0, 0.5) },
          },
        ],
        cursor: { drag: { x: true, y: true } },
      };
      if (this.plot) this.plot.destroy();
      el.replaceChildren();
      this.plot = new uPlot(opts, [xs, log ? positive(ys) : ys], el);
      this.plot.over.addEventListener("click", () => {
        const i = this.plot.cursor.idx;
        if (i !== null && i !== undefined) window.location.href = `/runs/${runs[i]}`;
      });
      el.dataset.state = "drawn";
      el.dataset.points = String(kept.length);
    }

    resize() {
      this.plot.setSize({ width: Math.max(this.el.clientWidth, 300), height: HEIGHT + 60 });
    }
  }

  // ---- wiring ----

  function init(scope) {
    for (const el of Array.from(charts.keys())) {
      if (!el.isConnected) charts.delete(el);
    }
    scope.querySelectorAll("#charts[data-run]").forEach(runCharts);
    scope.querySelectorAll("#compare-charts[data-query]").forEach(compareCharts);
    scope.querySelectorAll("#scatter[data-param][data-metric]").forEach(scatter);
    const smoothing = document.getElementById("smoothing");
    const shown = document.getElementById("smoothing-value");
    if (smoothing && !smoothing.dataset.wired) {
      smoothing.dataset.wired = "1";
      smoothing.addEventListener("input", () => {
        if (shown) shown.textContent = smoothing.value;
        charts.forEach((chart) => chart.render());
      });
    }
    const log = document.getElementById("log-scale");
    if (log && !log.dataset.wired) {
      log.dataset.wired = "1";
      log.addEventListener("change", () => charts.forEach((chart) => chart.render()));
    }
  }

  window.cairnCharts = { init, ema };
  window.addEventListener("resize", () => charts.forEach((chart) => chart.resize()));
  // Back and forward restore a page's saved HTML, whose canvases come back blank.
  document.addEventListener("htmx:historyRestore", () => {
    charts.clear();
    init(document);
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => init(document));
  } else {
    init(document);
  }
})();
