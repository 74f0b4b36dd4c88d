/*
 * The adjudication screen: from the keyboard, pick a reviewer's value (or your own) per row, then save the
 * item's gold and move on to the next open disagreement. j/k (↓/↑) move between rows, 1–9 take reviewer N's
 * value, o writes your own, x clears the pick, c the note, Enter saves, n skips, ? shows the help.
 */
(function () {
  "use strict";

  function init() {
    var root = document.querySelector("[data-adjudicate]");
    var stateNode = document.getElementById("assay-adjudication-state");
    if (!root || !stateNode) return;
    var state = JSON.parse(stateNode.textContent);
    var rows = Array.prototype.slice.call(root.querySelectorAll("tr[data-row]"));
    var message = root.querySelector("[data-message]");
    var help = root.querySelector("[data-help]");
    var note = root.querySelector("[data-note]");
    var saving = false;
    var focused = 0;

    rows.forEach(function (tr, i) {
      var chosen = state.rows[i] && state.rows[i].chosenFrom;
      if (chosen !== null && chosen !== undefined) {
        var radio = tr.querySelector('input[data-reviewer="' + chosen + '"]');
        if (radio) radio.checked = true;
      }
      var own = tr.querySelector("[data-own]");
      if (own) {
        own.addEventListener("input", function () { tr.querySelector("[data-own-radio]").checked = true; });
        own.addEventListener("change", function () { tr.querySelector("[data-own-radio]").checked = true; });
      }
      tr.addEventListener("click", function () { focus(i); });
    });
    var firstDisagreeing = rows.findIndex(function (tr) { return tr.classList.contains("assay-gold-disagree"); });
    focus(firstDisagreeing >= 0 ? firstDisagreeing : 0);

    function focus(i) {
      if (!rows.length) return;
      focused = Math.max(0, Math.min(rows.length - 1, i));
      rows.forEach(function (tr, j) { tr.classList.toggle("assay-gold-focus", j === focused); });
      rows[focused].focus({ preventScroll: false });
    }

    function say(text, isError) {
      message.textContent = text;
      message.classList.toggle("assay-error", !!isError);
    }

    function ownValue(row, tr) {
      var input = tr.querySelector("[data-own]");
      if (!input) return undefined;
      if (input.multiple) {
        return Array.prototype.filter.call(input.options, function (o) { return o.selected; })
          .map(function (o) { return o.value; });
      }
      var raw = input.value;
      if (raw === "") return undefined;
      if (row.kind === "boolean") return raw === "true";
      if (row.kind === "continuous") return Number(raw);
      if (row.kind === "expected") {
        try { return JSON.parse(raw); } catch (e) { return raw; }
      }
      return raw;
    }

    function body() {
      var scores = {};
      var out = { note: note ? note.value : "" };
      var problem = null;
      rows.forEach(function (tr, i) {
        var row = state.rows[i];
        var picked = tr.querySelector("input[type=radio]:checked");
        if (!picked) return;
        var decision;
        if (picked.value === "own") {
          var value = ownValue(row, tr);
          if (value === undefined) { problem = row.config + ": write your own value or pick a reviewer's."; return; }
          decision = { value: value };
        } else {
          decision = { from: Number(picked.value) };
        }
        if (row.kind === "expected") out.expected = decision; else scores[row.config] = decision;
      });
      out.scores = scores;
      return problem ? { problem: problem } : { data: out };
    }

    function save() {
      if (saving) return;
      var built = body();
      if (built.problem) { say(built.problem, true); return; }
      if (!Object.keys(built.data.scores).length && built.data.expected === undefined) {
        say("Pick a value for at least one row (1–9, or o for your own).", true);
        return;
      }
      saving = true;
      say("Saving…");
      AssayHttp.postJSON(state.saveUrl, built.data).then(function (answer) {
        saving = false;
        if (answer.ok) {
          say("Saved.");
          window.location.assign(answer.data.next_url);
          return;
        }
        var fields = answer.data.fields || {};
        var details = Object.keys(fields).map(function (k) { return k + ": " + fields[k].join(" "); }).join(" · ");
        say((answer.data.error || "Not saved.") + (details && answer.data.error.indexOf(details) < 0 ? " " + details : ""), true);
      }, function (err) {
        saving = false;
        say(err.message, true);
      });
    }

    function typing(target) {
      if (!target) return false;
      if (target.tagName === "INPUT") return target.type !== "radio" && target.type !== "checkbox";
      return target.tagName === "TEXTAREA" || target.tagName === "SELECT";
    }

    root.querySelector("[data-save]").addEventListener("click", save);

    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.altKey) return;
      if ((event.ctrlKey || event.metaKey) && event.key === "Enter") { event.preventDefault(); save(); return; }
      if (event.ctrlKey || event.metaKey) return;
      if (typing(event.target)) {
        if (event.key === "Escape") { event.preventDefault(); event.target.blur(); focus(focused); }
        else if (event.key === "Enter" && event.target.tagName !== "TEXTAREA") { event.preventDefault(); save(); }
        return;
      }
      var tr = rows[focused];
      if (event.key === "j" || event.key === "ArrowDown") { event.preventDefault(); focus(focused + 1); }
      else if (event.key === "k" || event.key === "ArrowUp") { event.preventDefault(); focus(focused - 1); }
      else if (/^[1-9]$/.test(event.key) && tr) {
        var reviewer = state.reviewers[Number(event.key) - 1];
        var radio = reviewer !== undefined && tr.querySelector('input[data-reviewer="' + reviewer + '"]');
        if (radio) { radio.checked = true; say(""); }
        else say("Reviewer " + event.key + " gave no value here.", true);
        event.preventDefault();
      } else if (event.key === "o" && tr) {
        event.preventDefault();
        tr.querySelector("[data-own-radio]").checked = true;
        var own = tr.querySelector("[data-own]");
        if (own) own.focus();
      } else if (event.key === "x" && tr) {
        event.preventDefault();
        Array.prototype.forEach.call(tr.querySelectorAll("input[type=radio]"), function (r) { r.checked = false; });
      } else if (event.key === "c" && note) { event.preventDefault(); note.focus(); }
      else if (event.key === "Enter") { event.preventDefault(); save(); }
      else if (event.key === "n") { event.preventDefault(); window.location.assign(state.skipUrl); }
      else if (event.key === "?") { event.preventDefault(); help.hidden = !help.hidden; }
      else if (event.key === "Escape" && !help.hidden) { help.hidden = true; }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
