// Trace view editor: live preview (server-rendered HTML swapped in), gallery, describe in words, share.
// Error messages are inserted with textContent: they can quote what the user typed.
(function () {
  "use strict";

  var root = document.querySelector("[data-tv-editor]");
  if (!root) return;
  var form = document.getElementById("tv-editor-form");
  var spec = document.getElementById("tv-spec");
  var trace = document.getElementById("tv-trace");
  var preview = document.getElementById("tv-preview");
  var previewStatus = document.getElementById("tv-preview-status");
  var errorsList = document.getElementById("tv-errors");
  var nameInput = document.getElementById("tv-name");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var gallery = JSON.parse(document.getElementById("tv-gallery-specs").textContent);
  var timer = null;
  var sequence = 0;

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json"},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {error: "Unexpected answer (" + response.status + ")."}; })
        .then(function (data) { return {ok: response.ok, status: response.status, data: data}; });
    });
  }

  function showErrors(pairs) {
    errorsList.replaceChildren();
    pairs.forEach(function (pair) {
      var li = document.createElement("li");
      if (pair[0]) {
        var code = document.createElement("code");
        code.textContent = pair[0];
        li.appendChild(code);
        li.appendChild(document.createTextNode(": "));
      }
      li.appendChild(document.createTextNode(pair[1]));
      errorsList.appendChild(li);
    });
  }

  function errorPairs(data) {
    var pairs = [];
    var fields = (data && data.fields) || {};
    Object.keys(fields).forEach(function (key) {
      var value = fields[key];
      if (value && !Array.isArray(value) && typeof value === "object") {
        Object.keys(value).forEach(function (where) {
          [].concat(value[where]).forEach(function (msg) { pairs.push([where, String(msg)]); });
        });
      } else {
        [].concat(value).forEach(function (msg) { pairs.push([key, String(msg)]); });
      }
    });
    if (!pairs.length && data && data.error) pairs.push(["", data.error]);
    return pairs;
  }

  function parsedSpec() {
    try {
      return {spec: JSON.parse(spec.value)};
    } catch (e) {
      return {error: e.message};
    }
  }

  function refresh() {
    var parsed = parsedSpec();
    if (parsed.error) {
      showErrors([["spec", "Invalid JSON: " + parsed.error]]);
      previewStatus.textContent = "";
      return Promise.resolve();
    }
    if (!trace || !trace.value) {
      previewStatus.textContent = "Pick a trace to preview.";
      return Promise.resolve();
    }
    var mine = ++sequence;
    previewStatus.textContent = "Rendering…";
    return post(root.dataset.previewUrl, {spec: parsed.spec, trace: trace.value}).then(function (result) {
      if (mine !== sequence) return;  // a newer edit is on its way
      if (result.ok) {
        showErrors([]);
        // Server-rendered and escaped; the page's CSP forbids inline script besides.
        preview.innerHTML = result.data.html;
        if (window.AssayTraceViews) window.AssayTraceViews.init(preview);
        previewStatus.textContent = "Preview up to date.";
        preview.dataset.state = "ok";
      } else {
        showErrors(errorPairs(result.data));
        previewStatus.textContent = "Fix the errors to update the preview.";
        preview.dataset.state = "error";
      }
    }).catch(function () {
      previewStatus.textContent = "Preview failed (network).";
    });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 350);
  }

  // Where an error points (`components[2].fields[0].path`) as a character range of the spec text,
  // falling back to the closest existing parent (a missing field selects its component).
  function locate(text, where) {
    var keys = [];
    where.replace(/([^.[\]]+)|\[(\d+)\]/g, function (m, name, index) {
      keys.push(index !== undefined ? Number(index) : name);
    });
    var i = 0;
    function ws() { while (i < text.length && /\s/.test(text[i])) i++; }
    function str() {
      var start = i;
      i++;
      while (i < text.length && text[i] !== '"') { if (text[i] === "\\") i++; i++; }
      i++;
      return JSON.parse(text.slice(start, i));
    }
    function skip() {
      ws();
      var start = i, open = text[i];
      if (open === "{" || open === "[") {
        var close = open === "{" ? "}" : "]";
        i++;
        ws();
        while (i < text.length && text[i] !== close) {
          if (open === "{") { str(); ws(); i++; }
          skip();
          ws();
          if (text[i] === ",") { i++; ws(); }
        }
        i++;
      } else if (open === '"') {
        str();
      } else {
        while (i < text.length && /[^,\]}\s]/.test(text[i])) i++;
      }
      return [start, i];
    }
    function find(depth, want) {
      ws();
      if (depth === want.length) return skip();
      var key = want[depth];
      if (text[i] === "{") {
        i++;
        for (;;) {
          ws();
          if (i >= text.length || text[i] === "}") return null;
          var name = str();
          ws();
          i++; // the colon
          if (name === key) return find(depth + 1, want);
          skip();
          ws();
          if (text[i] === ",") i++;
        }
      }
      if (text[i] === "[") {
        i++;
        for (var n = 0; ; n++) {
          ws();
          if (i >= text.length || text[i] === "]") return null;
          if (n === key) return find(depth + 1, want);
          skip();
          ws();
          if (text[i] === ",") i++;
        }
      }
      return null;
    }
    for (var length = keys.length; length >= 0; length--) {
      i = 0;
      try {
        var range = find(0, keys.slice(0, length));
        if (range) return range;
      } catch (e) {
        return null;
      }
    }
    return null;
  }

  errorsList.addEventListener("click", function (event) {
    var code = event.target.closest("code");
    if (!code) return;
    var range = locate(spec.value, code.textContent);
    if (!range) return;
    spec.focus();
    spec.setSelectionRange(range[0], range[1]);
    // Scroll the selection into view: approximate by the line of its start.
    var line = spec.value.slice(0, range[0]).split("\n").length - 1;
    var height = parseFloat(window.getComputedStyle(spec).lineHeight) || 16;
    spec.scrollTop = Math.max(0, line * height - spec.clientHeight / 3);
  });

  var traceId = document.getElementById("tv-trace-id");
  var traceUse = document.getElementById("tv-trace-use");
  function useTraceId() {
    var value = traceId.value.trim();
    if (!value || !trace) return;
    var option = document.createElement("option");
    option.value = value;  // the preview endpoint takes a trace_id as well as an id
    option.textContent = value;
    trace.insertBefore(option, trace.firstChild);
    trace.value = value;
    refresh();
  }
  if (traceUse) traceUse.addEventListener("click", useTraceId);
  if (traceId) traceId.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); useTraceId(); }
  });

  spec.addEventListener("input", schedule);
  if (trace) trace.addEventListener("change", refresh);

  root.querySelectorAll("[data-template]").forEach(function (button) {
    button.addEventListener("click", function () {
      var template = gallery[button.dataset.template];
      if (!template) return;
      spec.value = JSON.stringify(template, null, 2);
      if (!nameInput.value) nameInput.value = button.textContent.trim();
      refresh();
    });
  });

  var generate = document.getElementById("tv-generate");
  if (generate) {
    var words = document.getElementById("tv-description-words");
    var generateStatus = document.getElementById("tv-generate-status");
    generate.addEventListener("click", function () {
      if (!words.value.trim()) {
        generateStatus.textContent = "Describe the view first.";
        return;
      }
      generate.disabled = true;
      generateStatus.textContent = "Asking the model…";
      post(root.dataset.generateUrl, {description: words.value, trace: trace ? trace.value : ""}).then(function (result) {
        generate.disabled = false;
        if (!result.ok) {
          generateStatus.textContent = (result.data && result.data.error) || "The model could not write a view.";
          return;
        }
        spec.value = JSON.stringify(result.data.spec, null, 2);
        generateStatus.textContent = result.data.valid
          ? "Opened the generated view below; review it and save."
          : "The model's view still has errors after a retry; fix them below.";
        refresh().then(function () {
          if (!result.data.valid) showErrors(errorPairs({fields: {spec: result.data.errors}}));
        });
      }).catch(function () {
        generate.disabled = false;
        generateStatus.textContent = "The request failed (network).";
      });
    });
  }

  var shareButton = document.getElementById("tv-share-create");
  if (shareButton && root.dataset.shareUrl) {
    var shareUrl = document.getElementById("tv-share-url");
    var shareStatus = document.getElementById("tv-share-status");
    shareButton.addEventListener("click", function () {
      var hours = document.getElementById("tv-share-hours").value;
      post(root.dataset.shareUrl, {trace: trace ? trace.value : "", expires_in_hours: Number(hours)}).then(function (result) {
        if (!result.ok) {
          shareStatus.textContent = (result.data && result.data.error) || "Could not create the link.";
          return;
        }
        shareUrl.hidden = false;
        shareUrl.value = result.data.url;
        var embed = document.getElementById("tv-share-embed");
        if (embed) {
          embed.hidden = false;
          embed.value = '<iframe src="' + encodeURI(result.data.url) + '" width="100%" height="640" ' +
            'style="border:0" title="Assay trace" referrerpolicy="no-referrer"></iframe>';
        }
        shareUrl.select();
        shareStatus.textContent = "Link created; it expires " + result.data.expires_at + ". Save the view first if you changed it: links show the saved view.";
      });
    });
  }

  refresh();
})();
