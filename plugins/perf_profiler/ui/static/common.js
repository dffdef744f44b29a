/* perf-profiler Performance pages: what every page's script shares (no chart maths here: Plotly draws). */
"use strict";
window.PerfProfiler = (function () {
  const config = JSON.parse(document.getElementById("page-config").textContent);

  /** GET /perf-profiler/api/<path>?params as JSON, with the Airflow session cookie. */
  async function getJson(path, params) {
    const url = new URL(config.base + "/api/" + path, window.location.origin);
    Object.entries(params || {}).forEach(([key, value]) => url.searchParams.set(key, value));
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) {
      throw new Error(path + " answered " + response.status);
    }
    return response.json();
  }

  /** Show a failure next to the chart it concerns instead of failing silently. */
  function showError(element, error) {
    const note = document.createElement("p");
    note.className = "error-note";
    note.textContent = "Could not load the chart data: " + error.message;
    element.replaceChildren(note);
  }

  const plotConfig = {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d"],
  };

  const baseLayout = {
    margin: { l: 56, r: 16, t: 12, b: 40 },
    legend: { orientation: "h", y: -0.18 },
    hovermode: "closest",
    font: { family: "system-ui, sans-serif", size: 12 },
  };

  function layout(extra) {
    return Object.assign({}, baseLayout, extra);
  }

  return { config, getJson, showError, plotConfig, layout };
})();
