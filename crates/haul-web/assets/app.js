// Live refresh: the element marked data-live is fetched again every few seconds (the
// server answers such a request with that part only) while the tab is visible.
(function () {
  "use strict";
  var live = document.querySelector("[data-live]");
  if (!live) return;
  var every = Math.max(2, parseInt(live.getAttribute("data-live"), 10) || 5) * 1000;
  var status = document.getElementById("live-status");
  function refresh() {
    if (document.hidden) return;
    fetch(window.location.href, { headers: { "X-Haul-Live": "1" }, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.text();
      })
      .then(function (html) {
        live.innerHTML = html;
        if (status) status.textContent = "live · " + new Date().toLocaleTimeString();
      })
      .catch(function () {
        if (status) status.textContent = "live refresh failed; retrying";
      });
  }
  setInterval(refresh, every);
})();
