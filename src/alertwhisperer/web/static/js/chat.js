/* Chat rooms (chat/_room.html) and the rooms list of the chat page. Each [data-chat-room] panel joins its room
   over the live channel (window.awLive; again after every reconnect and once a minute), shows who is here,
   appends live messages (aw-chat-message), sends with Enter (Shift+Enter: new line), loads earlier messages and
   moves the read marker while the room is in view. Works for any number of panels on a page; safe to load twice. */
(function () {
  "use strict";
  if (window.awChat) { window.awChat.scan(); return; }

  var body = document.body;
  var HEARTBEAT = 60000;  // re-join: keeps presence fresh across server processes
  var NEAR_BOTTOM = 80;   // px: a reader this close to the end follows new messages

  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }
  function csrf() {
    return cookie("aw_csrf") || (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  }
  function api(method, path, payload) {
    var init = { method: method, credentials: "same-origin",
                 headers: { Accept: "application/json", "X-CSRF-Token": csrf() } };
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    return fetch(path, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) {
          var text = data.message || (r.status === 429 ? "You are sending too fast; wait a moment." : "");
          throw new Error(text || "Something went wrong (HTTP " + r.status + "). Try again.");
        }
        return data;
      });
    });
  }
  function roomPath(room, tail) { return "/api/chat/rooms/" + encodeURIComponent(room) + tail; }

  function initials(name) {
    var parts = String(name || "").replace(/-/g, " ").split(/\s+/).filter(Boolean);
    return (parts.slice(0, 2).map(function (p) { return p[0]; }).join("") || "?").toUpperCase();
  }
  function timeEl(iso) {
    var t = document.createElement("time");
    var d = new Date(iso);
    t.setAttribute("datetime", iso);
    t.title = isNaN(d) ? iso : d.toLocaleString();
    t.textContent = isNaN(d) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    return t;
  }
  function messageEl(m, me) {
    var li = document.createElement("li");
    li.className = "chat-msg" + (m.user_id === me ? " chat-mine" : "");
    li.dataset.id = m.id;
    li.setAttribute("data-testid", "chat-message");
    var avatar = document.createElement("span");
    avatar.className = "avatar avatar-sm";
    avatar.setAttribute("aria-hidden", "true");
    avatar.textContent = initials(m.user_name);
    var bubble = document.createElement("div");
    bubble.className = "chat-bubble";
    var meta = document.createElement("div");
    meta.className = "chat-meta";
    var who = document.createElement("strong");
    who.className = "chat-author";
    who.textContent = m.user_name;
    meta.appendChild(who);
    meta.appendChild(timeEl(m.created_at));
    var text = document.createElement("p");
    text.className = "chat-body";
    text.textContent = m.body;
    bubble.appendChild(meta);
    bubble.appendChild(text);
    li.appendChild(avatar);
    li.appendChild(bubble);
    return li;
  }

  /* ---- one room panel ------------------------------------------------------------------------- */
  function Room(el) {
    this.el = el;
    this.room = el.dataset.chatRoom;
    this.me = el.dataset.me;
    this.log = el.querySelector("[data-chat-log]");
    this.list = el.querySelector("[data-chat-messages]");
    this.empty = el.querySelector("[data-chat-empty]");
    this.earlier = el.querySelector("[data-chat-earlier]");
    this.form = el.querySelector("[data-chat-form]");
    this.input = el.querySelector("[data-chat-input]");
    this.error = el.querySelector("[data-chat-error]");
    this.presence = el.querySelector("[data-chat-presence-list]");
    this.unseen = false;   // messages arrived that the reader has not had in view
    this.readTimer = null;
    this.sending = false;
    this.bind();
    this.scrollToEnd();
    this.join();
    this.markReadSoon();
  }
  Room.prototype.join = function () {
    if (window.awLive) { window.awLive.send({ type: "chat.join", room: this.room }); }
  };
  Room.prototype.nearBottom = function () {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < NEAR_BOTTOM;
  };
  Room.prototype.scrollToEnd = function () { this.log.scrollTop = this.log.scrollHeight; };
  Room.prototype.inView = function () { return document.visibilityState === "visible" && this.nearBottom(); };
  Room.prototype.lastId = function () {
    var items = this.list.querySelectorAll("li[data-id]");
    return items.length ? items[items.length - 1].dataset.id : null;
  };
  Room.prototype.markReadSoon = function () {
    var self = this;
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(function () {
      if (!self.inView()) { return; }
      var upTo = self.lastId();
      self.unseen = false;
      api("POST", roomPath(self.room, "/read"), upTo ? { up_to: upTo } : {}).then(function () {
        RoomList.cleared(self.room);
      }, function () { /* the marker moves next time */ });
    }, 400);
  };
  Room.prototype.add = function (m, fresh) {
    if (this.list.querySelector('li[data-id="' + CSS.escape(m.id) + '"]')) { return; }  // the poster's echo
    var follow = this.nearBottom() || m.user_id === this.me;
    var mine = m.user_id === this.me;
    if (!mine && !this.inView() && !this.list.querySelector("[data-chat-divider]")) {
      var divider = document.createElement("li");
      divider.className = "chat-divider";
      divider.setAttribute("data-chat-divider", "");
      divider.setAttribute("role", "separator");
      divider.innerHTML = "<span>New messages</span>";
      this.list.appendChild(divider);
    } else if (mine) {
      var old = this.list.querySelector("[data-chat-divider]");
      if (old) { old.remove(); }
    }
    var li = messageEl(m, this.me);
    if (fresh) { li.classList.add("chat-fresh"); }
    this.list.appendChild(li);
    this.empty.hidden = true;
    if (follow) { this.scrollToEnd(); }
    if (!mine) { this.unseen = true; this.markReadSoon(); }
  };
  Room.prototype.showMembers = function (members) {
    var box = this.presence, me = this.me;
    box.textContent = "";
    if (!members.length) {
      var none = document.createElement("span");
      none.className = "muted small";
      none.textContent = "nobody";
      box.appendChild(none);
      return;
    }
    members.forEach(function (m) {
      var chip = document.createElement("span");
      chip.className = "chat-here" + (m.user_id === me ? " chat-me" : "");
      chip.textContent = m.user_id === me ? m.name + " (you)" : m.name;
      chip.setAttribute("data-user", m.user_id);
      box.appendChild(chip);
    });
  };
  Room.prototype.showError = function (text) {
    this.error.textContent = text || "";
    this.error.hidden = !text;
  };
  Room.prototype.send = function () {
    var self = this, text = this.input.value.trim();
    if (this.sending) { return; }
    if (!text) { this.showError("Write a message first."); this.input.focus(); return; }
    if (text.length > 4000) { this.showError("A message can be at most 4000 characters."); return; }
    this.sending = true;
    this.showError("");
    api("POST", roomPath(this.room, "/messages"), { body: text }).then(function (m) {
      self.input.value = "";
      self.autosize();
      self.add(m, true);
      self.scrollToEnd();
    }, function (err) {
      self.showError(err.message + " Your message is still in the box.");
    }).then(function () { self.sending = false; self.input.focus(); });
  };
  Room.prototype.loadEarlier = function () {
    var self = this, first = this.list.querySelector("li[data-id]");
    var url = roomPath(this.room, "/messages") + (first ? "?before=" + encodeURIComponent(first.dataset.id) : "");
    this.earlier.disabled = true;
    api("GET", url).then(function (page) {
      var height = self.log.scrollHeight, anchor = self.list.firstChild;
      page.messages.forEach(function (m) {
        if (!self.list.querySelector('li[data-id="' + CSS.escape(m.id) + '"]')) {
          self.list.insertBefore(messageEl(m, self.me), anchor);
        }
      });
      if (page.messages.length) { self.empty.hidden = true; }
      self.log.scrollTop += self.log.scrollHeight - height;  // keep the reader where they were
      self.earlier.hidden = !page.has_more;
    }, function (err) { self.showError(err.message); }).then(function () { self.earlier.disabled = false; });
  };
  Room.prototype.autosize = function () {
    this.input.style.height = "auto";
    this.input.style.height = Math.min(this.input.scrollHeight + 2, 180) + "px";
  };
  Room.prototype.bind = function () {
    var self = this;
    this.form.addEventListener("submit", function (e) { e.preventDefault(); self.send(); });
    this.input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); self.send(); }
    });
    this.input.addEventListener("input", function () { self.autosize(); if (self.input.value.trim()) { self.showError(""); } });
    if (this.earlier) { this.earlier.addEventListener("click", function () { self.loadEarlier(); }); }
    this.log.addEventListener("scroll", function () { if (self.unseen && self.nearBottom()) { self.markReadSoon(); } });
  };

  /* ---- the rooms list (chat page): live unread badges --------------------------------------------- */
  var RoomList = {
    badge: function (room) {
      var link = document.querySelector('[data-room-link="' + CSS.escape(room) + '"]');
      return link ? link.querySelector("[data-unread]") : null;
    },
    set: function (room, n) {
      var badge = this.badge(room);
      if (!badge) { return; }
      badge.dataset.unread = String(n);
      badge.textContent = n > 99 ? "99+" : String(n);
      badge.setAttribute("aria-label", n + " unread");
      badge.hidden = n === 0;
    },
    bump: function (room) {
      var badge = this.badge(room);
      if (badge) { this.set(room, parseInt(badge.dataset.unread || "0", 10) + 1); }
    },
    cleared: function (room) { this.set(room, 0); },
    touched: function (room) {  // a company room's "last message" line
      var link = document.querySelector('[data-room-link="' + CSS.escape(room) + '"]');
      var line = link && link.querySelector("[data-last-message]");
      if (line) { line.textContent = "Last message just now"; }
    }
  };

  /* ---- wiring ---------------------------------------------------------------------------------- */
  var rooms = [];
  function find(room) { return rooms.filter(function (r) { return r.room === room; }); }
  function scan() {
    document.querySelectorAll("[data-chat-room]").forEach(function (el) {
      if (!el.awChat) { el.awChat = new Room(el); rooms.push(el.awChat); }
    });
  }
  function joinAll() { rooms.forEach(function (r) { r.join(); }); }

  body.addEventListener("aw-connected", joinAll);  // also after every reconnect
  setInterval(joinAll, HEARTBEAT);
  body.addEventListener("aw-chat-message", function (e) {
    var d = (e.detail && e.detail.data) || {}, m = d.message;
    if (!m || !d.room) { return; }
    var open = find(d.room);
    open.forEach(function (r) { r.add(m, true); });
    RoomList.touched(d.room);
    var me = (document.querySelector("[data-me]") || { dataset: {} }).dataset.me;
    if (m.user_id !== me && !open.some(function (r) { return r.inView(); })) { RoomList.bump(d.room); }
  });
  body.addEventListener("aw-chat-presence", function (e) {
    var d = (e.detail && e.detail.data) || {};
    find(d.room).forEach(function (r) { r.showMembers(d.members || []); });
  });
  body.addEventListener("aw-chat-error", function (e) {  // the server refused a join
    var d = (e.detail && e.detail.data) || {};
    find(d.room).forEach(function (r) { r.showError("Live updates for this room are off: " + (d.message || "refused") + "."); });
  });
  body.addEventListener("aw-chat-read", function (e) {  // this user read a room (in any tab)
    var d = (e.detail && e.detail.data) || {};
    if (d.room) { RoomList.cleared(d.room); }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      rooms.forEach(function (r) { if (r.unseen) { r.markReadSoon(); } });
    }
  });

  window.awChat = { scan: scan, rooms: rooms };
  scan();
})();
