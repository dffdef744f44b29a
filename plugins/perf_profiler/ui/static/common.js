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

  const dark = document.documentElement.classList.contains("dark");

  /** A chart layout: the shared defaults, the chart's own settings, and dark colours in a dark UI. */
  function layout(extra) {
    const result = Object.assign({}, baseLayout, extra);
    if (dark) {
      Object.assign(result, { paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
        font: Object.assign({}, result.font, { color: "#e4e4e7" }) });
      ["xaxis", "yaxis"].forEach((axis) => {
        result[axis] = Object.assign({ gridcolor: "#3f3f46", zerolinecolor: "#52525b", linecolor: "#52525b" },
          result[axis]);
      });
    }
    return result;
  }

  return { config, getJson, showError, plotConfig, layout };
})();
