/* Executions console: the list refreshes (same filters) when a run of a shown company changes; a run's page
   streams its output (stored pieces rendered by the server, then live execution.output events appended in seq
   order, gaps filled from /executions/{id}/output), follows the status live and ticks the approval's expiry.
   No dependencies beyond htmx and app.js. */
(function () {
  "use strict";
  var body = document.body;

  function later(fn, ms) { var t = null; return function () { if (t) { return; } t = setTimeout(function () { t = null; fn(); }, ms); }; }

  /* ---- list --------------------------------------------------------------------------------- */
  var refreshList = later(function () {
    var live = document.getElementById("executions-live");
    if (live && window.htmx) { htmx.trigger(live, "aw-executions-refresh"); }
  }, 600);
  body.addEventListener("aw-execution-updated", function (e) {
    var live = document.getElementById("executions-live");
    var ev = e.detail || {};
    if (!live) { return; }
    var company = live.dataset.executionFilter || "";
    if (company && company !== ev.company_id) { return; }
    refreshList();
  });

  /* ---- one run's page ----------------------------------------------------------------------- */
  var root = document.getElementById("execution-page");
  var out = document.getElementById("ex-output");
  if (!root || !out) { return; }
  var id = root.dataset.executionId;
  var last = parseInt(out.dataset.lastSeq || "0", 10) || 0;
  var pending = {};
  var follow = document.getElementById("ex-follow");
  var empty = document.getElementById("ex-output-empty");
  var FINAL = { succeeded: 1, failed: 1, timed_out: 1, cancelled: 1, expired: 1, undeliverable: 1 };
  var IN_FLIGHT = { dispatched: 1, running: 1 };

  function atBottom() { return out.scrollHeight - out.scrollTop - out.clientHeight < 24; }
  function toBottom() { out.scrollTop = out.scrollHeight; if (follow) { follow.hidden = true; } }
  out.scrollTop = out.scrollHeight;
  out.addEventListener("scroll", function () { if (follow && atBottom()) { follow.hidden = true; } });
  if (follow) { follow.addEventListener("click", toBottom); }

  function append(chunk) {
    var span = document.createElement("span");
    span.className = "ex-" + (chunk.stream === "stderr" || chunk.stream === "system" ? chunk.stream : "stdout");
    span.dataset.seq = String(chunk.seq);
    span.textContent = chunk.text;  // text, never HTML: output is whatever the host printed
    out.appendChild(span);
  }

  var gapTimer = null;
  function add(chunks) {
    var stick = atBottom();
    chunks.forEach(function (c) {
      var seq = parseInt(c.seq, 10);
      if (!(seq > last)) { return; }  // shown already (stored pieces, or a repeat)
      pending[seq] = c;
    });
    var added = false;
    while (pending[last + 1]) {
      append(pending[last + 1]);
      delete pending[last + 1];
      last += 1;
      added = true;
    }
    out.dataset.lastSeq = String(last);
    if (added) {
      if (empty) { empty.hidden = true; }
      if (stick) { toBottom(); } else if (follow) { follow.hidden = false; }
    }
    if (Object.keys(pending).length && !gapTimer) {  // a piece is missing: fetch it if it does not arrive soon
      gapTimer = setTimeout(function () { gapTimer = null; if (Object.keys(pending).length) { catchUp(); } }, 1200);
    }
  }

  var fetching = false, again = false;
  function catchUp() {
    if (fetching) { again = true; return; }
    fetching = true;
    fetch(out.dataset.outputUrl + "?after=" + last, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        var ahead = Object.keys(pending).map(Number);
        var top = ahead.length ? Math.max.apply(null, ahead) : 0;
        add(data.chunks || []);
        if (last < top && (data.chunks || []).length === 0) {  // the gap is not stored (bounded output): skip it
          last = Math.min.apply(null, ahead) - 1;
          add([]);
        }
        setStatus(data.status, data.truncated);
      })
      .catch(function () { /* the next event or reconnect tries again */ })
      .then(function () { fetching = false; if (again) { again = false; catchUp(); } });
  }

  var liveBadge = document.getElementById("ex-live");
  var LIVE_LABELS = { live: "Live", waiting: "Waiting to start", done: "Finished" };
  function setStatus(status, truncated) {
    if (!status) { return; }
    var state = IN_FLIGHT[status] ? "live" : (FINAL[status] ? "done" : "waiting");
    if (liveBadge && liveBadge.dataset.state !== state) {
      liveBadge.dataset.state = state;
      var label = liveBadge.querySelector("[data-live-label]");
      if (label) { label.textContent = LIVE_LABELS[state]; }
    }
    var trunc = document.getElementById("ex-truncated");
    if (trunc && truncated) { trunc.hidden = false; }
    if (empty && state === "live" && !last) { empty.textContent = "Connected; waiting for the first output…"; }
    root.dataset.status = status;
  }

  body.addEventListener("aw-execution-output", function (e) {
    var d = (e.detail && e.detail.data) || {};
    if (d.execution_id === id) { add([d]); }
  });
  body.addEventListener("aw-connected", function () { catchUp(); });  // pieces sent before the channel was up

  /* the header, approval/timing column and results follow the run's status */
  function editing() {
    var el = document.activeElement;
    var side = document.getElementById("ex-side");
    return !!(el && side && side.contains(el) && el.matches("textarea, input, select"));
  }
  var deferred = false;
  function refreshParts() {
    if (editing()) { deferred = true; return; }
    if (!window.htmx) { return; }
    htmx.ajax("GET", location.pathname, { target: "#ex-side", swap: "outerHTML", select: "#ex-side",
                                          selectOOB: "#ex-head,#ex-results" });
  }
  var refreshSoon = later(refreshParts, 400);
  document.addEventListener("focusout", function () {
    setTimeout(function () { if (deferred && !editing()) { deferred = false; refreshParts(); } }, 50);
  });
  body.addEventListener("aw-execution-updated", function (e) {
    var d = (e.detail && e.detail.data) || {};
    if (d.id !== id) { return; }
    var was = root.dataset.status;
    setStatus(d.status, d.truncated);
    refreshSoon();
    if (FINAL[d.status] && !FINAL[was]) { setTimeout(catchUp, 300); }  // the last pieces, in case one was missed
  });

  /* the approval's expiry, ticking */
  function minutes(seconds) {
    var s = Math.abs(Math.round(seconds));
    if (s < 90) { return s + " s"; }
    if (s < 5400) { return Math.round(s / 60) + " min"; }
    return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
  }
  function tick() {
    document.querySelectorAll(".ex-expiry[data-expires]").forEach(function (el) {
      var due = Date.parse(el.dataset.expires);
      if (isNaN(due) || el.dataset.state === "expired") { return; }
      var left = (due - Date.now()) / 1000;
      if (left <= 0) { el.dataset.state = "expired"; el.textContent = "expired — it can no longer be approved"; return; }
      el.textContent = "expires in " + minutes(left);
    });
  }
  tick();
  setInterval(tick, 1000);
  if (IN_FLIGHT[root.dataset.status]) { toBottom(); }
})();
