// Live updates: every 1.5 s, /status.json for the facts (breaker changes are announced
// to screen readers) and /status?part=main for the same markup the server renders,
// so the page has one renderer. Without JavaScript the server's snapshot stays.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var main = document.getElementById("main");
  var last = {};
  var failures = 0;
  function announce(s) {
    var changes = [];
    s.upstreams.forEach(function (u) {
      if (last[u.upstream] && last[u.upstream] !== u.breaker) {
        changes.push(u.upstream + " breaker " + u.breaker.replace("_", "-"));
      }
      last[u.upstream] = u.breaker;
    });
    var t = new Date(s.generated_at_unix_ms).toISOString().substring(11, 19);
    live.textContent = "Live: updated " + t + " UTC every 1.5 s" +
      (changes.length ? ". " + changes.join("; ") : "");
  }
  function tick() {
    fetch("status.json", { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (s) {
        announce(s);
        return fetch("status?part=main", { cache: "no-store", credentials: "same-origin" });
      })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (html) { main.innerHTML = html; failures = 0; })
      .catch(function (e) {
        failures += 1;
        live.textContent = "Live updates failing (" + e.message + "); showing the last snapshot.";
      })
      .finally(function () { setTimeout(tick, failures > 5 ? 5000 : 1500); });
  }
  live.textContent = "Live: connecting…";
  tick();
})();
