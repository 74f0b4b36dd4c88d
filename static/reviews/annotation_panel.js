/*
 * Annotation panel (templates/reviews/_annotation_panel.html).
 *
 * Reads its state from the json_script named by the root's data-state-id, turns each score config
 * into its control, and saves everything in one POST (JSON, CSRF header) to the panel's submit
 * endpoint, which calls apps.reviews.services.annotations_submit. After a save the server-rendered
 * panel replaces this one. Untrusted text is only ever set through textContent/value.
 *
 * For keyboard shortcuts (review queues): window.AssayAnnotationPanel.pickOption(root, scoreIndex,
 * optionIndex), .nudge(root, scoreIndex, deltaPercent), .setPercent(root, scoreIndex, percent),
 * .clearAt(root, scoreIndex), .save(root), .focusScore(root, scoreIndex), .payload(root) (the save body, or
 * throws {error, fields}), .setExpectedMode(root, "text"|"json"), .showErrors(root, data).
 * Chat outputs are corrected as the assistant's text and saved back in the message's shape.
 * Ctrl/Cmd+Enter inside the panel saves. Every save dispatches "assay:annotations-saved" on document.
 */
(function () {
  "use strict";
  if (window.AssayAnnotationPanel) {
    window.AssayAnnotationPanel.initAll();
    return;
  }

  function readState(root) {
    var el = document.getElementById(root.dataset.stateId);
    return el ? JSON.parse(el.textContent) : null;
  }

  function csrfToken(root) {
    var input = root.querySelector("input[name=csrfmiddlewaretoken]");
    if (input && input.value) return input.value;
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function percentOf(cfg, value) {
    return Math.round((100 * (value - cfg.min)) / (cfg.max - cfg.min));
  }

  function displayValue(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function setStatus(panel, text, isError) {
    var el = panel.root.querySelector("[data-status]");
    if (!el) return;
    el.textContent = text;
    el.classList.toggle("assay-ann-error", !!isError);
  }

  function renderOptions(panel, cfg, fieldset) {
    var value = panel.values[cfg.name];
    fieldset.querySelectorAll("[data-option]").forEach(function (btn) {
      var option = btn.dataset.option;
      var pressed;
      if (cfg.kind === "boolean") pressed = value !== null && String(value) === option;
      else if (cfg.multi) pressed = Array.isArray(value) && value.indexOf(option) !== -1;
      else pressed = value === option;
      btn.setAttribute("aria-pressed", pressed ? "true" : "false");
    });
  }

  function fieldsetFor(panel, cfg) {
    return panel.root.querySelector('[data-score-config][id="' + cfg.domId + '"]');
  }

  function pick(panel, cfg, option) {
    var value = panel.values[cfg.name];
    if (cfg.kind === "boolean") {
      var wanted = option === "true";
      value = value === wanted ? null : wanted;
    } else if (cfg.multi) {
      var list = Array.isArray(value) ? value.slice() : [];
      var at = list.indexOf(option);
      if (at === -1) list.push(option);
      else list.splice(at, 1);
      value = list.length ? list : null;
    } else {
      value = value === option ? null : option;
    }
    panel.values[cfg.name] = value;
    panel.dirty[cfg.name] = true;
    renderOptions(panel, cfg, fieldsetFor(panel, cfg));
  }

  function clearScore(panel, cfg) {
    var fs = fieldsetFor(panel, cfg);
    panel.values[cfg.name] = null;
    panel.dirty[cfg.name] = true;
    if (cfg.kind === "continuous") {
      fs.querySelector("[data-percent]").textContent = "—";
    } else if (cfg.kind === "text") {
      var input = fs.querySelector("[data-score-input]");
      input.value = "";
      fs.querySelector("[data-count]").textContent = "0";
    } else {
      renderOptions(panel, cfg, fs);
    }
  }

  function renderTags(panel) {
    var list = panel.root.querySelector("[data-tag-list]");
    if (!list) return;
    while (list.firstChild) list.removeChild(list.firstChild);
    var names = panel.state.tags.concat(panel.addTags);
    names.forEach(function (name) {
      var chip = document.createElement("span");
      chip.className = "assay-ann-tag";
      if (panel.addTags.indexOf(name) !== -1) chip.classList.add("assay-ann-tag-new");
      if (panel.removeTags.indexOf(name) !== -1) chip.classList.add("assay-ann-tag-removed");
      chip.dataset.tag = name;
      var colour = (panel.state.tagColours || {})[name];
      if (colour) chip.style.borderLeft = "4px solid " + colour;
      chip.appendChild(document.createTextNode(name + " "));
      var btn = document.createElement("button");
      btn.type = "button";
      btn.className = "assay-ann-link";
      btn.dataset.action = "remove-tag";
      btn.setAttribute("aria-label", "Remove tag " + name);
      btn.textContent = panel.removeTags.indexOf(name) !== -1 ? "undo" : "×";
      chip.appendChild(btn);
      list.appendChild(chip);
    });
  }

  function addTag(panel, raw) {
    var name = raw.trim();
    if (!name) return;
    var removedAt = panel.removeTags.indexOf(name);
    if (removedAt !== -1) panel.removeTags.splice(removedAt, 1);
    else if (panel.state.tags.indexOf(name) === -1 && panel.addTags.indexOf(name) === -1) panel.addTags.push(name);
    renderTags(panel);
  }

  function toggleRemoveTag(panel, name) {
    var added = panel.addTags.indexOf(name);
    if (added !== -1) {
      panel.addTags.splice(added, 1);
    } else {
      var at = panel.removeTags.indexOf(name);
      if (at === -1) panel.removeTags.push(name);
      else panel.removeTags.splice(at, 1);
    }
    renderTags(panel);
  }

  function addMetaRow(panel) {
    var body = panel.root.querySelector("[data-metadata] tbody");
    var row = document.createElement("tr");
    row.dataset.metaRow = "";
    ["data-meta-key", "data-meta-value"].forEach(function (attr, i) {
      var cell = document.createElement("td");
      var input = document.createElement("input");
      input.type = "text";
      input.setAttribute(attr, "");
      input.setAttribute("aria-label", i === 0 ? "Key" : "Value");
      if (i === 0) input.maxLength = 200;
      cell.appendChild(input);
      row.appendChild(cell);
    });
    var cell = document.createElement("td");
    var btn = document.createElement("button");
    btn.type = "button";
    btn.className = "assay-ann-link";
    btn.dataset.action = "remove-meta";
    btn.textContent = "×";
    cell.appendChild(btn);
    row.appendChild(cell);
    body.appendChild(row);
    row.querySelector("[data-meta-key]").focus();
  }

  function collectMetadata(panel) {
    var changes = {};
    panel.removedMeta.forEach(function (key) { changes[key] = null; });
    panel.root.querySelectorAll("[data-meta-row]").forEach(function (row) {
      var key = row.querySelector("[data-meta-key]").value.trim();
      var value = row.querySelector("[data-meta-value]").value;
      var original = row.dataset.originalKey;
      if (original && original !== key) changes[original] = null;
      if (!key) return;
      if (original === key && displayValue(panel.state.metadata[key]) === value) return;
      changes[key] = value;
    });
    return changes;
  }

  function clearErrors(panel) {
    panel.root.querySelectorAll("[data-error-for]").forEach(function (el) { el.textContent = ""; });
  }

  function showErrors(panel, data) {
    var shown = [];
    var targets = Array.prototype.slice.call(panel.root.querySelectorAll("[data-error-for]"));
    Object.keys(data.fields || {}).forEach(function (field) {
      var messages = [].concat(data.fields[field]).join(" ");
      var target = targets.filter(function (el) {
        var name = el.dataset.errorFor;
        return field === name || field.indexOf(name + ".") === 0;
      })[0];
      if (target) target.textContent = messages;
      else shown.push(field + ": " + messages);
    });
    setStatus(panel, [data.error || "Could not save."].concat(shown).join(" "), true);
  }

  function buildPayload(panel) {
    var payload = {};
    var scores = {};
    Object.keys(panel.dirty).forEach(function (name) { scores[name] = panel.values[name]; });
    if (Object.keys(scores).length) payload.scores = scores;
    if (panel.addTags.length) payload.tags = panel.addTags.slice();
    if (panel.removeTags.length) payload.remove_tags = panel.removeTags.slice();
    var comment = panel.root.querySelector("[data-comment]");
    if (comment && comment.value.trim()) payload.comment = comment.value;
    if (panel.expectedDirty) {
      var text = panel.root.querySelector("[data-expected]").value;
      if (panel.root.querySelector("[data-expected-mode]").value === "json") {
        try {
          payload.expected = JSON.parse(text);
        } catch (err) {
          throw { error: "The expected value is not valid JSON (or switch it to Text).",
                  fields: { expected: ["Not valid JSON: " + err.message] } };
        }
      } else {
        payload.expected = chatWithText(panel.state.expected.chat, text);
      }
    }
    var metadata = collectMetadata(panel);
    if (Object.keys(metadata).length) payload.metadata = metadata;
    return payload;
  }

  // A chat output corrected as text keeps its shape: the assistant message (the last one) gets the text.
  function chatWithText(chat, text) {
    if (!chat) return text;
    var copy = JSON.parse(JSON.stringify(chat));
    if (Array.isArray(copy)) copy[copy.length - 1].content = text;
    else copy.content = text;
    return copy;
  }

  function chatText(value) {
    if (value && !Array.isArray(value) && typeof value === "object" && typeof value.content === "string") return value.content;
    if (Array.isArray(value) && value.length && value[value.length - 1] && typeof value[value.length - 1].content === "string") {
      return value[value.length - 1].content;
    }
    return null;
  }

  // Switch the Expected box between Text and JSON, converting what it holds (not a change by itself).
  function setExpectedMode(root, mode) {
    var panel = init(root);
    if (!panel) return false;
    var select = panel.root.querySelector("[data-expected-mode]");
    var box = panel.root.querySelector("[data-expected]");
    if (!select || !box || (mode !== "json" && mode !== "text")) return false;
    if (select.value === mode) return true;
    var text = box.value;
    var chat = panel.state.expected.chat;
    if (mode === "json") {
      if (!panel.expectedDirty) text = panel.state.expected.json;
      else if (chat) text = JSON.stringify(chatWithText(chat, text), null, 2);
      else text = JSON.stringify(text);
    } else {
      var parsed;
      try { parsed = JSON.parse(text); } catch (err) { parsed = undefined; }
      if (!panel.expectedDirty) text = panel.state.expected.mode === "text" ? panel.state.expected.text : text;
      else if (typeof parsed === "string") text = parsed;
      else if (chat && chatText(parsed) !== null) text = chatText(parsed);
    }
    if (mode === "text" && chat && parsed !== undefined && chatText(parsed) === null) panel.state.expected.chat = null;
    box.value = text;
    select.value = mode;
    select.dataset.mode = mode;
    return true;
  }

  // The save body as it stands, or throws {error, fields} (invalid JSON in the Expected box).
  function payloadOf(root) {
    var panel = init(root);
    if (!panel || !panel.root.querySelector("[data-annotation-form]")) return null;
    clearErrors(panel);
    return buildPayload(panel);
  }

  function save(root) {
    var panel = init(root);
    if (!panel || !panel.root.querySelector("[data-annotation-form]")) return Promise.resolve(null);
    clearErrors(panel);
    var payload;
    try {
      payload = buildPayload(panel);
    } catch (problem) {
      showErrors(panel, problem);
      return Promise.resolve(null);
    }
    if (!Object.keys(payload).length) {
      setStatus(panel, "Nothing changed.", false);
      return Promise.resolve(null);
    }
    var button = panel.root.querySelector("[data-action=save]");
    button.disabled = true;
    setStatus(panel, "Saving…", false);
    return fetch(panel.state.submitUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(panel.root), Accept: "application/json" },
      body: JSON.stringify(payload),
    })
      .then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; },
          function () { return { ok: false, data: { error: "The server answered " + response.status + "." } }; });
      })
      .then(function (answer) {
        button.disabled = false;
        if (!answer.ok) {
          showErrors(panel, answer.data);
          return null;
        }
        var html = answer.data.html
          ? Promise.resolve(answer.data.html)
          : fetch(panel.state.panelUrl, { credentials: "same-origin" }).then(function (r) { return r.text(); });
        return html.then(function (text) {
          var holder = document.createElement("template");
          holder.innerHTML = text;
          var fresh = holder.content.querySelector("[data-assay-annotations]");
          if (fresh) {
            panel.root.replaceWith(fresh);
            setStatus(init(fresh), "Saved.", false);
          } else {
            setStatus(panel, "Saved.", false);
          }
          document.dispatchEvent(new CustomEvent("assay:annotations-saved", {
            detail: { spanPk: panel.state.spanPk, result: answer.data.result, root: fresh || panel.root },
          }));
          return answer.data.result;
        });
      })
      .catch(function (err) {
        button.disabled = false;
        setStatus(panel, "Could not save: " + err.message, true);
        return null;
      });
  }

  function init(root) {
    if (root.__assayPanel) return root.__assayPanel;
    var state = readState(root);
    if (!state) return null;
    var panel = {
      root: root, state: state, values: {}, dirty: {}, addTags: [], removeTags: [],
      expectedDirty: false, removedMeta: new Set(), configs: {},
    };
    root.__assayPanel = panel;
    state.configs.forEach(function (cfg) {
      panel.configs[cfg.name] = cfg;
      panel.values[cfg.name] = state.mine[cfg.name] === undefined ? null : state.mine[cfg.name];
    });
    var form = root.querySelector("[data-annotation-form]");
    if (!form) return panel;

    root.querySelectorAll("[data-score-config]").forEach(function (fs) {
      var cfg = panel.configs[fs.dataset.scoreConfig];
      if (!cfg) return;
      if (cfg.kind === "continuous") {
        var slider = fs.querySelector("[data-score-input]");
        var out = fs.querySelector("[data-percent]");
        var show = function () {
          out.textContent = panel.values[cfg.name] === null ? "—" : percentOf(cfg, Number(slider.value)) + "%";
        };
        slider.addEventListener("input", function () {
          panel.values[cfg.name] = Number(slider.value);
          panel.dirty[cfg.name] = true;
          show();
        });
        show();
      } else if (cfg.kind === "text") {
        var box = fs.querySelector("[data-score-input]");
        var count = fs.querySelector("[data-count]");
        box.addEventListener("input", function () {
          panel.values[cfg.name] = box.value.trim() ? box.value : null;
          panel.dirty[cfg.name] = true;
          count.textContent = String(box.value.length);
        });
        count.textContent = String(box.value.length);
      } else {
        fs.querySelectorAll("[data-option]").forEach(function (btn) {
          btn.addEventListener("click", function () { pick(panel, cfg, btn.dataset.option); });
        });
        renderOptions(panel, cfg, fs);
      }
      var clear = fs.querySelector("[data-action=clear-score]");
      if (clear) clear.addEventListener("click", function () { clearScore(panel, cfg); });
    });

    var tagInput = root.querySelector("[data-tag-input]");
    if (tagInput) {
      tagInput.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === ",") {
          event.preventDefault();
          addTag(panel, tagInput.value);
          tagInput.value = "";
        }
      });
      tagInput.addEventListener("change", function () {
        // A review page holds the project's tag names once, in the datalist the input names.
        var names = panel.state.projectTags || Array.prototype.map.call(
          document.querySelectorAll("datalist#" + tagInput.getAttribute("list") + " option"),
          function (o) { return o.value; });
        if (names.indexOf(tagInput.value.trim()) !== -1) {
          addTag(panel, tagInput.value);
          tagInput.value = "";
        }
      });
    }
    root.addEventListener("click", function (event) {
      var target = event.target.closest("[data-action]");
      if (!target || !root.contains(target)) return;
      var action = target.dataset.action;
      if (action === "remove-tag") {
        toggleRemoveTag(panel, target.closest("[data-tag]").dataset.tag);
      } else if (action === "add-meta") {
        addMetaRow(panel);
      } else if (action === "remove-meta") {
        var row = target.closest("[data-meta-row]");
        if (row.dataset.originalKey) panel.removedMeta.add(row.dataset.originalKey);
        row.remove();
      }
    });
    var expected = root.querySelector("[data-expected]");
    var mode = root.querySelector("[data-expected-mode]");
    expected.addEventListener("input", function () { panel.expectedDirty = true; });
    mode.dataset.mode = mode.value;
    mode.addEventListener("change", function () {
      var wanted = mode.value;
      mode.value = mode.dataset.mode;
      setExpectedMode(root, wanted);
      root.dispatchEvent(new CustomEvent("assay:expected-mode", { bubbles: true, detail: { mode: wanted } }));
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      save(root);
    });
    root.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        save(panel.root);
      }
    });
    return panel;
  }

  function controlAt(root, scoreIndex) {
    var panel = init(root);
    var fs = root.querySelector('[data-score-index="' + scoreIndex + '"]');
    if (!panel || !fs) return null;
    return { panel: panel, fs: fs, cfg: panel.configs[fs.dataset.scoreConfig] };
  }

  function pickOption(root, scoreIndex, optionIndex) {
    var found = controlAt(root, scoreIndex);
    if (!found) return false;
    var btn = found.fs.querySelector('[data-option-index="' + optionIndex + '"]');
    if (!btn) return false;
    pick(found.panel, found.cfg, btn.dataset.option);
    return true;
  }

  // Set a slider to a percent of its range (digit keys on the review page).
  function setPercent(root, scoreIndex, percent) {
    var found = controlAt(root, scoreIndex);
    if (!found || found.cfg.kind !== "continuous") return false;
    var cfg = found.cfg;
    var slider = found.fs.querySelector("[data-score-input]");
    var p = Math.max(0, Math.min(100, percent));
    slider.value = String(cfg.min + ((cfg.max - cfg.min) * p) / 100);
    slider.dispatchEvent(new Event("input", { bubbles: true }));
    return true;
  }

  function clearAt(root, scoreIndex) {
    var found = controlAt(root, scoreIndex);
    if (!found) return false;
    clearScore(found.panel, found.cfg);
    return true;
  }

  function kindAt(root, scoreIndex) {
    var found = controlAt(root, scoreIndex);
    return found && found.cfg ? found.cfg.kind : null;
  }

  function nudge(root, scoreIndex, deltaPercent) {
    var found = controlAt(root, scoreIndex);
    if (!found || found.cfg.kind !== "continuous") return false;
    var cfg = found.cfg;
    var slider = found.fs.querySelector("[data-score-input]");
    var current = found.panel.values[cfg.name] === null ? cfg.min : Number(slider.value);
    var next = Math.min(cfg.max, Math.max(cfg.min, current + ((cfg.max - cfg.min) * deltaPercent) / 100));
    slider.value = String(next);
    slider.dispatchEvent(new Event("input", { bubbles: true }));
    return true;
  }

  function focusScore(root, scoreIndex) {
    var found = controlAt(root, scoreIndex);
    if (!found) return false;
    var target = found.fs.querySelector("[data-score-input], [data-option]");
    if (target) target.focus();
    return !!target;
  }

  function initAll() {
    document.querySelectorAll("[data-assay-annotations]").forEach(init);
  }

  window.AssayAnnotationPanel = {
    init: init, initAll: initAll, save: save, pickOption: pickOption, nudge: nudge, focusScore: focusScore,
    setPercent: setPercent, clearAt: clearAt, kindAt: kindAt, payload: payloadOf, setExpectedMode: setExpectedMode,
    showErrors: function (root, data) { var panel = init(root); if (panel) showErrors(panel, data); },
    setStatus: function (root, text, isError) { var panel = init(root); if (panel) setStatus(panel, text, isError); },
  };

  // A panel's tag and score history (review pages) is fetched the first time it is opened.
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details || !details.open || !details.dataset || !details.dataset.historyUrl || details.dataset.historyLoaded) return;
    details.dataset.historyLoaded = "1";
    var body = details.querySelector("[data-history-body]");
    fetch(details.dataset.historyUrl, { credentials: "same-origin", headers: { "X-Requested-With": "XMLHttpRequest" } })
      .then(function (res) { if (!res.ok) throw new Error("HTTP " + res.status); return res.text(); })
      .then(function (html) { if (body) body.innerHTML = html; })
      .catch(function () {
        delete details.dataset.historyLoaded;
        if (body) body.textContent = "Could not load the history; close and open again to retry.";
      });
  }, true);

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initAll);
  else initAll();
  // Panels loaded later (a trace page swapping the selected span) initialise themselves.
  new MutationObserver(function (records) {
    for (var i = 0; i < records.length; i++) {
      if (records[i].addedNodes.length) {
        initAll();
        return;
      }
    }
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
