// The periodic task form of django-celery-beat: show the chosen crontab in words under the field.
// (Moved out of the library's inline script so the admin's CSP can forbid inline script.)
(function () {
  "use strict";
  function ready() {
    var readable = JSON.parse(document.getElementById("readable-crontabs").textContent);
    var helpText = JSON.parse(document.getElementById("crontab-help-text").textContent);
    var select = document.getElementById("id_crontab");
    var help = document.querySelector(".field-crontab .help");
    var translation = document.querySelector(".field-crontab_translation");
    if (translation) translation.style.display = "none";
    if (!select || !help) return;
    select.addEventListener("change", function () {
      help.textContent = "";
      help.append(helpText, document.createElement("br"), "Translation: " + (readable[select.value] || ""));
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
