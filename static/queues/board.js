/*
 * The kanban board (templates/admin/queues/board.html): drag and drop and keyboard moves, and
 * assigning from a card's menu or keys, all through PATCH /api/v1/review-queues/{queue}/items/{item}/
 * (the server applies the rules); a side panel that shows an item's review page in an iframe; and
 * "Load more" per column. Card HTML comes from the server, escaped there; names are set as text.
 */
(function () {
  "use strict";

  var state = JSON.parse(document.getElementById("assay-board-state").textContent);
  var board = document.querySelector("[data-assay-board]");
  var order = ["backlog", "pending", "complete"];

  function message(text) { document.querySelector("[data-board-message]").textContent = text; }

  function column(status) { return board.querySelector('[data-column="' + status + '"]'); }

  function setCount(status, value) { column(status).querySelector("[data-count]").textContent = String(value); }

  function bump(status, delta) {
    var el = column(status).querySelector("[data-count]");
    el.textContent = String(Math.max(0, Number(el.textContent) + delta));
  }

  function patch(card, body) {
    return window.AssayHttp.patchJSON(state.itemUrl.replace("{id}", card.dataset.item), body).catch(function (err) {
      return { ok: false, data: { error: err.message } };
    });
  }

  function move(card, to) {
    var from = card.closest("[data-column]").dataset.column;
    if (from === to) return Promise.resolve(false);
    card.classList.add("assay-card-moving");
    return patch(card, { status: to }).then(function (answer) {
      card.classList.remove("assay-card-moving");
      if (!answer.ok) {
        var detail = answer.data.fields && answer.data.fields.status ? " " + answer.data.fields.status.join(" ") : "";
        message((answer.data.error || "Could not move the card.") + detail);
        return false;
      }
      var list = column(to).querySelector("[data-cards]");
      card.dataset.moved = "1"; // not part of the column's server order: "Load more" ignores it
      list.insertBefore(card, list.firstChild);
      card.setAttribute("aria-label", card.getAttribute("aria-label").replace(/, \w+$/, ", " + to));
      if (state.filtered) { bump(from, -1); bump(to, 1); }
      else order.forEach(function (s) { setCount(s, answer.data.counts[s]); });
      message("Moved to " + to + ".");
      card.focus();
      return true;
    }).catch(function (err) {
      card.classList.remove("assay-card-moving");
      message("Could not move the card: " + err.message);
      return false;
    });
  }

  // Drag and drop.
  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest("[data-item]");
    if (!card) return;
    event.dataTransfer.setData("text/plain", card.dataset.item);
    event.dataTransfer.effectAllowed = "move";
  });
  board.addEventListener("dragover", function (event) {
    if (event.target.closest("[data-column]")) event.preventDefault();
  });
  board.addEventListener("drop", function (event) {
    var col = event.target.closest("[data-column]");
    if (!col) return;
    event.preventDefault();
    var id = event.dataTransfer.getData("text/plain");
    var card = board.querySelector('[data-item="' + CSS.escape(id) + '"]');
    if (card) move(card, col.dataset.column);
  });

  // Assigning: a menu on each card (button or "a"), "m" assigns to me, "u" unassigns.
  function assign(card, userId) {
    var current = card.dataset.assignee ? Number(card.dataset.assignee) : null;
    if (current === userId) { message(userId === null ? "Already unassigned." : "Already assigned."); return Promise.resolve(false); }
    card.classList.add("assay-card-moving");
    return patch(card, { assignee: userId }).then(function (answer) {
      card.classList.remove("assay-card-moving");
      if (!answer.ok) {
        var detail = answer.data.fields && answer.data.fields.assignee ? " " + answer.data.fields.assignee.join(" ") : "";
        message((answer.data.error || answer.data.detail || "Could not assign the item.") + detail);
        return false;
      }
      var who = answer.data.assignee;
      card.dataset.assignee = who ? String(who.id) : "";
      var label = card.querySelector("[data-assignee-label]");
      if (label) label.textContent = who ? "→ " + who.username : "Unassigned";
      message(who ? "Assigned to " + who.username + "." : "Unassigned.");
      return true;
    }).catch(function (err) {
      card.classList.remove("assay-card-moving");
      message("Could not assign the item: " + err.message);
      return false;
    });
  }

  var openMenu = null;

  function closeMenu(refocus) {
    if (!openMenu) return;
    var card = openMenu.closest("[data-item]");
    var toggle = card && card.querySelector("[data-assign-toggle]");
    if (toggle) toggle.setAttribute("aria-expanded", "false");
    openMenu.remove();
    openMenu = null;
    if (refocus && card) card.focus();
  }

  function showMenu(card) {
    closeMenu(false);
    if (!state.canAssign) return;
    var toggle = card.querySelector("[data-assign-toggle]");
    var menu = document.createElement("div");
    menu.className = "assay-assign-menu";
    menu.setAttribute("role", "menu");
    menu.setAttribute("aria-label", "Assign to");
    menu.dataset.assignMenu = "";
    var current = card.dataset.assignee ? Number(card.dataset.assignee) : null;
    var options = [{ id: null, username: "Unassigned" }].concat(state.assignees);
    options.forEach(function (user) {
      var button = document.createElement("button");
      button.type = "button";
      button.setAttribute("role", "menuitemradio");
      button.setAttribute("aria-checked", String(user.id === current));
      button.dataset.assignTo = user.id === null ? "" : String(user.id);
      button.textContent = user.id === state.me ? user.username + " (me)" : user.username;
      menu.appendChild(button);
    });
    card.appendChild(menu);
    if (toggle) toggle.setAttribute("aria-expanded", "true");
    openMenu = menu;
    (menu.querySelector('[aria-checked="true"]') || menu.firstChild).focus();
  }

  function menuKey(event, menu) {
    var items = Array.prototype.slice.call(menu.querySelectorAll("[data-assign-to]"));
    var at = items.indexOf(document.activeElement);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      var step = event.key === "ArrowDown" ? 1 : -1;
      items[(at + step + items.length) % items.length].focus();
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      items[event.key === "Home" ? 0 : items.length - 1].focus();
    } else if (event.key === "Escape" || event.key === "Tab") {
      event.preventDefault();
      closeMenu(true);
    } else if (event.key.length === 1 && /\S/.test(event.key) && !event.ctrlKey && !event.metaKey && !event.altKey) {
      // Type-ahead: the next name starting with the letter typed.
      var letter = event.key.toLowerCase();
      for (var i = 1; i <= items.length; i++) {
        var candidate = items[(at + i) % items.length];
        if (candidate.textContent.toLowerCase().indexOf(letter) === 0) { candidate.focus(); break; }
      }
      event.preventDefault();
    }
  }

  // The side panel: the item's review page without leaving the board.
  var layout = document.querySelector("[data-board-layout]");
  var panel = document.querySelector("[data-board-panel]");
  var frame = panel.querySelector("[data-board-panel-frame]");
  var panelCard = null;

  function openPanel(card) {
    var url = state.reviewUrl.replace("{id}", card.dataset.item);
    if (panelCard) panelCard.classList.remove("assay-card-open");
    panelCard = card;
    card.classList.add("assay-card-open");
    panel.querySelector("[data-board-panel-title]").textContent = card.getAttribute("aria-label");
    panel.querySelector("[data-board-panel-full]").href = url;
    if (frame.getAttribute("src") !== url) frame.setAttribute("src", url);
    panel.hidden = false;
    layout.classList.add("assay-board-with-panel");
    message("Review of the item opened beside the board.");
  }

  function closePanel() {
    if (panel.hidden) return;
    panel.hidden = true;
    frame.setAttribute("src", "about:blank");
    layout.classList.remove("assay-board-with-panel");
    if (panelCard) {
      refreshCard(panelCard);
      panelCard.classList.remove("assay-card-open");
      panelCard.focus();
    }
    panelCard = null;
  }

  // What happened in the panel (a reservation, a submit) shows on the board: re-read the card.
  function refreshCard(card) {
    window.AssayHttp.getJSON(state.itemUrl.replace("{id}", card.dataset.item))
      .then(function (answer) { return answer.ok ? answer.data : null; }, function () { return null; })
      .then(function (item) {
        if (!item) return;
        var from = card.closest("[data-column]").dataset.column;
        if (item.status !== from && column(item.status)) {
          var list = column(item.status).querySelector("[data-cards]");
          card.dataset.moved = "1";
          list.insertBefore(card, list.firstChild);
          card.setAttribute("aria-label", card.getAttribute("aria-label").replace(/, \w+$/, ", " + item.status));
          bump(from, -1);
          bump(item.status, 1);
        }
        card.dataset.assignee = item.assignee ? String(item.assignee.id) : "";
        var label = card.querySelector("[data-assignee-label]");
        if (label) label.textContent = item.assignee ? "→ " + item.assignee.username : "Unassigned";
        var count = card.querySelector(".assay-card-submissions");
        if (count) count.textContent = count.textContent.replace(/^\d+/, String(item.submission_count));
      });
  }

  frame.addEventListener("load", function () {
    var path = "";
    try { path = frame.contentWindow.location.pathname; } catch (err) { return; }
    var match = /\/review\/(\d+)\/$/.exec(path);
    if (panelCard) refreshCard(panelCard);
    if (match && (!panelCard || panelCard.dataset.item !== match[1])) {
      var shown = board.querySelector('[data-item="' + match[1] + '"]');
      if (panelCard) panelCard.classList.remove("assay-card-open");
      panelCard = shown;
      if (shown) shown.classList.add("assay-card-open");
      panel.querySelector("[data-board-panel-full]").href = path;
    }
  });

  panel.querySelector("[data-board-panel-close]").addEventListener("click", closePanel);
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || openMenu || panel.hidden) return;
    if (event.target.closest && event.target.closest("input, select, textarea")) return;
    event.preventDefault();
    closePanel();
  });

  // Keyboard: arrows between cards, Shift+←/→ move the card, Enter opens it, a / m / u assign.
  board.addEventListener("keydown", function (event) {
    var menu = event.target.closest("[data-assign-menu]");
    if (menu) { menuKey(event, menu); return; }
    var card = event.target.closest("[data-item]");
    if (!card) return;
    if (event.target !== card && (event.key === "Enter" || event.key === " ")) return; // the card's own button
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var from = card.closest("[data-column]").dataset.column;
    var at = order.indexOf(from);
    if (event.shiftKey && (event.key === "ArrowRight" || event.key === "ArrowLeft")) {
      event.preventDefault();
      var to = order[at + (event.key === "ArrowRight" ? 1 : -1)];
      if (to) move(card, to);
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      var sibling = event.key === "ArrowDown" ? card.nextElementSibling : card.previousElementSibling;
      if (sibling) sibling.focus();
    } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      event.preventDefault();
      var other = order[at + (event.key === "ArrowRight" ? 1 : -1)];
      var first = other && column(other).querySelector("[data-item]");
      if (first) first.focus();
    } else if (event.key === "Enter" || event.key === "o") {
      event.preventDefault();
      openPanel(card);
    } else if (state.canAssign && event.key === "a") {
      event.preventDefault();
      showMenu(card);
    } else if (state.canAssign && event.key === "m") {
      event.preventDefault();
      assign(card, state.me);
    } else if (state.canAssign && event.key === "u") {
      event.preventDefault();
      assign(card, null);
    }
  });

  board.addEventListener("click", function (event) {
    var choice = event.target.closest("[data-assign-to]");
    if (choice) {
      var card = choice.closest("[data-item]");
      var id = choice.dataset.assignTo ? Number(choice.dataset.assignTo) : null;
      closeMenu(true);
      assign(card, id);
      return;
    }
    var toggle = event.target.closest("[data-assign-toggle]");
    if (toggle) {
      var owner = toggle.closest("[data-item]");
      if (openMenu && openMenu.closest("[data-item]") === owner) closeMenu(true);
      else showMenu(owner);
      return;
    }
    var link = event.target.closest("[data-open-panel]");
    if (link && !(event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0)) {
      event.preventDefault();
      openPanel(link.closest("[data-item]"));
    }
  });
  document.addEventListener("click", function (event) {
    if (openMenu && !event.target.closest("[data-assign-menu], [data-assign-toggle]")) closeMenu(false);
  });

  // Load more cards of a column.
  board.addEventListener("click", function (event) {
    var button = event.target.closest("[data-more]");
    if (!button) return;
    var status = button.dataset.more;
    var list = column(status).querySelector("[data-cards]");
    var cards = list.querySelectorAll("[data-item]:not([data-moved])");
    var after = 0;
    cards.forEach(function (c) { after = Math.max(after, Number(c.dataset.item)); });
    var params = new URLSearchParams(state.query);
    params.set("status", status);
    params.set("after", String(after));
    fetch(state.columnUrl + "?" + params.toString(), { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        var holder = document.createElement("template");
        holder.innerHTML = data.html;
        list.appendChild(holder.content);
        if (!data.more) button.remove();
      });
  });

  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
})();
