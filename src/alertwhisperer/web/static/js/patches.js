/* Patch compliance page: per-asset detail rows (kept open across live refreshes) and scan-request results as
   toasts. The body refreshes itself (htmx) on live patch events and polls while a scan is under way. */
(function () {
  "use strict";
  var body = document.body;
  var open = {};

  function show(id, expanded) {
    var row = document.getElementById("pc-d-" + id);
    var button = document.querySelector('[data-pc-toggle="' + id + '"]');
    if (!row || !button) { delete open[id]; return; }
    row.hidden = !expanded;
    button.setAttribute("aria-expanded", expanded ? "true" : "false");
    button.textContent = expanded ? "Hide details" : "Details";
  }

  body.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-pc-toggle]");
    if (!button) { return; }
    var id = button.getAttribute("data-pc-toggle");
    if (open[id]) { delete open[id]; } else { open[id] = true; }
    show(id, !!open[id]);
  });

  body.addEventListener("htmx:afterSwap", function () {
    Object.keys(open).forEach(function (id) { show(id, true); });
  });

  /* scan requests answered by the server (HX-Trigger: {"aw-flash": {...}}) */
  body.addEventListener("aw-flash", function (e) {
    var d = e.detail || {};
    if (!document.getElementById("patches-body") || !window.awToast || !d.message) { return; }
    window.awToast(d.message, "", d.kind === "error" ? "error" : "live");
  });
})();
