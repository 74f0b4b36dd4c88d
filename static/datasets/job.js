// Polls a dataset job's status and updates the progress bar until it finishes.
(function () {
  "use strict";
  const root = document.getElementById("ds-job");
  if (!root) return;
  const url = root.dataset.statusUrl;
  const el = (id) => document.getElementById(id);
  const labels = {queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed"};
  function render(job) {
    el("ds-job-status").textContent = labels[job.status] || job.status;
    el("ds-job-progress").value = job.progress;
    el("ds-job-count").textContent = job.done + " / " + job.total;
    if (job.error) { el("ds-job-error").textContent = job.error; el("ds-job-error").hidden = false; }
    if (job.status === "succeeded") el("ds-job-done").hidden = false;
    return job.status === "succeeded" || job.status === "failed";
  }
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then((r) => r.json())
      .then((job) => { if (!render(job)) setTimeout(poll, 1000); })
      .catch(() => setTimeout(poll, 3000));
  }
  poll();
})();
