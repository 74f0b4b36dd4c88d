/*
 * The review loop on one page (templates/admin/queues/review.html). The score controls are the annotation
 * panel's (static/reviews/annotation_panel.js, driven through window.AssayAnnotationPanel); requests go
 * through static/core/http.js.
 *
 * While the reviewer works, the item they get next is prefetched (GET review/peek/, nothing reserved).
 * Submit shows the prefetched item at once and posts the review with `?open=<its id>`: the one request
 * saves and takes the shown item's reservation (answering with its action bar, or with another item when
 * someone took it meanwhile) and sends the item after it along (`prefetch=1`: the next prefetch). Skip
 * does the same without the optimistic swap. The URL follows with the
 * history API, and back/forward load the item they point at (GET <item>/data/, POST <item>/open/). Keys
 * typed before the next item is on screen are swallowed, so none lands on the arriving item; once it is
 * shown it takes keys at once, and only Submit / Skip / moving on wait for the save's answer. A failed
 * save puts the item back with the form as typed and says so at the top (aria-live) with a retry.
 * State comes from the json_script #assay-review-state; trace content is only ever inserted as the
 * server-rendered (escaped) HTML of the item.
 */
(function () {
  "use strict";

  var MAX_TAKEN_RETRIES = 5;
  var DIGIT_WINDOW_MS = 900;
  var state = null;
  var active = 1; // the score the keys act on (1-based, as data-score-index)
  var busy = false; // a swap is under way (the next item not on screen yet): keys are swallowed
  var pending = false; // the next item is on screen, the save and its reservation not yet answered
  var prefetched = null; // {forItem, promise}
  var retryAction = null;
  var digits = { buffer: "", timer: null };

  function $(selector, scope) { return (scope || document).querySelector(selector); }
  function readState() { state = JSON.parse(document.getElementById("assay-review-state").textContent); }
  function panelRoot() { return $("[data-review-panel] [data-assay-annotations]"); }
  function api() { return window.AssayAnnotationPanel; }
  function http() { return window.AssayHttp; }
  function itemHolder() { return $("[data-review-item]"); }

  function message(text) {
    var el = $("[data-review-message]");
    if (el) el.textContent = text;
  }

  function showAlert(text, retry) {
    var box = $("[data-review-alert]");
    retryAction = retry || null;
    $("[data-review-alert-text]", box).textContent = text;
    $("[data-review-action=retry]", box).hidden = !retry;
    box.hidden = false;
  }

  function clearAlert() {
    var box = $("[data-review-alert]");
    retryAction = null;
    if (box) box.hidden = true;
  }

  function setBusy(on) {
    busy = on;
    var holder = itemHolder();
    if (holder) holder.setAttribute("aria-busy", on ? "true" : "false");
    document.documentElement.classList.toggle("assay-review-swapping", on);
  }

  // ---------------------------------------------------------------- score focus

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

  function focusIn(selector) {
    var root = panelRoot();
    var el = root && root.querySelector(selector);
    if (el) { el.focus(); return true; }
    return false;
  }

  function focusCurrentScore() {
    var fs = fields()[active - 1];
    var input = fs && fs.querySelector("[data-score-input], [data-option]");
    if (input) input.focus();
  }

  function focusTextScore() {
    var texts = fields().filter(function (fs) { return fs.dataset.kind === "text"; });
    if (!texts.length) { message("This queue has no text score."); return; }
    var after = texts.filter(function (fs) { return Number(fs.dataset.scoreIndex) > active; })[0];
    var target = document.activeElement && texts.some(function (fs) { return fs.contains(document.activeElement); })
      ? (after || texts[0]) : (texts.filter(function (fs) { return Number(fs.dataset.scoreIndex) >= active; })[0] || texts[0]);
    active = Number(target.dataset.scoreIndex);
    highlight(true);
    target.querySelector("[data-score-input]").focus();
  }

  function focusMetadata() {
    if (focusIn("[data-meta-key]")) return;
    var add = panelRoot() && panelRoot().querySelector("[data-action=add-meta]");
    if (add) { add.click(); focusIn("[data-meta-row]:last-child [data-meta-key]"); }
  }

  function digit(key) {
    var root = panelRoot();
    if (!root || !api()) return;
    if (api().kindAt(root, active) === "continuous") {
      clearTimeout(digits.timer);
      digits.buffer = (digits.buffer + key).slice(-3);
      var percent = digits.buffer.length === 1 ? Number(key) * 10 : Math.min(100, Number(digits.buffer));
      api().setPercent(root, active, percent);
      if (digits.buffer.length >= 3 || percent === 100) digits.buffer = "";
      digits.timer = setTimeout(function () { digits.buffer = ""; }, DIGIT_WINDOW_MS);
      return;
    }
    digits.buffer = "";
    if (key === "0" || !api().pickOption(root, active, Number(key))) message("No option " + key + " here.");
  }

  // ---------------------------------------------------------------- Expected: one Text/JSON choice per queue

  function expectedModeKey() {
    var root = panelRoot();
    var panel = root && api() && api().init(root);
    return panel && panel.state ? panel.state.expectedModeKey : null;
  }

  function applyExpectedMode() {
    var key = expectedModeKey();
    var stored = null;
    try { stored = key ? window.localStorage.getItem(key) : null; } catch (err) { stored = null; }
    if (stored) api().setExpectedMode(panelRoot(), stored);
  }

  function rememberExpectedMode(mode) {
    var key = expectedModeKey();
    try { if (key) window.localStorage.setItem(key, mode); } catch (err) { /* private mode: not kept */ }
  }

  function toggleExpectedMode() {
    var root = panelRoot();
    var select = root && root.querySelector("[data-expected-mode]");
    if (!select) return;
    var mode = select.value === "json" ? "text" : "json";
    api().setExpectedMode(root, mode);
    rememberExpectedMode(mode);
    message("Expected output: " + (mode === "json" ? "JSON" : "Text") + " (kept for this queue).");
  }

  // ---------------------------------------------------------------- showing an item

  function openUrl(itemUrl) { return itemUrl + "open/"; }
  function dataUrl(itemUrl) { return itemUrl + "data/"; }

  function peek(exclude) {
    return http().getJSON(state.peekUrl + "?exclude=" + exclude.join(",")).then(function (answer) {
      if (!answer.ok) throw new Error(answer.data.error || "Could not load the next item.");
      return answer.data;
    });
  }

  function prefetch() {
    if (!state || !state.peekUrl) return;
    var forItem = state.itemId;
    var entry = { forItem: forItem, promise: peek([forItem]), value: null };
    entry.promise.then(function (data) { entry.value = data; }, function () { /* fetched again when needed */ });
    prefetched = entry;
  }

  function schedulePrefetch() {
    prefetched = null;
    var run = function () { if (!busy) prefetch(); };
    if (window.requestIdleCallback) window.requestIdleCallback(run, { timeout: 500 });
    else setTimeout(run, 100);
  }

  // Swap in an item whose HTML we hold, after its reservation is taken; the bar comes from the open answer.
  // The item's HTML as nodes, without the stylesheets and scripts the page already has (re-inserting
  // them would make the browser re-evaluate them on every swap).
  function fragment(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html;
    holder.content.querySelectorAll("link[rel=stylesheet], script[src]").forEach(function (el) {
      var url = el.getAttribute("href") || el.getAttribute("src");
      if (document.head.querySelector('[href="' + CSS.escape(url) + '"], [src="' + CSS.escape(url) + '"]')) el.remove();
    });
    return holder.content;
  }

  // Put an item's HTML on screen (its reservation and action bar follow in `confirm`).
  function display(payload) {
    itemHolder().replaceChildren(fragment(payload.html));
    if (window.AssayAnnotationPanel) window.AssayAnnotationPanel.initAll();
    if (window.AssayTraceViews) window.AssayTraceViews.init(itemHolder());
    applyExpectedMode();
    active = 1;
    digits.buffer = "";
    highlight(false);
    if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
    window.scrollTo(0, 0);
  }

  function confirm(opened, push) {
    $("[data-review-bar]").innerHTML = opened.bar;
    readState();
    var crumb = $("[data-review-crumb]");
    if (crumb) crumb.textContent = "Item " + state.itemId;
    document.title = document.title.replace(/^[^|]*/, state.title + " ");
    if (push) window.history.pushState({ itemId: state.itemId }, "", state.url);
  }

  function show(payload, opened, push) {
    display(payload);
    confirm(opened, push);
  }

  function open(itemUrl) {
    return http().postJSON(openUrl(itemUrl), {}).then(function (answer) {
      if (!answer.ok) throw new Error(answer.data.error || "Could not open the item.");
      return answer.data;
    });
  }

  // The next item for the reviewer: the prefetched one if it is still free, else the next free one.
  function advance(fromItem) {
    var exclude = [fromItem];
    var first = prefetched && prefetched.forItem === fromItem ? prefetched.promise : peek(exclude);
    prefetched = null;
    var attempt = function (pending, tries) {
      return pending.then(function (data) {
        if (!data.item) { window.location.assign(data.done_url); return "left"; }
        return open(data.item.url).then(function (opened) {
          if (!opened.state.canSubmit && !opened.state.submitted && tries < MAX_TAKEN_RETRIES) {
            exclude.push(data.item.item_id); // someone else took it meanwhile
            return attempt(peek(exclude), tries + 1);
          }
          show(data.item, opened, true);
          return "shown";
        });
      });
    };
    return attempt(first, 0);
  }

  // An item by its URL (history, j/k): its HTML as it stands, then open it.
  function load(itemUrl, push) {
    setBusy(true);
    return http().getJSON(dataUrl(itemUrl)).then(function (answer) {
      if (!answer.ok) throw new Error(answer.data.error || "Could not load the item.");
      return open(itemUrl).then(function (opened) {
        if (opened.state.canSubmit !== answer.data.state.canSubmit) {
          // Its state changed between the two requests: its HTML again, now that it is opened.
          return http().getJSON(dataUrl(itemUrl)).then(function (again) { show(again.data, opened, push); });
        }
        show(answer.data, opened, push);
      });
    }).then(function () {
      setBusy(false);
      clearAlert();
      schedulePrefetch();
    }, function (err) {
      setBusy(false);
      showAlert((err && err.message) || "Could not load the item.", function () { load(itemUrl, push); });
    });
  }

  function moveOn(fromItem) {
    return advance(fromItem).then(function (outcome) {
      if (outcome === "left") return; // the page is being replaced: keep swallowing keys
      setBusy(false);
      clearAlert();
      schedulePrefetch();
    }, function (err) {
      setBusy(false);
      showAlert("Saved, but the next item did not load: " + ((err && err.message) || "error") + ".",
        function () { setBusy(true); moveOn(fromItem); });
    });
  }

  // ---------------------------------------------------------------- actions

  // After a submit or skip: the answer's `opened` is the next item's reservation and action bar, taken in
  // the same request (`?open=<id>`); its `item` is the HTML of another item when the one we meant to show
  // was taken meanwhile (or none was prefetched). `candidate` is the item we meant to show, `shown`
  // whether it is on screen already.
  function arrive(opened, candidate, shown, fromItem) {
    if (!opened) { setBusy(true); moveOn(fromItem); return; }
    if (!opened.state) { setBusy(true); window.location.assign(opened.done_url); return; }
    if (opened.item) {
      if (shown) message("Someone else took that item; showing the next one.");
      display(opened.item);
    } else if (!shown) {
      display(candidate);
    }
    confirm(opened, true);
    setBusy(false);
    clearAlert();
    if (opened.prefetch) {
      // The item after this one came with the answer: no prefetch request of the page's own.
      prefetched = { forItem: state.itemId, promise: Promise.resolve(opened.prefetch), value: opened.prefetch };
    } else {
      schedulePrefetch();
    }
  }

  function readyNext(fromItem) {
    var ready = prefetched && prefetched.forItem === fromItem && prefetched.value ? prefetched.value : null;
    prefetched = null;
    return ready && ready.item ? ready.item : null;
  }

  // The save of the item before (and this one's reservation) is under way: data-review-saving on the holder.
  function setPending(on) {
    pending = on;
    var holder = itemHolder();
    if (holder) holder.setAttribute("data-review-saving", on ? "true" : "false");
  }

  function stillSaving() {
    if (!pending) return false;
    message("Still saving the previous item; press it again in a moment.");
    return true;
  }

  function submitAndNext() {
    if (busy || stillSaving()) return;
    if (!state.canSubmit) { message("This item is read-only for you."); return; }
    var root = panelRoot();
    var body = {};
    if (root && api()) {
      try {
        body = api().payload(root) || {};
      } catch (problem) {
        api().showErrors(root, problem);
        showAlert(problem.error || "Fix the form before submitting.", null);
        return;
      }
    }
    var fromItem = state.itemId;
    var submitUrl = state.submitUrl;
    if (root && api()) api().setStatus(root, "Saving…", false);
    // A prefetched next item is on screen at once and takes keys at once: nothing typed before the swap
    // reaches it (the swap happens inside this key's handler), and only Submit / Skip / moving on wait
    // for the save (`pending`). The one request saves this item and reserves the next; a failed save
    // puts this item back as it was typed.
    var ready = readyNext(fromItem);
    var kept = null;
    if (ready) {
      kept = { nodes: Array.prototype.slice.call(itemHolder().childNodes), state: state };
      display(ready);
      setPending(true);
    } else {
      setBusy(true); // nothing to show yet: keys are swallowed until the next item is on screen
    }
    var putBack = function () {
      if (!kept) return null;
      itemHolder().replaceChildren.apply(itemHolder(), kept.nodes);
      state = kept.state;
      active = 1;
      highlight(false);
      return panelRoot();
    };
    var url = submitUrl + "?html=0&prefetch=1&open=" + (ready ? ready.item_id : "next");
    http().postJSON(url, body).then(function (answer) {
      setPending(false);
      if (!answer.ok) {
        root = putBack() || root;
        setBusy(false);
        if (root && api()) api().showErrors(root, answer.data);
        showAlert("Not saved: " + (answer.data.error || "the server refused it") + ".", submitAndNext);
        return;
      }
      arrive(answer.data.opened, ready, !!ready, fromItem);
    }, function (err) {
      setPending(false);
      root = putBack() || root;
      setBusy(false);
      if (root && api()) api().setStatus(root, "Not saved.", true);
      showAlert("Not saved: " + err.message + " What you entered is kept.", submitAndNext);
    });
  }

  function skip() {
    if (busy || stillSaving()) return;
    if (!state.canSubmit || state.submitted) { message("Only an item you are reviewing can be skipped."); return; }
    var fromItem = state.itemId;
    var ready = readyNext(fromItem);
    setBusy(true);
    http().postJSON(state.skipUrl + "?prefetch=1&open=" + (ready ? ready.item_id : "next"), {}).then(function (answer) {
      if (!answer.ok) {
        setBusy(false);
        showAlert("Not skipped: " + (answer.data.error || "the server refused it") + ".", skip);
        return;
      }
      arrive(answer.data.opened, ready, false, fromItem);
    }, function (err) {
      setBusy(false);
      showAlert("Not skipped: " + err.message, skip);
    });
  }

  function next() {
    if (stillSaving()) return;
    if (!state.nextUrl) { message("Submit (Ctrl+Enter) or skip (s) this item to move on."); return; }
    if (state.nextUrl === state.reviewUrl) { setBusy(true); moveOn(state.itemId); }
    else load(state.nextUrl, true);
  }

  function prev() {
    if (stillSaving()) return;
    if (state.prevUrl) load(state.prevUrl, true);
    else message("No earlier review of yours in this queue.");
  }

  function retry() {
    var action = retryAction;
    if (!action) return;
    clearAlert();
    action();
  }

  function toggleHelp() {
    var dialog = $("[data-review-help]");
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
    if (!state) return;
    if (busy) {
      // Nothing typed during a save or a swap reaches the page (or the item that arrives).
      if (["Shift", "Control", "Alt", "Meta", "CapsLock"].indexOf(event.key) === -1) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
      return;
    }
    var key = event.key;
    if (key === "Enter" && (event.ctrlKey || event.metaKey)) {
      // Handled here, before the panel's own Ctrl+Enter (save only), so it also moves on.
      event.preventDefault();
      event.stopImmediatePropagation();
      submitAndNext();
      return;
    }
    if (key === "Escape") {
      if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
      return;
    }
    var el = document.activeElement;
    if (typing(el) || event.altKey || event.ctrlKey || event.metaKey) return;
    if (el && el.type === "range" && /^(Arrow|Home|End|Page)/.test(key)) return; // the slider's own keys
    var handled = true;
    if (key === "j" || key === "ArrowRight") next();
    else if (key === "k" || key === "ArrowLeft") prev();
    else if (key === "s") skip();
    else if (key === "?") toggleHelp();
    else if (key === "r") retry();
    else if (key === "ArrowDown") { active += 1; digits.buffer = ""; highlight(true); }
    else if (key === "ArrowUp") { active -= 1; digits.buffer = ""; highlight(true); }
    else if (/^[0-9]$/.test(key)) digit(key);
    else if (key === "[" || key === "]" || key === "{" || key === "}") {
      var step = key === "[" ? -1 : key === "]" ? 1 : key === "{" ? -10 : 10;
      if (!api() || !api().nudge(panelRoot(), active, step)) message("The current score is not a slider.");
    } else if (key === "Enter") focusCurrentScore();
    else if (key === "w") focusTextScore();
    else if (key === "x") { if (api()) api().clearAt(panelRoot(), active); }
    else if (key === "e") focusIn("[data-expected]");
    else if (key === "f") toggleExpectedMode();
    else if (key === "c") focusIn("[data-comment]");
    else if (key === "t") focusIn("[data-tag-input]");
    else if (key === "m") focusMetadata();
    else handled = false;
    if (handled) event.preventDefault();
  }, true);

  document.addEventListener("click", function (event) {
    var pointer = event.target.closest("[data-focus-score]");
    if (pointer) {
      var fs = panelRoot() && panelRoot().querySelector('[data-score-config="' + CSS.escape(pointer.dataset.focusScore) + '"]');
      if (fs) { active = Number(fs.dataset.scoreIndex); highlight(true); focusCurrentScore(); }
      return;
    }
    var button = event.target.closest("[data-review-action]");
    if (!button || busy) return;
    var action = button.dataset.reviewAction;
    if (action === "submit") submitAndNext();
    else if (action === "skip") skip();
    else if (action === "next") next();
    else if (action === "prev") prev();
    else if (action === "help") toggleHelp();
    else if (action === "retry") retry();
    else if (action === "dismiss") clearAlert();
  });

  document.addEventListener("assay:expected-mode", function (event) { rememberExpectedMode(event.detail.mode); });
  document.addEventListener("assay:annotations-saved", function () { highlight(false); });

  window.addEventListener("popstate", function (event) {
    // Back/forward: show the item the URL names (the page itself is never reloaded).
    if (!state || busy || pending) return;
    var match = window.location.pathname.match(/\/review\/(\d+)\/$/);
    if (match && Number(match[1]) !== state.itemId) load(window.location.pathname, false);
    else if (!match) window.location.reload();
  });

  function start() {
    readState();
    window.history.replaceState({ itemId: state.itemId }, "", window.location.href);
    applyExpectedMode();
    highlight(false);
    if (state.canSubmit && !state.submitted) schedulePrefetch();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
