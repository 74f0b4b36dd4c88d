/*
 * One place for same-origin JSON requests from admin pages: the CSRF token (the form's hidden input or
 * Django's csrftoken cookie) and the answer as {ok, status, data}. A network failure (server down)
 * rejects with an Error whose `network` is true, so callers can keep what the user typed and retry.
 *
 *   AssayHttp.postJSON(url, body).then(function (answer) { if (answer.ok) ... else answer.data.error });
 *   AssayHttp.getJSON(url), AssayHttp.patchJSON(url, body)
 */
(function () {
  "use strict";
  if (window.AssayHttp) return;

  function csrfToken(scope) {
    var input = (scope || document).querySelector("input[name=csrfmiddlewaretoken]");
    if (input && input.value) return input.value;
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function request(method, url, body, options) {
    var headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      headers["X-CSRFToken"] = csrfToken(options && options.scope);
    }
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: headers,
      body: method === "GET" ? undefined : JSON.stringify(body || {}),
      signal: options && options.signal,
    }).then(function (response) {
      return response.json().then(
        function (data) { return { ok: response.ok, status: response.status, data: data }; },
        function () {
          return { ok: false, status: response.status, data: { error: "The server answered " + response.status + "." } };
        });
    }, function (err) {
      if (err && err.name === "AbortError") throw err;
      var failure = new Error("The server could not be reached (" + (err && err.message ? err.message : "network error") + ").");
      failure.network = true;
      throw failure;
    });
  }

  window.AssayHttp = {
    csrfToken: csrfToken,
    getJSON: function (url, options) { return request("GET", url, null, options); },
    postJSON: function (url, body, options) { return request("POST", url, body, options); },
    patchJSON: function (url, body, options) { return request("PATCH", url, body, options); },
  };
})();
