/* Overview page: a sparkline of the last 30 runs' p95 per row, from GET api/overview. */
"use strict";
(async function () {
  const P = window.PerfProfiler;
  const table = document.getElementById("overview-table");
  if (!table) {
    return; // "No data yet"
  }
  const rowsByKey = new Map();
  table.querySelectorAll("tbody tr").forEach((tr) => {
    rowsByKey.set([tr.dataset.dagId, tr.dataset.service, tr.dataset.endpoint].join("\u0000"), tr);
  });
  let data;
  try {
    data = await P.getJson("overview", { tenant: P.config.tenant });
  } catch (error) {
    table.querySelectorAll(".spark").forEach((el) => P.showError(el, error));
    return;
  }
  data.rows.forEach((row) => {
    const tr = rowsByKey.get([row.dag_id, row.service, row.endpoint].join("\u0000"));
    const spark = tr && tr.querySelector(".spark");
    if (!spark || !row.trend.length) {
      return;
    }
    const color = row.verdict === "fail" ? "#c62828" : row.open_regression ? "#e65100" : "#1565c0";
    Plotly.newPlot(spark, [{
      x: row.trend.map((point) => point.measured_at),
      y: row.trend.map((point) => point.p95_ms),
      type: "scatter",
      mode: "lines",
      line: { width: 1.5, color: color },
      hovertemplate: "%{x}<br>p95 %{y:.2f} ms<extra></extra>",
    }], {
      margin: { l: 0, r: 0, t: 2, b: 2 },
      xaxis: { visible: false },
      yaxis: { visible: false },
      showlegend: false,
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
    }, { displayModeBar: false, responsive: false });
    spark.dataset.drawn = String(row.trend.length);
  });
  document.body.dataset.sparklines = "drawn";
})();
