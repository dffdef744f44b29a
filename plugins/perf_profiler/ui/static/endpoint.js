/* Endpoint page: p50/p95/p99 with the budget, throughput and error rate (GET api/endpoint), and one or
   two runs' latency distributions as percentile spectra (GET api/distribution), drawn by Plotly. */
"use strict";
(function () {
  const P = window.PerfProfiler;
  const cfg = P.config;
  const latencyChart = document.getElementById("latency-chart");
  if (!latencyChart) {
    return; // "No data yet"
  }
  const key = { tenant: cfg.tenant, dag_id: cfg.dag_id, service: cfg.service, endpoint: cfg.endpoint };
  const shown = { primary: null, compare: null };
  const spectra = new Map(); // run_id -> api/distribution answer
  const COLORS = { primary: "#1565c0", compare: "#e65100" };
  // HdrHistogram's percentile plot: x = 1/(1-q) on a log axis, labelled by the percentile it stands for
  const TICKS = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7];
  const TICK_TEXT = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%"];
  // 1-2-5 ticks for a logarithmic latency axis (Plotly shows those inside the range)
  const LOG_TICKS = [0.1, 1, 10, 100, 1e3, 1e4, 1e5].flatMap((decade) => [decade, 2 * decade, 5 * decade]);

  function series(points, field) {
    return { x: points.map((p) => p.measured_at), y: points.map((p) => p[field]) };
  }

  function latencyTraces(data) {
    const points = data.points;
    const runIds = points.map((p) => p.run_id);
    const line = (field, name, color) => Object.assign(series(points, field), {
      name: name, type: "scatter", mode: "lines+markers", customdata: runIds,
      line: { color: color, width: field === "p95_ms" ? 2.5 : 1.5 }, marker: { size: 5 },
      hovertemplate: name + " %{y:.2f} ms<br>%{x}<br>%{customdata}<extra></extra>",
    });
    const traces = [line("p50_ms", "p50", "#90caf9"), line("p95_ms", "p95", "#1565c0"), line("p99_ms", "p99", "#5e35b1")];
    if (data.budget_p95_ms !== null && data.budget_p95_ms !== undefined) {
      const ends = [points[0].measured_at, points[points.length - 1].measured_at];
      traces.push({ x: ends, y: [data.budget_p95_ms, data.budget_p95_ms], name: "budget (p95)", type: "scatter",
        mode: "lines", line: { color: "#c62828", dash: "dash", width: 1.5 }, hoverinfo: "name+y" });
    }
    const marked = (test, name, symbol, color, note) => {
      const chosen = points.filter(test);
      return Object.assign(series(chosen, "p95_ms"), {
        name: name, type: "scatter", mode: "markers", customdata: chosen.map((p) => p.run_id),
        text: chosen.map((p) => (note ? note(p) : "")),
        marker: { symbol: symbol, size: 13, color: color, line: { width: 2, color: color } },
        hovertemplate: name + " p95 %{y:.2f} ms<br>%{x}<br>%{customdata}%{text}<extra></extra>",
      });
    };
    traces.push(marked((p) => p.regression, "regression", "x-thin-open", "#c62828"));
    // perf_trends' change points (the first run of a new level) apart from single-night outliers
    const found = new Map();
    (data.changepoints || []).filter((c) => c.metric === "p95_ms").forEach((c) => found.set(c.kind + " " + c.run_id, c));
    const has = (kind, test) => (p) => {
      const c = found.get(kind + " " + p.run_id);
      return c !== undefined && (!test || test(c));
    };
    // the release that brought the new level (and the one before it), when the service has a version source;
    // a version is the service's text: escaped before it reaches Plotly's hover label (which reads a few tags)
    const escape = (text) => String(text).replace(/[&<>"']/g, (ch) => "&#" + ch.charCodeAt(0) + ";");
    const release = (kind) => (p) => {
      const c = found.get(kind + " " + p.run_id);
      if (!c || !c.first_version) return "";
      const was = c.previous_version && c.previous_version !== c.first_version ? " (was " + c.previous_version + ")" : "";
      return "<br>release " + escape(c.first_version) + escape(was);
    };
    traces.push(marked(has("regression", (c) => c.state !== "suspected"), "change point: regression", "triangle-up-open", "#b71c1c", release("regression")));
    traces.push(marked(has("regression", (c) => c.state === "suspected"), "suspected (awaiting confirmation)", "circle-open", "#e65100", release("regression")));
    traces.push(marked(has("improvement"), "change point: improvement", "triangle-down-open", "#2e7d32", release("improvement")));
    traces.push(marked(has("outlier"), "outlier (one night)", "circle-dot", "#757575"));
    traces.push(marked(has("drift"), "drift", "star-open", "#6d4c41"));
    traces.push(marked((p) => p.origin === "rederived", "re-derived (backfill)", "diamond-open", "#6a1b9a"));
    return traces;
  }

  function drawSeries(data) {
    // A budget far above the measured latencies would flatten them on a linear axis: go logarithmic then.
    const highest = Math.max(...data.points.map((p) => p.p99_ms || 0));
    const logAxis = data.budget_p95_ms > 2.5 * highest && highest > 0;
    Plotly.newPlot(latencyChart, latencyTraces(data), P.layout({
      yaxis: logAxis ? { title: { text: "ms (log)" }, type: "log", tickvals: LOG_TICKS, ticktext: LOG_TICKS.map(String) } : { title: { text: "ms" }, rangemode: "tozero" },
      xaxis: { type: "date" },
    }), P.plotConfig);
    latencyChart.on("plotly_click", (event) => {
      const runId = event.points.length ? event.points[0].customdata : null;
      if (runId) {
        choose(event.event && event.event.shiftKey ? "compare" : "primary", runId);
      }
    });
    const small = (field, name, color, scale) => [Object.assign(series(data.points, field), {
      y: data.points.map((p) => (p[field] === null ? null : p[field] * scale)),
      name: name, type: "scatter", mode: "lines+markers", line: { color: color }, marker: { size: 4 },
      customdata: data.points.map((p) => p.run_id),
    })];
    const smallLayout = P.layout({ showlegend: false, yaxis: { rangemode: "tozero" }, margin: { l: 56, r: 16, t: 8, b: 32 } });
    Plotly.newPlot("throughput-chart", small("throughput", "req/s", "#2e7d32", 1), smallLayout, P.plotConfig);
    // the error-rate series' own change points (issue 15): regressions ▲ and improvements ▼ at their first run
    const errorMarks = (kind, symbol, color) => {
      const runs = new Set((data.changepoints || []).filter((c) => c.metric === "error_rate" && c.kind === kind
        && c.state !== "suspected").map((c) => c.run_id));
      const chosen = data.points.filter((p) => runs.has(p.run_id) && p.error_rate !== null);
      return Object.assign(series(chosen, "error_rate"), {
        y: chosen.map((p) => p.error_rate * 100), name: "error-rate change point: " + kind, type: "scatter",
        mode: "markers", marker: { symbol: symbol, size: 11, color: color, line: { width: 2, color: color } },
        customdata: chosen.map((p) => p.run_id),
        hovertemplate: "error-rate " + kind + " %{y:.2f} %<br>%{x}<br>%{customdata}<extra></extra>",
      });
    };
    Plotly.newPlot("error-chart", [...small("error_rate", "errors %", "#c62828", 100),
      errorMarks("regression", "triangle-up-open", "#b71c1c"), errorMarks("improvement", "triangle-down-open", "#2e7d32")],
    smallLayout, P.plotConfig);
    document.body.dataset.series = String(data.points.length);
  }

  async function spectrum(runId) {
    if (!spectra.has(runId)) {
      spectra.set(runId, await P.getJson("distribution", Object.assign({ run_id: runId }, key)));
    }
    return spectra.get(runId);
  }

  async function choose(role, runId) {
    if (role === "compare" && !shown.primary) {
      role = "primary";
    }
    shown[role] = runId;
    if (role === "primary" && shown.compare === runId) {
      shown.compare = null;
    }
    await drawDistribution();
  }

  async function drawDistribution() {
    const chart = document.getElementById("distribution-chart");
    const roles = ["primary", "compare"].filter((role) => shown[role]);
    let answers;
    try {
      answers = await Promise.all(roles.map((role) => spectrum(shown[role])));
    } catch (error) {
      P.showError(chart, error);
      return;
    }
    const traces = answers.map((answer, i) => ({
      x: answer.spectrum.map((s) => s.inverse_tail),
      y: answer.spectrum.map((s) => s.latency_ms),
      customdata: answer.spectrum.map((s) => s.percentile),
      name: answer.run_id, type: "scatter", mode: "lines", line: { color: COLORS[roles[i]], width: 2 },
      hovertemplate: "p%{customdata:.4f}: %{y:.3f} ms", // the trace's name (the run) shows beside it
    }));
    Plotly.react(chart, traces, P.layout({
      xaxis: { type: "log", title: { text: "percentile" }, tickvals: TICKS, ticktext: TICK_TEXT },
      yaxis: { title: { text: "latency (ms)" }, rangemode: "tozero" },
      showlegend: true,
    }), P.plotConfig);
    fillSummary(roles, answers);
    markButtons();
    chart.dataset.runs = roles.map((role) => shown[role]).join(" ");
  }

  function fillSummary(roles, answers) {
    const body = document.querySelector("#distribution-table tbody");
    body.replaceChildren(...answers.map((answer, i) => {
      const tr = document.createElement("tr");
      tr.dataset.role = roles[i];
      tr.dataset.runId = answer.run_id;
      const last = answer.spectrum.length ? answer.spectrum[answer.spectrum.length - 1].latency_ms : null;
      // percentiles belong to the runs table (the stored values); the spectrum adds its size and maximum
      const cells = [
        [roles[i] === "primary" ? "shown" : "overlay", "role", roles[i]],
        [answer.run_id, "run_id", answer.run_id],
        [answer.measured_at, "measured_at", answer.measured_at],
        [answer.total_count, "total_count", answer.total_count],
        [last, "max_ms"],
      ];
      cells.forEach(([value, col, raw]) => {
        const td = document.createElement("td");
        td.dataset.col = col;
        td.dataset.value = raw !== undefined ? raw : value === null ? "" : String(value);
        td.textContent = typeof value === "number" && raw === undefined ? value.toFixed(3) : String(value);
        if (typeof value === "string") {
          td.className = "text";
        }
        tr.appendChild(td);
      });
      return tr;
    }));
  }

  function markButtons() {
    document.querySelectorAll("#points-table button[data-action]").forEach((button) => {
      const role = button.dataset.action === "show" ? "primary" : "compare";
      button.classList.toggle("active", shown[role] === button.dataset.runId);
    });
  }

  document.querySelectorAll("#points-table button[data-action]").forEach((button) => {
    button.addEventListener("click", () => choose(button.dataset.action === "show" ? "primary" : "compare",
      button.dataset.runId));
  });

  P.getJson("endpoint", Object.assign({ window: cfg.window }, key))
    .then((data) => {
      drawSeries(data);
      // open on the latest run's distribution rather than an empty chart
      const latest = data.points.filter((p) => p.has_histogram).pop();
      return latest ? choose("primary", latest.run_id) : undefined;
    })
    .catch((error) => P.showError(latencyChart, error));
})();
