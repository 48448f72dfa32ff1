/* Remote access page: show only the fields of the chosen credential kind / executor. */
(function () {
  function toggle(selectId, selector, attr) {
    var sel = document.getElementById(selectId);
    if (!sel) { return; }
    function apply() {
      document.querySelectorAll(selector).forEach(function (el) {
        var show = (el.getAttribute(attr) || "").split(" ").indexOf(sel.value) >= 0;
        el.hidden = !show;
        el.querySelectorAll("input, textarea, select").forEach(function (f) { f.disabled = !show || f.closest("fieldset[disabled]") !== null; });
      });
    }
    sel.addEventListener("change", apply);
    apply();
  }
  function init() {
    toggle("f-kind", ".ra-kind", "data-kinds");
    toggle("f-executor", ".ra-exec", "data-executors");
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
