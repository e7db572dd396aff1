// One tuning study's page: draws the best-so-far curve and the param-vs-value scatter from
// /api/studies/NAME, and while a trial is running fetches it again every refresh_ms to
// redraw them and the tables, without reloading the page.
(function () {
  "use strict";
  const root = document.getElementById("study");
  if (!root) return;
  const select = document.getElementById("param-select");
  const charts = {};
  let data = null;

  function number(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
    return typeof v === "string" ? v : JSON.stringify(v);
  }

  function took(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    if (seconds < 60) return seconds.toFixed(1) + "s";
    const m = Math.floor(seconds / 60), h = Math.floor(m / 60);
    const pad = (n) => String(n).padStart(2, "0");
    return h ? h + "h" + pad(m % 60) + "m" : m + "m" + pad(Math.floor(seconds) % 60) + "s";
  }

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function statusBadge(state) {
    const span = document.createElement("span");
    span.className = "status " + state;
    span.textContent = state;
    return span;
  }

  function draw(id, key, options, columns) {
    const el = document.getElementById(id);
    const empty = !columns[0].length;
    el.classList.toggle("empty", empty);
    if (empty) {
      if (charts[id]) { charts[id].destroy(); delete charts[id]; }
      el.textContent = "no completed trial yet";
      return;
    }
    if (charts[id] && charts[id].cairnKey === key) {
      charts[id].setData(columns);
      return;
    }
    if (charts[id]) charts[id].destroy();
    el.textContent = "";
    options.width = Math.max(320, el.clientWidth || 640);
    options.height = 280;
    charts[id] = new uPlot(options, columns, el);
    charts[id].cairnKey = key;
  }

  const dots = (stroke) => ({ stroke, paths: () => null, points: { show: true, size: 7, fill: stroke } });

  function drawCurve() {
    const curve = data.best_so_far;
    draw("best-curve", "curve", {
      scales: { x: { time: false } },
      axes: [{ label: "trial" }, { label: data.study.metric, values: (u, splits) => splits.map(number) }],
      series: [
        { label: "trial" },
        Object.assign({ label: data.study.metric }, dots("#9aa3b5")),
        { label: "best so far", stroke: "#2f6fde", width: 2 },
      ],
    }, [curve.number, curve.value, curve.best]);
  }

  function drawScatter() {
    const param = data.params.find((p) => p.name === select.value);
    if (!param) return;
    const shown = data.trials.filter((t) => (t.state === "completed" || t.state === "pruned")
      && typeof t.value === "number" && param.name in t.params);
    const categories = param.numeric ? null
      : [...new Set(shown.map((t) => JSON.stringify(t.params[param.name])))].sort();
    const x = (t) => (param.numeric ? t.params[param.name] : categories.indexOf(JSON.stringify(t.params[param.name])));
    const points = shown.filter((t) => !param.log || x(t) > 0).sort((a, b) => x(a) - x(b));
    const xs = points.map(x);
    const value = (state) => points.map((t) => (t.state === state ? t.value : null));
    const scale = { time: false };
    if (param.log) scale.distr = 3;
    if (categories) scale.range = () => [-0.5, categories.length - 0.5];
    const axis = { label: param.name, values: (u, splits) => splits.map(number) };
    if (categories) {
      const label = (s) => (Number.isInteger(s) && categories[s] !== undefined ? number(JSON.parse(categories[s])) : "");
      axis.values = (u, splits) => splits.map(label);
    }
    draw("param-scatter", param.name, {
      scales: { x: scale },
      axes: [axis, { label: data.study.metric, values: (u, splits) => splits.map(number) }],
      series: [{ label: param.name }, Object.assign({ label: "completed" }, dots("#2f6fde")),
               Object.assign({ label: "pruned" }, dots("#c7ccd6"))],
    }, [xs, value("completed"), value("pruned")]);
  }

  function fillStates() {
    const body = document.querySelector("#study-states tbody");
    body.replaceChildren();
    for (const [state, n] of Object.entries(data.states)) {
      const row = body.insertRow();
      row.dataset.state = state;
      const th = document.createElement("th");
      th.appendChild(statusBadge(state));
      row.appendChild(th);
      cell(row, String(n), "num");
    }
  }

  function fillBest() {
    const el = document.getElementById("study-best");
    el.replaceChildren();
    const best = data.best;
    if (!best) {
      const span = document.createElement("span");
      span.className = "empty";
      span.textContent = "no completed trial yet";
      el.appendChild(span);
      return;
    }
    el.append("best " + data.study.metric + " ");
    const b = document.createElement("b");
    b.textContent = number(best.value);
    const link = document.createElement("a");
    link.href = "/runs/" + best.run_id;
    link.textContent = String(best.number);
    const params = Object.keys(best.params).sort().map((k) => k + "=" + number(best.params[k])).join(", ");
    el.append(b, " in trial ", link, " with " + params);
  }

  function fillTrials() {
    const table = document.getElementById("trials-table");
    const head = table.tHead.rows[0];
    head.replaceChildren();
    const headings = [["trial", "num"], ["state"], [data.study.metric, "num"],
      ...data.params.map((p) => [p.name, "param"]), ["took"], ["run"]];
    for (const [text, className] of headings) {
      const th = document.createElement("th");
      th.textContent = text;
      if (className) th.className = className;
      head.appendChild(th);
    }
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const t of data.trials) {
      const row = body.insertRow();
      row.dataset.trial = t.number;
      cell(row, String(t.number), "num");
      row.insertCell().appendChild(statusBadge(t.state));
      cell(row, number(t.value), "num");
      for (const p of data.params) cell(row, p.name in t.params ? number(t.params[p.name]) : "", "num");
      cell(row, took(t.duration));
      const link = document.createElement("a");
      link.href = "/runs/" + t.run_id;
      link.textContent = t.run_id.slice(-6);
      row.insertCell().appendChild(link);
    }
  }

  function render(first) {
    document.getElementById("study-live").hidden = !data.live;
    root.dataset.live = String(data.live);
    if (!first) {
      fillStates();
      fillBest();
      fillTrials();
      const chosen = select.value;
      select.replaceChildren(...data.params.map((p) => new Option(p.name, p.name, false, p.name === chosen)));
    }
    drawCurve();
    drawScatter();
  }

  async function load(first) {
    if (!document.body.contains(root)) return; // the page was left (htmx swapped it out)
    try {
      const response = await fetch(root.dataset.api, { headers: { accept: "application/json" } });
      if (!response.ok) throw new Error((await response.json()).error || response.statusText);
      data = await response.json();
      render(first);
    } catch (error) {
      root.dataset.error = String(error.message || error);
    }
    if (data && data.live) setTimeout(() => load(false), data.refresh_ms);
  }

  select.addEventListener("change", drawScatter);
  load(true);
})();
