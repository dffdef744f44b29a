/* Follow the Airflow UI's light/dark choice (loaded in <head>, before the page paints).
   The UI keeps it in localStorage "theme" (light | dark | system) on this same origin; inside its
   iframe the parent's <html class="dark"> says the same. Nothing here is sent anywhere. */
"use strict";
(function () {
  let dark = false;
  try {
    const parentRoot = window.parent !== window ? window.parent.document.documentElement : null;
    const choice = window.localStorage.getItem("theme") || "system";
    dark = parentRoot ? parentRoot.classList.contains("dark")
      : choice === "dark" || (choice === "system" && window.matchMedia("(prefers-color-scheme: dark)").matches);
  } catch (error) {
    dark = false; // no storage or another origin's parent: stay light
  }
  document.documentElement.classList.toggle("dark", dark);
})();
