/* the notification bell: live unread count, the dropdown, mark read, browser notifications */
(function () {
  "use strict";

  var bell = document.getElementById("bell");
  var menu = document.getElementById("bell-menu");

  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }
  function csrf() {
    return cookie("aw_csrf") || (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  }
  function post(url) {
    return fetch(url, { method: "POST", credentials: "same-origin", keepalive: true,
                        headers: { "X-CSRF-Token": csrf(), Accept: "application/json" } });
  }

  function setCount(n, bump) {
    document.querySelectorAll("[data-bell-count]").forEach(function (el) {
      el.textContent = n > 99 ? "99+" : String(n);
      el.hidden = !n;
      if (bump && n) { el.classList.remove("bump"); void el.offsetWidth; el.classList.add("bump"); }
    });
    document.querySelectorAll("[data-bell-count-inline]").forEach(function (el) { el.textContent = String(n); });
    if (bell) { bell.querySelector("summary").setAttribute("aria-label", n ? "Notifications, " + n + " unread" : "Notifications"); }
  }
  function refreshCount() {
    if (!bell) { return; }
    fetch("/api/notifications/unread-count", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) { setCount(d.unread, false); } })
      .catch(function () { /* the next event or reconnect tries again */ });
  }

  function menuLoaded() {
    var badge = menu.querySelector("[data-testid=bell-menu-unread]");
    setCount(badge ? parseInt(badge.textContent, 10) || 0 : 0, false);
  }
  function loadMenu() {
    if (!menu) { return; }
    if (window.htmx && htmx.ajax) {  // through htmx: its settle step shows the times in the viewer's zone
      var done = htmx.ajax("GET", "/notifications/bell", { target: menu, swap: "innerHTML" });
      if (done && done.then) { done.then(menuLoaded); }
      return;
    }
    fetch("/notifications/bell", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { menu.innerHTML = html; menuLoaded(); } });
  }

  if (bell) {
    bell.addEventListener("toggle", function () { if (bell.open) { loadMenu(); } });
    document.addEventListener("click", function (e) {
      if (bell.open && !bell.contains(e.target)) { bell.removeAttribute("open"); }
    });
  }

  document.addEventListener("click", function (e) {
    var all = e.target.closest("[data-bell-read-all]");
    if (all) {
      e.preventDefault();
      post("/api/notifications/read-all").then(function () { setCount(0, false); loadMenu(); });
      return;
    }
    var link = e.target.closest("a[data-notification-id]");
    if (link && link.dataset.read === "0") {  // mark read on the way to the incident
      post("/api/notifications/" + encodeURIComponent(link.dataset.notificationId) + "/read");
    }
  });

  /* browser (desktop) notifications: for severities the user chose them for, once the browser allows them;
     permission is asked from the button on the preferences page only, never on load */
  function showDesktop(d) {
    if (!d.browser || !("Notification" in window) || Notification.permission !== "granted") { return; }
    try {
      var n = new Notification(d.title || "Alert Whisperer", { body: d.body || "", tag: "aw-" + d.id,
                                                              requireInteraction: d.severity === "critical" });
      n.onclick = function () { window.focus(); if (d.url) { location.href = d.url; } n.close(); };
    } catch (err) { /* some browsers only allow notifications from a service worker */ }
  }
  var permissionBox = document.querySelector("[data-browser-permission]");
  function describePermission() {
    if (!permissionBox) { return; }
    var state = permissionBox.querySelector("[data-permission-state]");
    var button = permissionBox.querySelector("[data-ask-permission]");
    if (!("Notification" in window)) { state.textContent = "This browser does not support them."; button.hidden = true; return; }
    var p = Notification.permission;
    state.textContent = p === "granted" ? "Allowed in this browser." : p === "denied"
      ? "Blocked in this browser: allow them in the site settings (the lock icon in the address bar)." : "Your browser has not been asked yet.";
    button.hidden = p !== "default";
  }
  if (permissionBox) {
    describePermission();
    permissionBox.querySelector("[data-ask-permission]").addEventListener("click", function () {
      var asked = Notification.requestPermission(describePermission);
      if (asked && asked.then) { asked.then(describePermission); }
    });
  }

  document.body.addEventListener("aw-notification-created", function (e) {
    var d = (e.detail && e.detail.data) || {};
    // shown here (toast, badge, desktop): tell app.js, which skips its generic toast for the page's own events
    if (e.detail && e.detail.data) { e.detail.data.origin = document.body.dataset.origin; }
    if (typeof d.unread === "number") { setCount(d.unread, true); }
    if (window.awToast) {
      window.awToast(d.title || "New notification", (d.body ? d.body + " · " : "") + "just now",
                     d.severity === "critical" || d.severity === "high" ? "error" : "live");
    }
    showDesktop(d);
    if (bell && bell.open) { loadMenu(); }
  });
  document.body.addEventListener("aw-notification-read", function (e) {
    var d = (e.detail && e.detail.data) || {};
    if (e.detail && e.detail.data) { e.detail.data.origin = document.body.dataset.origin; }
    if (typeof d.unread === "number") { setCount(d.unread, false); }
  });
  document.body.addEventListener("aw-connected", refreshCount);  // catch up after every (re)connect
  refreshCount();
})();
