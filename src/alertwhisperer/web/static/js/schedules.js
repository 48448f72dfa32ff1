/* Schedule editor: members are picked from the people covering the chosen company, so changing the company of a
   new schedule reloads the form for it (only while no member has been picked yet, so nothing typed is lost). */
(function () {
  "use strict";
  document.addEventListener("change", function (e) {
    var select = e.target;
    if (!select.matches || !select.matches("[data-reload-members]")) { return; }
    var form = select.form;
    var picked = Array.prototype.some.call(form.querySelectorAll("select[name$='-members']"), function (s) { return s.value; });
    var hint = document.getElementById("company-reload-hint");
    if (picked) { if (hint) { hint.hidden = false; } return; }
    var url = new URL(window.location.href);
    url.searchParams.set("company_id", select.value);
    window.location.assign(url.toString());
  });
}());
