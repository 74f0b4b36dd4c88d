// Trace views: carousels (prev/next) and the review view switcher. No trace content is evaluated here.
(function () {
  "use strict";

  function initCarousel(root) {
    if (root.dataset.carouselReady) return;
    root.dataset.carouselReady = "1";
    var items = Array.prototype.filter.call(root.querySelectorAll("[data-carousel-item]"), function (el) {
      return el.parentElement === root;
    });
    var pos = root.querySelector("[data-carousel-pos]");
    var index = 0;
    function show(i) {
      index = (i + items.length) % items.length;
      items.forEach(function (el, n) { el.hidden = n !== index; });
      if (pos) pos.textContent = (index + 1) + " / " + items.length;
    }
    var prev = root.querySelector("[data-carousel-prev]");
    var next = root.querySelector("[data-carousel-next]");
    if (prev) prev.addEventListener("click", function () { show(index - 1); });
    if (next) next.addEventListener("click", function () { show(index + 1); });
    if (items.length) show(0);
  }

  function init(scope) {
    (scope || document).querySelectorAll("[data-carousel]").forEach(initCarousel);
    initSwitchers(scope);
    (scope || document).querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      if (select.dataset.ready) return;
      select.dataset.ready = "1";
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  function initSwitchers(scope) {
    (scope || document).querySelectorAll("select[data-switch-view]").forEach(function (select) {
      if (select.dataset.ready) return;
      select.dataset.ready = "1";
      select.addEventListener("change", function () {
        // Values are same-origin paths written by the server.
        if (select.value.charAt(0) === "/") window.location.assign(select.value);
      });
    });
  }

  window.AssayTraceViews = { init: init };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
})();
