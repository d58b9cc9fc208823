/* KlikDok page core: the API client, DOM building, dates, the busy button and the idempotency key every page
   script uses (KlikDok.util). All data comes from /api/v1 with the page session in X-KlikDok-Session; the DOM is
   built with textContent only (no HTML from data). Page scripts, each on top of this one:
   document_panel.js (a document's panel and the lists), tab_page.js (the CRM tab "ЭДО" and its create dialog),
   app_page.js (the app page's views), signing.js (agent and CryptoARM signing), counterparty.js. */
(function () {
  "use strict";
  var session = document.body.getAttribute("data-session") || "";
  // What the server says about each document state (label, tone, flags): server/workflow/docstate.py, rendered
  // into the page by the template. The scripts never spell a state themselves.
  var STATES = {};
  (function () {
    var node = document.getElementById("kd-doc-states");
    (node ? JSON.parse(node.textContent) : []).forEach(function (s) { STATES[s.value] = s; });
  })();
  function stateInfo(value) {
    return STATES[value] || { value: value, label: value, open: false, actor: null, tone: "neutral", listed: false,
                              rejection: false, counterparty_panel: "", counterparty_headline: "" };
  }

  function api(method, path, body, opts) {
    opts = opts || {};
    var init = { method: method, headers: { "X-KlikDok-Session": session } };
    if (opts.key) init.headers["Idempotency-Key"] = opts.key;
    if (body instanceof FormData) {
      init.body = body;
    } else if (body instanceof Blob || body instanceof ArrayBuffer) {
      init.body = body;
      init.headers["Content-Type"] = "application/octet-stream";
    } else if (body !== undefined && body !== null) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    return fetch("/api/v1" + path, init).then(function (resp) {
      if (opts.raw && resp.ok) return resp;
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
        if (!resp.ok) {
          var err = new Error((data && (data.message || data.detail)) || ("Ошибка " + resp.status));
          err.status = resp.status; err.code = data && data.error; err.data = data;
          throw err;
        }
        return data;
      });
    });
  }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    attrs = attrs || {};
    Object.keys(attrs).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function fit() { if (window.KlikDokFrame) window.KlikDokFrame.fitWindow(); }
  // "07.12.2026, 14:05 МСК": the portal's zone with its short name (Intl's "GMT+3" for Moscow reads as МСК).
  function date(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    if (isNaN(d)) return iso;
    var opts = { day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit",
                 timeZone: TIMEZONE, timeZoneName: "short" };
    var text;
    try { text = d.toLocaleString("ru-RU", opts); } catch (e) { delete opts.timeZone; text = d.toLocaleString("ru-RU", opts); }
    // Other zones without a letter name read "UTC+5", as the server's pages, e-mails and reports say them.
    if (TIMEZONE === "Europe/Moscow") return text.replace(/GMT\+3$/, "МСК");
    return text.replace(/GMT([+-])(\d[\d:]*)$/, function (_, sign, rest) { return "UTC" + (sign === "-" ? "\u2212" : "+") + rest; });
  }
  // A signature's verdict as the server words it (cades/verdicts.py); without one, never "valid" by default.
  function verdictOf(s) {
    if (s.verdict) return s.verdict;
    return { tone: "indeterminate", short: "Статус подписи неизвестен", title: "СТАТУС ПОДПИСИ НЕИЗВЕСТЕН",
             text: "сервер не сообщил результат проверки" };
  }
  function badge(doc) { return el("span", { class: "kd-badge kd-tone-" + stateInfo(doc.state).tone, "data-state": doc.state,
                                            text: doc.state_label }); }
  function showError(node, err) { clear(node).appendChild(el("p", { class: "kd-error", role: "alert", text: err.message })); fit(); }

  // Saves a file answer (api(..., { raw: true })) under the name its Content-Disposition gives.
  function save(resp, fallbackName) {
    var name = fallbackName;
    var cd = resp.headers.get("Content-Disposition") || "";
    var m = /filename\*=UTF-8''([^;]+)/.exec(cd);
    if (m) name = decodeURIComponent(m[1]);
    return resp.blob().then(function (blob) {
      var url = URL.createObjectURL(blob);
      var a = el("a", { href: url, download: name });
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    });
  }
  function download(path, fallbackName) {
    return api("GET", path, null, { raw: true }).then(function (resp) { return save(resp, fallbackName); });
  }


  // One time zone everywhere: the portal's ([portal] timezone on the server, rendered into <body data-timezone>),
  // shown with its name so a reader never guesses whether a time is UTC.
  var TIMEZONE = document.body.getAttribute("data-timezone") || "Europe/Moscow";

  // A key per action instance (a dialog opening, a rendered button): the server keeps the first answer to a key
  // for a day, so a double click or a retried request never creates or changes anything twice.
  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  // Runs an action from a button: the button is disabled (and aria-busy) while it runs, so it cannot run twice
  // at once; the promise's result or error is passed on.
  function busy(button, run) {
    if (button.disabled) return Promise.resolve(null);
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    function done() { button.disabled = false; button.removeAttribute("aria-busy"); }
    var result;
    try { result = Promise.resolve(run()); } catch (e) { result = Promise.reject(e); }
    return result.then(function (v) { done(); return v; }, function (e) { done(); throw e; });
  }

  // The CRM's addresses for a counterparty (GET …/counterparty/recipients) as <option>s of `select`: the resend
  // form's address picker and the create form's contact person picker offer them alike.
  function recipientOptions(select, list) {
    list.forEach(function (r) {
      select.appendChild(el("option", { value: r.email, "data-name": r.name || "", "data-contact-id": String(r.contact_id || ""),
        text: (r.name ? r.name + " — " : "") + r.email + " (" + r.source_label + ")" }));
    });
    return select;
  }

  // An in-page dialog that asks for a reason and posts it (withdraw, return for rework): one Idempotency-Key per
  // opening, the button busy while it runs, the refusal said inside the dialog, the focus back on the opener.
  // o: id, title, note, label, field (the body's key), required (the message when it is empty), okText, okClass,
  // path, opener, done.
  function reasonDialog(o) {
    var old = document.getElementById(o.id);
    if (old) old.remove();
    var key = newKey();
    var attrs = { id: o.id + "-" + o.field, name: o.field, rows: "3", maxlength: "1000" };
    if (o.required) { attrs.required = ""; attrs["aria-required"] = "true"; }
    var input = el("textarea", attrs);
    var error = el("p", { class: "kd-error", id: o.id + "-error", role: "alert" });
    var ok = el("button", { class: "kd-btn " + o.okClass, type: "submit", id: o.id + "-ok", text: o.okText });
    var cancel = el("button", { class: "kd-btn kd-btn-light", type: "button", id: o.id + "-cancel", text: "Отмена" });
    var formAttrs = { method: "dialog", id: o.id + "-form" };
    if (o.required) formAttrs.novalidate = "";
    var form = el("form", formAttrs,
      el("h2", { class: "kd-subtitle", id: o.id + "-title", text: o.title }),
      el("p", { class: "kd-muted kd-small", id: o.id + "-note", text: o.note }),
      el("label", { class: "kd-field", for: o.id + "-" + o.field }, o.label, input),
      error,
      el("div", { class: "kd-actions" }, ok, cancel));
    var dialog = el("dialog", { class: "kd-dialog", id: o.id, "aria-labelledby": o.id + "-title",
                                "aria-describedby": o.id + "-note" }, form);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      error.textContent = "";
      var text = input.value.trim();
      if (o.required && !text) { error.textContent = o.required; input.focus(); return; }
      var body = {};
      body[o.field] = text;
      busy(ok, function () {
        return api("POST", o.path, body, { key: key });
      }).then(function (res) {
        if (res === null) return;  // a second press while the first runs
        dialog.close();
        o.done();
      }).catch(function (err) { error.textContent = err.message; });
    });
    cancel.addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("close", function () {
      dialog.remove();
      if (o.opener.isConnected) o.opener.focus();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    input.focus();
  }

  var K = window.KlikDok = window.KlikDok || {};
  K.views = K.views || {};
  K.bindChannels = K.bindChannels || [];
  K.api = api;
  K.util = { api: api, el: el, clear: clear, fit: fit, date: date, badge: badge, showError: showError,
             download: download, save: save, stateInfo: stateInfo, verdictOf: verdictOf, newKey: newKey, busy: busy,
             recipientOptions: recipientOptions, reasonDialog: reasonDialog,
             timezone: TIMEZONE };
})();
