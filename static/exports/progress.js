// Live progress for export jobs: polls the admin status endpoint while any visible job is unfinished.
(function () {
  "use strict";
  var FINISHED = { succeeded: true, failed: true, cancelled: true };
  var INTERVAL_MS = 1500;

  function bars() {
    return Array.prototype.slice.call(document.querySelectorAll("progress.export-progress[data-export-id]"));
  }

  function unfinishedIds() {
    var ids = {};
    bars().forEach(function (bar) {
      if (!FINISHED[bar.dataset.status]) { ids[bar.dataset.exportId] = true; }
    });
    return Object.keys(ids);
  }

  function apply(job) {
    bars().forEach(function (bar) {
      if (bar.dataset.exportId !== String(job.id)) { return; }
      bar.value = job.progress;
      bar.dataset.status = job.status;
      bar.textContent = Math.round(job.progress * 100) + "%";
      bar.title = job.row_count + (job.total_rows !== null ? " / " + job.total_rows : "") + " rows";
    });
    document.querySelectorAll(".export-status[data-export-id='" + job.id + "']").forEach(function (el) {
      el.textContent = job.status_display;  // textContent: never parsed as HTML
      el.dataset.status = job.status;
    });
    if (job.status === "succeeded") {
      var item = document.getElementById("export-download-item");
      if (item) { item.hidden = false; }
    }
    if (FINISHED[job.status]) {
      document.querySelectorAll(".export-cancel-form").forEach(function (form) { form.hidden = true; });
    }
  }

  function poll() {
    var root = document.getElementById("export-progress-root");
    var ids = unfinishedIds();
    if (!root || ids.length === 0) { return; }
    var url = root.dataset.statusUrl + "?ids=" + encodeURIComponent(ids.join(","));
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { jobs: [] }; })
      .then(function (data) { data.jobs.forEach(apply); })
      .catch(function () { /* transient: the next poll retries */ })
      .then(function () { if (unfinishedIds().length) { window.setTimeout(poll, INTERVAL_MS); } });
  }

  document.addEventListener("DOMContentLoaded", function () { window.setTimeout(poll, INTERVAL_MS); });
})();
