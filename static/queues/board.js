/*
 * The kanban board (templates/admin/queues/board.html): drag and drop and keyboard moves, both
 * through PATCH /api/v1/review-queues/{queue}/items/{item}/ (the server applies the rules), and
 * "Load more" per column. Card HTML comes from the server, escaped there.
 */
(function () {
  "use strict";

  var state = JSON.parse(document.getElementById("assay-board-state").textContent);
  var board = document.querySelector("[data-assay-board]");
  var order = ["backlog", "pending", "complete"];

  function message(text) { document.querySelector("[data-board-message]").textContent = text; }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function column(status) { return board.querySelector('[data-column="' + status + '"]'); }

  function setCount(status, value) { column(status).querySelector("[data-count]").textContent = String(value); }

  function bump(status, delta) {
    var el = column(status).querySelector("[data-count]");
    el.textContent = String(Math.max(0, Number(el.textContent) + delta));
  }

  function move(card, to) {
    var from = card.closest("[data-column]").dataset.column;
    if (from === to) return Promise.resolve(false);
    card.classList.add("assay-card-moving");
    return fetch(state.itemUrl.replace("{id}", card.dataset.item), {
      method: "PATCH",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: JSON.stringify({ status: to }),
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (answer) {
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

  // Keyboard: ↑/↓ between cards, Shift+←/→ move the card, Enter opens it.
  board.addEventListener("keydown", function (event) {
    var card = event.target.closest("[data-item]");
    if (!card) return;
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
    } else if (event.key === "Enter") {
      event.preventDefault();
      window.location.assign(state.reviewUrl.replace("{id}", card.dataset.item));
    }
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
