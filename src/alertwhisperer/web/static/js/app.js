/* Alert Whisperer console: live channel, toasts, small progressive enhancements. No dependencies
   beyond htmx (loaded before this file, both deferred). */
(function () {
  "use strict";

  var body = document.body;
  var companies = {};
  try { companies = JSON.parse((document.getElementById("aw-companies") || {}).textContent || "{}"); } catch (e) { companies = {}; }

  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }

  /* CSRF: htmx requests carry the token from the aw_csrf cookie (fresh even after a refresh) */
  document.addEventListener("htmx:configRequest", function (evt) {
    var token = cookie("aw_csrf") || (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
    if (token) { evt.detail.headers["X-CSRF-Token"] = token; }
  });

  /* ---- toasts ------------------------------------------------------------------------------- */
  var toasts = document.getElementById("toasts");
  function toast(title, text, kind) {
    if (!toasts) { return; }
    var el = document.createElement("div");
    el.className = "toast toast-" + (kind || "info");
    el.setAttribute("role", "status");
    var strong = document.createElement("strong");
    strong.textContent = title;
    var span = document.createElement("span");
    span.textContent = text || "";
    el.appendChild(strong);
    el.appendChild(span);
    toasts.appendChild(el);
    setTimeout(function () { el.classList.add("toast-leaving"); }, 5200);
    setTimeout(function () { el.remove(); }, 5600);
    while (toasts.children.length > 4) { toasts.firstChild.remove(); }
  }
  window.awToast = toast;
  if (toasts) {
    new MutationObserver(function (records) {  // server-sent error toasts (HX-Retarget #toasts)
      records.forEach(function (r) {
        r.addedNodes.forEach(function (n) {
          if (n.nodeType === 1 && !n.dataset.timed) {
            n.dataset.timed = "1";
            setTimeout(function () { n.remove(); }, 7000);
          }
        });
      });
    }).observe(toasts, { childList: true });
  }

  /* ---- live channel ------------------------------------------------------------------------- */
  var indicator = document.getElementById("live-indicator");
  var LABELS = { connecting: "Connecting…", connected: "Live", reconnecting: "Reconnecting…", offline: "Offline" };
  function setState(state) {
    if (!indicator) { return; }
    indicator.dataset.state = state;
    indicator.querySelector(".live-label").textContent = LABELS[state] || state;
    indicator.title = state === "connected" ? "Live updates are on" : "Live updates: " + (LABELS[state] || state);
    body.dataset.live = state;
  }

  var NOUNS = { asset: "Asset", company: "Company", user: "User", incident: "Incident", alert: "Alert", heartbeat: "Heartbeat" };
  var VERBS = { created: "created", updated: "updated", deleted: "deleted", regenerated: "regenerated" };
  function describe(ev) {
    var parts = (ev.type || "").split(".");
    var noun = NOUNS[parts[0]] || parts[0];
    var verb = VERBS[parts[1]] || parts[1] || "changed";
    var name = (ev.data && ev.data.name) || "";
    var company = ev.company_id && companies[ev.company_id];
    var text = noun + (name ? " " + name : "") + " " + verb;
    if (company && parts[0] !== "company") { text += " in " + company; }
    return text;
  }

  /* events with their own wording: [title, text, kind] */
  function inCompany(ev) { var c = ev.company_id && companies[ev.company_id]; return c ? " in " + c : ""; }
  var SPECIAL = {
    "heartbeat.silent": function (ev) {
      return ["Heartbeat " + (ev.data.name || "") + " went silent" + inCompany(ev), "A “monitoring silent” alert was raised · just now", "error"];
    },
    "heartbeat.resumed": function (ev) {
      return ["Heartbeat " + (ev.data.name || "") + " resumed" + inCompany(ev), "Pings are arriving again · just now", "live"];
    },
    "integration.sns_confirmation_pending": function (ev) {
      return ["AWS SNS subscription waiting" + inCompany(ev), "Confirm it, or allow automatic confirmation in the company settings", "info"];
    },
    "integration.sns_confirmed": function (ev) {
      return ["AWS SNS subscription confirmed" + inCompany(ev), "CloudWatch alarms will arrive through it · just now", "live"];
    },
    "integration.sns_unsubscribed": function (ev) {
      return ["AWS SNS subscription removed" + inCompany(ev), (ev.data.topic_arn || "") + " · just now", "info"];
    }
  };

  /* alerts: one toast that counts during a storm, and a refresh of lists whose filters match */
  var alertToast = null, alertCount = 0;
  function alertReceived(ev) {
    var d = ev.data || {};
    alertCount = alertToast && alertToast.isConnected ? alertCount + 1 : 1;
    var title = alertCount > 1 ? alertCount + " new alerts" + inCompany(ev)
      : "New " + (d.severity || "") + " alert: " + (d.signature || "");
    var text = alertCount > 1 ? "Latest: " + (d.signature || "") + " · just now"
      : (d.asset_ref ? d.asset_ref + " · " : "") + (companies[ev.company_id] || "") + " · just now";
    if (alertToast && alertToast.isConnected) {
      alertToast.querySelector("strong").textContent = title;
      alertToast.querySelector("span").textContent = text;
    } else {
      toast(title, text, d.severity === "critical" || d.severity === "high" ? "error" : "live");
      alertToast = toasts ? toasts.lastElementChild : null;
    }
    document.querySelectorAll("[data-alert-filter]").forEach(function (el) {
      var f;
      try { f = JSON.parse(el.dataset.alertFilter); } catch (e) { return; }
      if (alertMatches(f, ev)) { refreshSoon(el, "aw-alert-match"); }
    });
  }
  /* incidents: refresh lists and pages that show the incident's company (or that very incident) */
  function incidentChanged(ev) {
    var d = ev.data || {};
    document.querySelectorAll("[data-incident-filter]").forEach(function (el) {
      var f;
      try { f = JSON.parse(el.dataset.incidentFilter); } catch (e) { return; }
      if (f.company_id && f.company_id !== ev.company_id) { return; }
      if (f.id && f.id !== d.id) { return; }
      refreshSoon(el, "aw-incident-match");
    });
  }
  function has(value, needle) { return String(value || "").toLowerCase().indexOf(needle) >= 0; }
  function alertMatches(f, ev) {
    var d = ev.data || {};
    if (f.company_id && f.company_id !== ev.company_id) { return false; }
    if (f.severity && f.severity !== d.severity) { return false; }
    if (f.status && f.status !== d.status) { return false; }
    if (f.source && f.source !== d.source) { return false; }
    if (f.asset && !has(d.asset_ref, f.asset)) { return false; }
    // the event carries at most 300 characters of the message: a longer one may match further on
    if (f.q && !(has(d.signature, f.q) || has(d.message, f.q) || has(d.asset_ref, f.q) || (d.message || "").length >= 300)) { return false; }
    return true;
  }
  var refreshTimers = {};
  function refreshSoon(el, name) {  // at most one refresh per list and event every 600 ms, always including the last
    var id = el.id, slot = id + " " + name;
    if (refreshTimers[slot]) { return; }
    refreshTimers[slot] = setTimeout(function () {
      delete refreshTimers[slot];
      var current = document.getElementById(id);
      if (current && window.htmx) { htmx.trigger(current, name); }
    }, 600);
  }

  function handle(ev) {
    if (ev.type === "connected") {  // also after every reconnect: pages re-join what they follow (chat rooms)
      setState("connected");
      body.dispatchEvent(new CustomEvent("aw-connected", { detail: ev.data || {} }));
      return;
    }
    if (ev.type === "pong") { return; }
    var kind = (ev.type || "").split(".")[0];
    var detail = { type: ev.type, company_id: ev.company_id, data: ev.data || {} };
    ev.data = ev.data || {};
    if (window.htmx) {
      htmx.trigger(body, "aw-" + ev.type.replace(/\./g, "-"), detail);
      htmx.trigger(body, "aw-" + kind, detail);
      // alerts are not audited; output pieces are many and change nothing a list shows
      if (ev.type !== "alert.received" && ev.type !== "execution.output") { htmx.trigger(body, "aw-any", detail); }
    }
    if (ev.type === "alert.received") { alertReceived(ev); return; }
    if (kind === "incident") { incidentChanged(ev); return; }
    if (kind === "chat" || kind === "notification" || kind === "execution" || kind === "patch") { return; }  // their pages show these  // chat.js and notify.js show these themselves  // incident events refresh pages (aw-incident-*); the alert already toasted
    if (ev.data.origin && ev.data.origin === body.dataset.origin) { return; }
    if (SPECIAL[ev.type]) {
      var t = SPECIAL[ev.type](ev);
      toast(t[0], t[1], t[2]);
      return;
    }
    toast(describe(ev), "Live update · just now", "live");
  }

  var ws = null, attempt = 0, pingTimer = null, retryTimer = null, stopped = false;
  function url() { return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws"; }

  function schedule() {
    if (stopped) { return; }
    clearTimeout(retryTimer);
    setState(navigator.onLine === false ? "offline" : "reconnecting");
    var delay = Math.min(30000, 1000 * Math.pow(2, attempt)) * (0.75 + Math.random() * 0.5);
    attempt += 1;
    retryTimer = setTimeout(connect, delay);
  }

  function reauthenticate() {
    // the access cookie expired: /api/auth/me refreshes it silently, or tells us the session is over
    fetch("/api/auth/me", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) {
          stopped = true;
          location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
          return;
        }
        attempt = 0;
        connect();
      })
      .catch(schedule);
  }

  function connect() {
    if (stopped || !indicator) { return; }
    if (navigator.onLine === false) { setState("offline"); return; }
    try { ws = new WebSocket(url()); } catch (e) { schedule(); return; }
    ws.onopen = function () {
      attempt = 0;
      clearInterval(pingTimer);
      pingTimer = setInterval(function () { if (ws && ws.readyState === 1) { ws.send("ping"); } }, 25000);
    };
    ws.onmessage = function (msg) {
      var ev;
      try { ev = JSON.parse(msg.data); } catch (e) { return; }
      handle(ev);
    };
    ws.onclose = function (e) {
      clearInterval(pingTimer);
      ws = null;
      if (stopped) { return; }
      if (e.code === 4401) { setState("reconnecting"); reauthenticate(); return; }
      schedule();
    };
  }
  window.addEventListener("offline", function () { setState("offline"); });
  window.addEventListener("online", function () { attempt = 0; if (!ws) { clearTimeout(retryTimer); connect(); } });
  window.addEventListener("pagehide", function () { stopped = true; if (ws) { ws.close(1000); } });
  window.awLive = {
    state: function () { return indicator && indicator.dataset.state; },
    // send a JSON message on the live channel (chat presence); false when not connected
    send: function (obj) {
      if (ws && ws.readyState === 1) { ws.send(JSON.stringify(obj)); return true; }
      return false;
    }
  };
  connect();

  /* ---- enhancements ------------------------------------------------------------------------- */
  // one-time secrets were rendered in a POST answer: make the address bar (and a reload) point at the
  // resource itself, so reloading never shows the secret again and never re-submits the form
  if (body.dataset.replaceUrl && window.history && history.replaceState) {
    history.replaceState(null, "", body.dataset.replaceUrl);
  }

  document.addEventListener("click", function (e) {
    var copy = e.target.closest("[data-copy]");
    if (copy) {
      var src = document.querySelector(copy.dataset.copy);
      var text = src ? src.textContent.trim() : "";
      var done = function () {
        var label = copy.querySelector("span");
        if (label) { label.textContent = "Copied"; setTimeout(function () { label.textContent = "Copy"; }, 2000); }
        copy.classList.add("copied");
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { selectText(src); });
      } else { selectText(src); try { document.execCommand("copy"); done(); } catch (err) { /* selected */ } }
      return;
    }
    if (e.target.closest("[data-sidebar-toggle]")) { body.classList.toggle("sidebar-open"); return; }
    if (e.target.closest("[data-sidebar-close]")) { body.classList.remove("sidebar-open"); return; }
    var dismiss = e.target.closest("[data-dismiss]");
    if (dismiss) { dismiss.parentElement.remove(); return; }
    var menu = document.querySelector("details.usermenu[open]");
    if (menu && !menu.contains(e.target)) { menu.removeAttribute("open"); }
  });

  function selectText(el) {
    if (!el) { return; }
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) { e.preventDefault(); }
  });
  document.addEventListener("change", function (e) {
    if (e.target.matches("[data-autosubmit]")) { e.target.form.submit(); }
  });

  // times: show in the viewer's local zone
  function localTimes(root) {
    var rtf = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;
    (root || document).querySelectorAll("time[data-local]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) { return; }
      t.title = d.toLocaleString();
      if (t.hasAttribute("data-relative") && rtf) {
        var secs = Math.round((d - Date.now()) / 1000), abs = Math.abs(secs);
        t.textContent = abs < 60 ? rtf.format(secs, "second") : abs < 3600 ? rtf.format(Math.round(secs / 60), "minute")
          : abs < 86400 ? rtf.format(Math.round(secs / 3600), "hour") : rtf.format(Math.round(secs / 86400), "day");
      } else if (t.hasAttribute("data-date")) {
        t.textContent = d.toLocaleDateString();
      } else {
        t.textContent = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
      }
    });
  }
  localTimes();
  document.addEventListener("htmx:afterSettle", function (e) { localTimes(e.target); });

  // lists refreshed live: rows that were not there before flash briefly
  var seenRows = {};
  function rowIds(el) {
    var ids = {};
    el.querySelectorAll("tr[data-id]").forEach(function (r) { ids[r.dataset.id] = true; });
    return ids;
  }
  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target;
    var live = e.detail.requestConfig && e.detail.requestConfig.elt === target;  // a live refresh, not a filter change
    if (live && target.id && target.hasAttribute("data-fresh-rows")) { seenRows[target.id] = rowIds(target); }
  });
  document.addEventListener("htmx:afterSettle", function (e) {
    var id = e.detail.target && e.detail.target.id;
    var before = id && seenRows[id];
    var el = id && document.getElementById(id);
    if (!before || !el) { return; }
    delete seenRows[id];
    el.querySelectorAll("tr[data-id]").forEach(function (r) {
      if (!before[r.dataset.id]) { r.classList.add("fresh"); }
    });
  });
})();
