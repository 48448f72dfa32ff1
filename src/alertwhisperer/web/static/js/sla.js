/* SLA countdowns: every element with data-deadline (rendered by sla/_countdown.html) ticks each second.
   Remaining time = deadline - now; the element's state class moves running -> warning -> breached. */
(function () {
  "use strict";
  if (window.awSlaTicking) return;
  window.awSlaTicking = true;

  function label(seconds) {
    var s = Math.floor(Math.abs(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + pad(m) + "m";
    if (m) return m + "m " + pad(r) + "s";
    return r + "s";
  }

  function setState(el, state) {
    if (el.dataset.state === state) return;
    el.classList.remove("sla-" + el.dataset.state);
    el.classList.add("sla-" + state);
    el.dataset.state = state;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".sla-timer[data-deadline]").forEach(function (el) {
      var due = Date.parse(el.dataset.deadline);
      if (isNaN(due)) return;
      var remaining = (due - now) / 1000;
      var warn = parseInt(el.dataset.warningSeconds || "1800", 10);
      var kind = el.dataset.slaKind === "response" ? ["Respond", "Response"] : ["Resolve", "Resolution"];
      var text = el.querySelector("[data-sla-text]");
      if (remaining <= 0) {
        setState(el, "breached");
        if (text) text.textContent = kind[1] + " overdue by " + label(remaining);
      } else {
        setState(el, remaining <= warn ? "warning" : "running");
        if (text) text.textContent = kind[0] + " within " + label(remaining);
      }
      el.dataset.remaining = String(Math.round(remaining));
    });
  }

  tick();
  setInterval(tick, 1000);
})();
