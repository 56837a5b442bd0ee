// Live updates: every 1.5 s, /status?part=main, the same markup the server renders
// (one request, one snapshot, one renderer). Breaker changes are read from its rows'
// data-breaker attributes and announced to screen readers. Without JavaScript the
// server's snapshot stays.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var main = document.getElementById("main");
  var last = {};
  var failures = 0;
  function announce() {
    var changes = [];
    main.querySelectorAll("tr[data-upstream]").forEach(function (row) {
      var up = row.getAttribute("data-upstream");
      var cell = row.querySelector("[data-breaker]");
      if (!cell) { return; }
      var b = cell.getAttribute("data-breaker");
      if (last[up] && last[up] !== b) {
        changes.push(up + " breaker " + b.replace("_", "-"));
      }
      last[up] = b;
    });
    var summary = document.getElementById("summary");
    var ms = summary ? Number(summary.getAttribute("data-generated-ms")) : Date.now();
    var t = new Date(ms).toISOString().substring(11, 19);
    live.textContent = "Live: updated " + t + " UTC every 1.5 s" +
      (changes.length ? ". " + changes.join("; ") : "");
  }
  function tick() {
    fetch("status?part=main", { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (html) { main.innerHTML = html; failures = 0; announce(); })
      .catch(function (e) {
        failures += 1;
        live.textContent = "Live updates failing (" + e.message + "); showing the last snapshot.";
      })
      .finally(function () { setTimeout(tick, failures > 5 ? 5000 : 1500); });
  }
  live.textContent = "Live: connecting…";
  tick();
})();
