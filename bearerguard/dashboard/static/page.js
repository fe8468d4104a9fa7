// The dashboard page: payment applications and their API access tokens.
//
// No build step, no dependencies. The OAuth access token lives in this closure only:
// never in localStorage, sessionStorage or a cookie, so closing the tab forgets it.
// A plaintext token or webhook secret is put in the page only inside the dialog, and
// removed again when the dialog closes.
"use strict";

(function () {
  const body = document.body;
  const api = body.dataset.api;
  const loginUrl = body.dataset.loginUrl || "";
  const $ = (id) => document.getElementById(id);

  let accessToken = null;
  let current = null; // the application on screen
  let opener = null; // what had focus before a dialog opened

  // -- the API ---------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, document) {
      super(typeof document.detail === "string" ? document.detail : document.message || "Request failed");
      this.status = status;
      this.document = document;
    }
  }

  async function call(method, path, payload, retried) {
    if (!accessToken) {
      await signIn();
    }
    const init = { method, headers: { Accept: "application/json", Authorization: "Bearer " + accessToken } };
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    const response = await fetch(api + path, init);
    let document = {};
    try {
      document = await response.json();
    } catch (_) {
      document = {};
    }
    if (response.status === 401) {
      // The access token expired (or was revoked): sign in again once, then retry.
      accessToken = null;
      if (loginUrl && !retried) {
        return call(method, path, payload, true);
      }
      showSignIn("Your session has ended: sign in again.");
      throw signInNeeded();
    }
    if (!response.ok) {
      throw new ApiError(response.status, document);
    }
    return document;
  }

  async function signIn() {
    if (!loginUrl) {
      showSignIn();
      throw signInNeeded();
    }
    const response = await fetch(loginUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    const document = response.ok ? await response.json() : {};
    if (!document.access_token) {
      showSignIn("Signing in failed: paste an access token instead.");
      throw signInNeeded();
    }
    accessToken = document.access_token;
    $("who").textContent = document.subject ? "Signed in as " + document.subject : "Signed in";
  }

  // The error of a call that cannot be made before signing in: already on screen.
  function signInNeeded() {
    const error = new ApiError(401, { detail: "Sign in first." });
    error.shown = true;
    return error;
  }

  function showSignIn(message) {
    $("signin").hidden = false;
    $("applications").hidden = true;
    $("application").hidden = true;
    if (message) {
      alertError(message);
    }
  }

  // -- messages --------------------------------------------------------------------------

  function alertError(message) {
    const box = $("alert");
    box.textContent = message;
    box.hidden = false;
  }

  function clearAlert() {
    $("alert").hidden = true;
    $("alert").textContent = "";
  }

  function failed(error) {
    if (error.shown || (error instanceof ApiError && error.status === 422)) {
      return; // on screen already: the sign-in form, or next to the fields
    }
    alertError(error instanceof ApiError ? error.message : "The dashboard could not reach the server.");
  }

  function clearFieldErrors(form) {
    for (const element of form.querySelectorAll(".field-error")) {
      element.hidden = true;
      element.textContent = "";
    }
    for (const element of form.querySelectorAll("[aria-invalid]")) {
      element.removeAttribute("aria-invalid");
    }
  }

  // A field's error goes away as soon as the merchant edits the field.
  document.addEventListener("input", (event) => {
    const field = event.target.closest(".field");
    const slot = field && field.querySelector(".field-error");
    if (slot) {
      slot.hidden = true;
      slot.textContent = "";
      event.target.removeAttribute("aria-invalid");
    }
  });

  // Shows each 422 problem under its field ({"loc": ["body", "label"], "msg": ...}).
  function showFieldErrors(error, prefix, fallbackField) {
    if (!(error instanceof ApiError) || error.status !== 422 || !Array.isArray(error.document.detail)) {
      return false;
    }
    let first = null;
    for (const problem of error.document.detail) {
      const field = (problem.loc && problem.loc[1]) || fallbackField;
      const slot = $(prefix + field + "-error");
      if (!slot) {
        alertError(problem.msg);
        continue;
      }
      slot.textContent = problem.msg;
      slot.hidden = false;
      const input = $(prefix + field) || slot.closest("fieldset").querySelector("input");
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
    if (first) {
      first.focus();
    }
    return true;
  }

  // -- formatting ------------------------------------------------------------------------

  function when(iso, none) {
    if (!iso) {
      return none;
    }
    return new Date(iso).toLocaleString(undefined, {
      dateStyle: "medium",
      timeStyle: "short",
      timeZone: "UTC",
    }) + " UTC";
  }

  function cell(row, label, content) {
    const td = document.createElement("td");
    td.dataset.label = label;
    if (content instanceof Node) {
      td.append(content);
    } else {
      td.textContent = content;
    }
    row.append(td);
    return td;
  }

  function button(text, className, label, onClick) {
    const element = document.createElement("button");
    element.type = "button";
    element.textContent = text;
    if (className) {
      element.className = className;
    }
    element.setAttribute("aria-label", label);
    element.addEventListener("click", onClick);
    return element;
  }

  // -- applications ----------------------------------------------------------------------

  async function showApplications() {
    const { applications } = await call("GET", "/applications");
    $("signin").hidden = true;
    $("application").hidden = true;
    $("applications").hidden = false;
    const list = $("application-list");
    list.replaceChildren();
    for (const application of applications) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = "#app=" + encodeURIComponent(application.client_id);
      link.textContent = application.name;
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = application.status + " \u00b7 " + application.client_id;
      item.append(link, meta);
      list.append(item);
    }
    $("no-applications").hidden = applications.length > 0;
  }

  async function showApplication(clientId) {
    const { application } = await call("GET", "/applications/" + encodeURIComponent(clientId));
    current = application;
    $("signin").hidden = true;
    $("applications").hidden = true;
    $("application").hidden = false;
    $("application-title").textContent = application.name;
    $("client-id").textContent = application.client_id;
    $("application-status").textContent = application.status;
    const active = application.status === "active";
    for (const id of ["create-token", "rotate-secret", "revoke-application"]) {
      $(id).disabled = !active;
    }
    await showTokens();
  }

  async function showTokens() {
    const { tokens } = await call("GET", "/applications/" + current.client_id + "/tokens");
    const rows = $("tokens");
    rows.replaceChildren();
    for (const token of tokens) {
      const row = document.createElement("tr");
      cell(row, "Label", token.label);
      const scopes = document.createElement("span");
      scopes.className = "scope-list";
      for (const scope of token.scopes) {
        const code = document.createElement("code");
        code.textContent = scope;
        scopes.append(code);
      }
      cell(row, "Scopes", scopes);
      cell(row, "Created", when(token.created_at, "\u2014"));
      cell(row, "Expires", when(token.expires_at, "Never"));
      cell(row, "Last used", when(token.last_used_at, "Never"));
      const badge = document.createElement("span");
      badge.className = "badge " + token.status;
      badge.textContent = token.status;
      cell(row, "Status", badge);
      const actions = cell(row, "Actions", "");
      actions.className = "row-actions";
      if (token.status === "active") {
        actions.append(
          button("Rotate", "", "Rotate token " + token.label, () => rotateToken(token)),
          button("Revoke", "danger", "Revoke token " + token.label, () => revokeToken(token)),
        );
      }
      row.dataset.tokenId = token.id;
      rows.append(row);
    }
    $("no-tokens").hidden = tokens.length > 0;
  }

  async function route() {
    clearAlert();
    const match = /^#app=([0-9A-Za-z]{32})$/.exec(location.hash);
    try {
      if (match) {
        await showApplication(match[1]);
      } else {
        await showApplications();
      }
    } catch (error) {
      failed(error);
    }
  }

  // -- dialogs ---------------------------------------------------------------------------

  function openDialog(dialog, focus) {
    opener = document.activeElement;
    dialog.showModal();
    if (focus) {
      focus.focus();
    }
  }

  // Shows a plaintext (token or webhook secret) once, in the token dialog.
  function reveal(title, label, value) {
    const dialog = $("token-dialog");
    $("token-form").hidden = true;
    $("reveal").hidden = false;
    $("reveal-title").textContent = title;
    $("reveal-label").textContent = label;
    $("reveal-value").value = value;
    $("copy-status").textContent = "";
    if (!dialog.open) {
      openDialog(dialog);
    }
    $("copy").focus();
  }

  // Closing the dialog removes the plaintext from the page: at once when Done, Cancel
  // or Escape closes it ("close" itself is dispatched a task later).
  function forgetPlaintext() {
    $("reveal-value").value = "";
    $("copy-status").textContent = "";
  }
  $("token-dialog").addEventListener("cancel", forgetPlaintext);
  $("token-dialog").addEventListener("close", () => {
    forgetPlaintext();
    $("reveal").hidden = true;
    $("token-form").hidden = false;
    $("token-form").reset();
    clearFieldErrors($("token-form"));
    if (opener && document.contains(opener)) {
      opener.focus();
    }
  });

  for (const element of document.querySelectorAll("dialog .close")) {
    element.addEventListener("click", () => {
      forgetPlaintext();
      element.closest("dialog").close();
    });
  }

  function confirmAction(title, text, action) {
    const dialog = $("confirm-dialog");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = action;
    return new Promise((resolve) => {
      const finish = (answer) => {
        $("confirm-ok").removeEventListener("click", yes);
        $("confirm-cancel").removeEventListener("click", no);
        dialog.removeEventListener("cancel", no);
        dialog.close();
        resolve(answer);
      };
      const yes = () => finish(true);
      const no = (event) => {
        event.preventDefault();
        finish(false);
      };
      $("confirm-ok").addEventListener("click", yes);
      $("confirm-cancel").addEventListener("click", no);
      dialog.addEventListener("cancel", no);
      openDialog(dialog, $("confirm-cancel"));
    });
  }

  $("copy").addEventListener("click", async () => {
    const status = $("copy-status");
    try {
      await navigator.clipboard.writeText($("reveal-value").value);
      status.textContent = "Copied to the clipboard.";
    } catch (_) {
      $("reveal-value").select();
      status.textContent = "Copying failed: the text is selected, copy it with Ctrl+C or \u2318C.";
    }
  });

  // -- actions ---------------------------------------------------------------------------

  $("create-token").addEventListener("click", () => {
    // The token stops working at the start of the chosen day (UTC): tomorrow at the earliest.
    const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
    $("token-expires_at").min = tomorrow;
    openDialog($("token-dialog"), $("token-label"));
  });

  $("token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    clearFieldErrors(form);
    clearAlert();
    const scopes = [...form.querySelectorAll('input[name="scopes"]:checked')].map((input) => input.value);
    const fields = form.elements;
    const payload = {
      label: fields.namedItem("label").value,
      scopes,
      expires_at: fields.namedItem("expires_at").value || null,
    };
    const submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      const created = await call("POST", "/applications/" + current.client_id + "/tokens", payload);
      reveal("Your new API access token", "Token for \u201c" + created.record.label + "\u201d", created.token);
      await showTokens();
    } catch (error) {
      if (!showFieldErrors(error, "token-", "label")) {
        failed(error);
        $("token-dialog").close();
      }
    } finally {
      submit.disabled = false;
    }
  });

  async function rotateToken(token) {
    const text =
      "A new token replaces \u201c" + token.label + "\u201d. The old one keeps working for 24 hours, then stops.";
    if (!(await confirmAction("Rotate this token?", text, "Rotate token"))) {
      return;
    }
    try {
      const rotated = await call("POST", "/applications/" + current.client_id + "/tokens/" + token.id + "/rotate", {});
      reveal("Your rotated API access token", "New token for \u201c" + token.label + "\u201d", rotated.token);
      await showTokens();
    } catch (error) {
      failed(error);
    }
  }

  async function revokeToken(token) {
    const text = "\u201c" + token.label + "\u201d stops working at once. This cannot be undone.";
    if (!(await confirmAction("Revoke this token?", text, "Revoke token"))) {
      return;
    }
    try {
      await call("POST", "/applications/" + current.client_id + "/tokens/" + token.id + "/revoke");
      await showTokens();
      $("tokens-title").focus();
    } catch (error) {
      failed(error);
    }
  }

  $("rotate-secret").addEventListener("click", async () => {
    const text = "A new webhook secret signs deliveries from now on; the old one also signs for 24 hours.";
    if (!(await confirmAction("Rotate the webhook secret?", text, "Rotate secret"))) {
      return;
    }
    try {
      const rotated = await call("POST", "/applications/" + current.client_id + "/webhook-secret", {});
      reveal("Your new webhook secret", "Webhook secret", rotated.webhook_secret);
    } catch (error) {
      failed(error);
    }
  });

  $("revoke-application").addEventListener("click", async () => {
    const text = "\u201c" + current.name + "\u201d and every one of its tokens stop working at once.";
    if (!(await confirmAction("Revoke this application?", text, "Revoke application"))) {
      return;
    }
    try {
      await call("POST", "/applications/" + current.client_id + "/revoke");
      await showApplication(current.client_id);
    } catch (error) {
      failed(error);
    }
  });

  $("application-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    clearFieldErrors(form);
    clearAlert();
    try {
      const created = await call("POST", "/applications", { name: form.elements.namedItem("name").value });
      form.reset();
      location.hash = "#app=" + created.application.client_id;
      reveal("Your webhook secret", "Webhook secret of \u201c" + created.application.name + "\u201d", created.webhook_secret);
    } catch (error) {
      if (!showFieldErrors(error, "application-", "name")) {
        failed(error);
      }
    }
  });

  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    accessToken = $("signin-token").value.trim() || null;
    $("signin-token").value = "";
    $("who").textContent = accessToken ? "Signed in" : "";
    route();
  });

  $("back").addEventListener("click", (event) => {
    event.preventDefault();
    location.hash = "";
  });

  window.addEventListener("hashchange", route);
  route();
})();
