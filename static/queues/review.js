/*
 * The review page's keyboard (templates/admin/queues/review.html). The score controls are the
 * annotation panel's (static/reviews/annotation_panel.js); this file drives them through
 * window.AssayAnnotationPanel and adds queue navigation: submit-and-next, skip, previous/next.
 * State comes from the json_script #assay-review-state; no trace content is read here.
 */
(function () {
  "use strict";

  var state = JSON.parse(document.getElementById("assay-review-state").textContent);
  var active = 1; // the score field ↑/↓ move between (1-based, as data-score-index)
  var busy = false;

  // The page's own panel (a trace view may embed more score controls in the body).
  function panelRoot() { return document.querySelector("[data-review-panel] [data-assay-annotations]"); }
  function api() { return window.AssayAnnotationPanel; }

  function message(text) {
    var el = document.querySelector("[data-review-message]");
    if (el) el.textContent = text;
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input && input.value) return input.value;
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function postJSON(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; },
        function () { return { ok: false, data: { error: "The server answered " + response.status + "." } }; });
    });
  }

  function fields() {
    var root = panelRoot();
    return root ? Array.prototype.slice.call(root.querySelectorAll("[data-score-index]")) : [];
  }

  function highlight(scroll) {
    var all = fields();
    if (!all.length) return;
    active = Math.max(1, Math.min(all.length, active));
    all.forEach(function (fs) {
      var on = Number(fs.dataset.scoreIndex) === active;
      fs.classList.toggle("assay-score-active", on);
      if (on) fs.setAttribute("aria-current", "true");
      else fs.removeAttribute("aria-current");
    });
    var current = all[active - 1];
    if (scroll && current && current.scrollIntoView) current.scrollIntoView({ block: "nearest" });
  }

  function go(url) { if (url) window.location.assign(url); }

  function submitEmpty() {
    return postJSON(state.submitUrl, {}).then(function (answer) {
      if (!answer.ok) { message(answer.data.error || "Could not submit."); return; }
      go(answer.data.result.next_url);
    });
  }

  function submitAndNext() {
    if (!state.canSubmit) { message("This item is read-only for you."); return; }
    if (busy) return;
    busy = true;
    var root = panelRoot();
    var saving = root && api() ? api().save(root) : Promise.resolve(null);
    saving.then(function (result) {
      if (result && result.next_url) { go(result.next_url); return; }
      var statusEl = panelRoot() && panelRoot().querySelector("[data-status]");
      var unchanged = !root || (statusEl && statusEl.textContent === "Nothing changed.");
      if (unchanged) return submitEmpty();
      busy = false; // validation errors are shown by the panel
    }).catch(function () { busy = false; });
  }

  function skip() {
    if (!state.canSubmit || state.submitted) { message("Only an item you are reviewing can be skipped."); return; }
    postJSON(state.skipUrl, {}).then(function (answer) {
      if (!answer.ok) { message(answer.data.error || "Could not skip."); return; }
      go(answer.data.next_url);
    });
  }

  function next() {
    if (state.nextUrl) go(state.nextUrl);
    else message("Submit (Ctrl+Enter) or skip (s) this item to move on.");
  }

  function prev() {
    if (state.prevUrl) go(state.prevUrl);
    else message("No earlier review of yours in this queue.");
  }

  function focusIn(selector) {
    var root = panelRoot();
    var el = root && root.querySelector(selector);
    if (el) { el.focus(); return true; }
    return false;
  }

  function focusMetadata() {
    if (focusIn("[data-meta-key]")) return;
    var add = panelRoot() && panelRoot().querySelector("[data-action=add-meta]");
    if (add) { add.click(); focusIn("[data-meta-row]:last-child [data-meta-key]"); }
  }

  function toggleHelp() {
    var dialog = document.querySelector("[data-review-help]");
    if (!dialog) return;
    if (dialog.open) dialog.close();
    else dialog.showModal();
  }

  function typing(el) {
    if (!el || el === document.body) return false;
    if (el.isContentEditable) return true;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag === "INPUT") return ["range", "checkbox", "radio", "button", "submit"].indexOf(el.type) === -1;
    return false;
  }

  document.addEventListener("keydown", function (event) {
    var key = event.key;
    if (key === "Enter" && (event.ctrlKey || event.metaKey)) {
      // Handled here, before the panel's own Ctrl+Enter (save only), so it also moves on.
      event.preventDefault();
      event.stopPropagation();
      submitAndNext();
      return;
    }
    if (key === "Escape") {
      if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
      return;
    }
    if (typing(document.activeElement) || event.altKey || event.ctrlKey || event.metaKey) return;
    var handled = true;
    if (key === "j" || key === "ArrowRight") next();
    else if (key === "k" || key === "ArrowLeft") prev();
    else if (key === "s") skip();
    else if (key === "?") toggleHelp();
    else if (key === "ArrowDown") { active += 1; highlight(true); }
    else if (key === "ArrowUp") { active -= 1; highlight(true); }
    else if (/^[1-9]$/.test(key)) {
      if (!api() || !api().pickOption(panelRoot(), active, Number(key))) message("No option " + key + " here.");
    } else if (key === "[" || key === "]") {
      if (!api() || !api().nudge(panelRoot(), active, key === "]" ? 5 : -5)) message("The current score is not a slider.");
    } else if (key === "e") focusIn("[data-expected]");
    else if (key === "c") focusIn("[data-comment]");
    else if (key === "t") focusIn("[data-tag-input]");
    else if (key === "m") focusMetadata();
    else handled = false;
    if (handled) event.preventDefault();
  }, true);

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-review-action]");
    if (!button) return;
    var action = button.dataset.reviewAction;
    if (action === "submit") submitAndNext();
    else if (action === "skip") skip();
    else if (action === "next") next();
    else if (action === "prev") prev();
    else if (action === "help") toggleHelp();
  });

  document.addEventListener("assay:annotations-saved", function () { highlight(false); });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { highlight(false); });
  else highlight(false);
})();
