// The runbook YAML editor: line numbers that follow the text and its scrolling, and "go to line" from a problem.
(function () {
  "use strict";

  function setup(editor) {
    var area = editor.querySelector("[data-textarea]");
    var gutter = editor.querySelector("[data-gutter]");
    if (!area || !gutter) return;
    var bad = {};
    gutter.querySelectorAll("li.rb-bad").forEach(function (li) { bad[li.textContent.trim()] = li.title; });

    function renumber() {
      var count = area.value.split("\n").length;
      if (gutter.children.length === count) return;
      var html = [];
      for (var n = 1; n <= count; n++) {
        var title = bad[String(n)];
        html.push('<li id="rb-line-' + n + '"' + (title ? ' class="rb-bad" title="' + title.replace(/"/g, "&quot;") + '"' : "") + ">" + n + "</li>");
      }
      gutter.innerHTML = html.join("");
    }

    function renumberAll() { gutter.innerHTML = ""; renumber(); }

    // "Check" replaced the problems list: mark the lines it names, drop the stale list under the editor.
    document.body.addEventListener("htmx:afterSettle", function () {
      var list = document.getElementById("rb-problems");
      if (!list || list.getAttribute("data-checked") !== "true") return;
      bad = {};
      list.querySelectorAll("[data-line]").forEach(function (li) {
        var n = li.getAttribute("data-line");
        bad[n] = bad[n] ? bad[n] + " · " + li.getAttribute("data-message") : li.getAttribute("data-message");
      });
      var stale = document.querySelector("[data-testid=inline-problems]");
      if (stale) stale.remove();
      editor.classList.toggle("has-problems", Object.keys(bad).length > 0);
      renumberAll();
    });

    area.addEventListener("input", renumber);
    area.addEventListener("scroll", function () { gutter.scrollTop = area.scrollTop; });
    area.addEventListener("keydown", function (event) {
      if (event.key !== "Tab" || event.shiftKey) return;
      event.preventDefault();  // two spaces, as YAML wants (never a tab character)
      var start = area.selectionStart;
      area.setRangeText("  ", start, area.selectionEnd, "end");
      renumber();
    });

    document.addEventListener("click", function (event) {
      var link = event.target.closest("[data-goto-line]");
      if (!link) return;
      event.preventDefault();
      var line = parseInt(link.getAttribute("data-goto-line"), 10);
      var lines = area.value.split("\n");
      var start = 0;
      for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
      var end = start + (lines[line - 1] || "").length;
      area.focus({ preventScroll: true });
      area.setSelectionRange(start, end);
      var lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 19;
      area.scrollTop = Math.max(0, (line - 4) * lineHeight);  // when the text scrolls inside the box
      var mark = document.getElementById("rb-line-" + line);  // when the page scrolls
      if (mark) mark.scrollIntoView({ block: "center" });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-editor]").forEach(setup);
  });
})();
