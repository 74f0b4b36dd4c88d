// Collapsible span tree on the admin trace page: rows are a flat list with data-depth.
(function () {
  "use strict";

  function refresh(rows) {
    let limit = Infinity;
    rows.forEach(function (row) {
      const depth = Number(row.dataset.depth);
      if (depth > limit) {
        row.hidden = true;
        return;
      }
      limit = Infinity;
      row.hidden = false;
      if (row.classList.contains("is-collapsed")) limit = depth;
    });
  }

  function init(tree) {
    const rows = Array.from(tree.querySelectorAll(".assay-tree-row"));
    tree.addEventListener("click", function (event) {
      const toggle = event.target.closest(".assay-tree-toggle");
      if (!toggle) return;
      const row = toggle.closest(".assay-tree-row");
      const collapsed = row.classList.toggle("is-collapsed");
      toggle.setAttribute("aria-expanded", collapsed ? "false" : "true");
      refresh(rows);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-span-tree]").forEach(init);
  });
})();
