/* Incident pages: keep what the user is typing or ticking across live refreshes, follow timeline events,
   show action results as toasts, and drive the list's bulk selection. No dependencies beyond htmx and app.js. */
(function () {
  "use strict";
  var body = document.body;

  /* action results from the server (HX-Trigger: {"aw-flash": {...}}) */
  body.addEventListener("aw-flash", function (e) {
    var d = e.detail || {};
    if (window.awToast && d.message) { window.awToast(d.message, "", d.kind === "error" ? "error" : "live"); }
  });

  /* a timeline entry of this incident (chat, notifications, escalation) refreshes the page like an update */
  var timer = null;
  body.addEventListener("aw-incident-timeline", function (e) {
    var main = document.getElementById("incident-main");
    var d = (e.detail && e.detail.data) || {};
    if (!main || d.incident_id !== main.dataset.incidentId || timer) { return; }
    timer = setTimeout(function () { timer = null; if (window.htmx) { htmx.trigger(main, "aw-incident-match"); } }, 600);
  });

  /* a live refresh waits while someone types in the page (it would take the focus away) */
  var deferred = false;
  function editing(main) {
    var el = document.activeElement;
    return !!(el && main.contains(el) && el.matches("textarea, input[type=text], input[type=search], select"));
  }
  document.addEventListener("htmx:beforeRequest", function (e) {
    var main = e.detail.elt;
    if (!main || main.id !== "incident-main" || !editing(main)) { return; }
    e.preventDefault();
    deferred = true;
  });
  document.addEventListener("focusout", function () {
    setTimeout(function () {
      var main = document.getElementById("incident-main");
      if (!deferred || !main || editing(main)) { return; }
      deferred = false;
      if (window.htmx) { htmx.trigger(main, "aw-incident-match"); }
    }, 50);
  });

  /* drafts and ticks survive live refreshes; the form that was just sent starts empty */
  var kept = null;
  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target;
    if (!target || (target.id !== "incident-main" && target.id !== "incidents-list")) { return; }
    var source = e.detail.requestConfig && e.detail.requestConfig.elt;
    var sent = source && source.tagName === "FORM" && e.detail.xhr && e.detail.xhr.status < 400 ? source : null;
    kept = { values: {}, checked: {}, open: {} };
    target.querySelectorAll("[data-keep]").forEach(function (el) {
      if (el.id && el.value && !(sent && sent.contains(el))) { kept.values[el.id] = el.value; }
    });
    document.querySelectorAll("[data-keep-check]:checked, [data-pick]:checked").forEach(function (el) {
      if (!(sent && (sent.id === "split-form"))) { kept.checked[el.name + "=" + el.value] = true; }
    });
    target.querySelectorAll("details[open][id]").forEach(function (el) {
      if (!(sent && el.contains(sent))) { kept.open[el.id] = true; }
    });
  });
  document.addEventListener("htmx:afterSettle", function (e) {
    if (!kept) { return; }
    var state = kept;
    kept = null;
    Object.keys(state.values).forEach(function (id) {
      var el = document.getElementById(id);
      if (el && !el.value) { el.value = state.values[id]; }
    });
    document.querySelectorAll("[data-keep-check], [data-pick]").forEach(function (el) {
      if (state.checked[el.name + "=" + el.value]) { el.checked = true; }
    });
    Object.keys(state.open).forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { el.open = true; }
    });
    countPicks();
  });

  /* list: bulk selection */
  function countPicks() {
    var bar = document.getElementById("bulk-form");
    if (!bar) { return; }
    var n = document.querySelectorAll("[data-pick]:checked").length;
    var out = bar.querySelector("[data-pick-count]");
    if (out) { out.textContent = String(n); }
    if (n) { bar.removeAttribute("data-empty"); } else { bar.setAttribute("data-empty", ""); }
  }
  document.addEventListener("change", function (e) {
    if (e.target.matches("[data-pick-all]")) {
      document.querySelectorAll("[data-pick]").forEach(function (el) { el.checked = e.target.checked; });
    }
    if (e.target.matches("[data-pick], [data-pick-all]")) { countPicks(); }
  });
  document.addEventListener("submit", function (e) {
    if (e.target.id === "bulk-form" && !document.querySelector("[data-pick]:checked")) {
      e.preventDefault();
      if (window.awToast) { window.awToast("Nothing selected", "Tick the incidents to change first", "info"); }
    }
  });
  countPicks();
})();
