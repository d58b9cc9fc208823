/* KlikDok pages: the CRM tab ("ЭДО"), the signer's queue, the department board and the auditor's search.
   All data comes from /api/v1 with the page session in X-KlikDok-Session; the DOM is built with textContent
   only (no HTML from data). Signing goes three ways: the signer's agent and CryptoARM GOST (signing.js adds
   those to the queue and to the document panel), or by hand: download, sign elsewhere, upload the detached
   .sig, which the server verifies (accept_signature). The counterparty's part of a document is counterparty.js. */
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
  function date(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString("ru-RU", { day: "2-digit", month: "2-digit", year: "numeric",
                                                        hour: "2-digit", minute: "2-digit" });
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

  function download(path, fallbackName) {
    return api("GET", path, null, { raw: true }).then(function (resp) {
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
    });
  }

  function openReport(docId) {
    return api("GET", "/documents/" + docId + "/report?format=html", null, { raw: true })
      .then(function (resp) { return resp.text(); })
      .then(function (html) {
        var url = URL.createObjectURL(new Blob([html], { type: "text/html" }));
        window.open(url, "_blank", "noopener");
      });
  }

  var ACTION_LABELS = {
    "document.created": "создан", "document.route_set": "маршрут изменён", "document.sent": "отправлен на подпись",
    "signature.accepted": "подпись принята", "signature.refused": "подпись отклонена проверкой",
    "step.signed": "шаг подписан", "document.internal_completed": "подписан компанией",
    "document.completed": "подписан обеими сторонами", "document.rejected": "отклонён",
    "document.withdrawn": "отозван", "document.deleted": "удалён", "document.expired": "срок истёк",
    "document.reminded": "напоминание подписанту", "document.exported": "выгружен пакет",
    "job.created": "запрошена подпись", "job.failed": "агент подписи не смог подписать", "access.denied": "отказ в доступе",
    "job.moved": "изменён способ подписи", "job.cancelled": "подписант отменил подписание",
    "job.done": "задание на подпись закрыто после привязки сертификата",
    "counterparty.link_issued": "ссылка на подпись отправлена контрагенту",
    "counterparty.link_revoked": "прежняя ссылка контрагента закрыта",
    "counterparty.email_sent": "письмо контрагенту доставлено", "counterparty.email_failed": "письмо контрагенту не доставлено",
    "counterparty.no_email": "нет адреса контрагента", "counterparty.reminder_queued": "напоминание контрагенту",
    "counterparty.signed": "контрагент подписал",
    "counterparty.cryptoarm_cancelled": "контрагент отменил подписание в КриптоАРМ ГОСТ",
    "certificate.registered": "сертификат привязан", "certificate.approved": "сертификат одобрен администратором",
    "certificate.refused": "сертификат не принят (отказ при привязке или администратором)",
    "certificate.revoked": "сертификат отозван администратором"
  };
  var MAIL_KIND = { "mail.invitation": "приглашение", "mail.reminder": "напоминание", "mail.confirmation": "подтверждение" };
  var LINK_CLOSED = { resent: "отправлена новая", replaced: "отправлена новая", withdrawn: "документ отозван",
                      expired: "срок истёк" };

  // The one detail worth a glance per history line (the recipient of a link, the reason of a refusal...).
  function historyExtra(h) {
    var d = h.details || {};
    switch (h.action) {
      case "counterparty.link_issued": return d.recipient || "";
      case "counterparty.link_revoked": return LINK_CLOSED[d.reason] || "";
      case "counterparty.email_sent": return (MAIL_KIND[d.kind] || "письмо") + ", " + (d.to || "");
      case "counterparty.email_failed": return (MAIL_KIND[d.kind] || "письмо") + ", " + (d.to || "") + (d.error ? ": " + d.error : "");
      case "counterparty.reminder_queued": return d.manual ? "вручную" : "автоматически";
      case "counterparty.signed": return d.source === "cryptoarm" ? "в КриптоАРМ ГОСТ" : "файлом подписи со страницы документа";
      case "counterparty.no_email": return "";
      case "job.moved": return d.text || "";
    }
    return d.reason || d.message || d.file || "";
  }

  // ---- the document panel -------------------------------------------------------------------------------

  // A signature refused because its certificate is bound to nobody comes with an offer (bind_offer: token,
  // certificate): bind that certificate to me, the refused signature being the proof; the server then accepts
  // that same signature, so the document is signed without signing again. An upload's refusal carries it here;
  // an agent's or CryptoARM's job carries it in the job's progress (signing.js shows the same block).
  function bindOffer(offer, refresh) {
    var box = el("div", { class: "kd-bind-offer", "data-bind-offer": "yes" });
    var note = el("p", { class: "kd-small kd-bind-offer-result", role: "status" });
    var button = el("button", { class: "kd-btn kd-btn-blue", type: "button", "data-action": "accept-bind-offer",
      text: "Привязать этот сертификат ко мне" });
    button.addEventListener("click", function () {
      button.disabled = true;
      note.className = "kd-small kd-muted kd-bind-offer-result"; note.textContent = "Привязываем…";
      api("POST", "/me/certificates/offers/" + encodeURIComponent(offer.token) + "/accept").then(function (res) {
        note.className = "kd-small kd-bind-offer-result " + (res.signature ? "kd-ok" : "kd-warn");
        note.textContent = res.message;
        fit();
        if (res.signature) refresh();
      }).catch(function (err) {
        note.className = "kd-small kd-error kd-bind-offer-result"; note.textContent = err.message;
        fit();
      });
    });
    box.appendChild(el("p", { class: "kd-small" }, "Сертификат подписи ещё не привязан к вам: ",
      el("strong", { text: offer.certificate || "" }), ". Если это ваш сертификат, привяжите его — эта подпись " +
      "послужит подтверждением, подписывать документ заново не нужно."));
    box.appendChild(el("div", { class: "kd-actions" }, button));
    box.appendChild(note);
    return box;
  }

  // The commands come from the server (server/workflow/digest_commands.py), where a test runs them on real files.
  function digestCommands(f) {
    var cmds = f.digest_commands || {};
    if (!cmds.linux) return null;
    return el("div", { class: "kd-digest-commands kd-small kd-muted" },
      "Linux: ", el("code", { class: "kd-cmd-linux", text: cmds.linux }),
      " · Windows: ", el("code", { class: "kd-cmd-windows", text: cmds.windows }));
  }

  function signingBlock(detail, refresh) {
    var doc = detail.document;
    var box = el("div", { class: "kd-panel kd-sign", id: "kd-sign-" + doc.id });
    box.appendChild(el("h3", { class: "kd-subtitle", text: "Подписать" }));
    if (window.KlikDok && window.KlikDok.signing) box.appendChild(window.KlikDok.signing.documentActions(detail, refresh));
    box.appendChild(el("h4", { class: "kd-subtitle kd-small", text: "Подписать вручную" }));
    box.appendChild(el("div", { class: "kd-howto" },
      el("p", { text: "Подпись ставится квалифицированной ЭП (ГОСТ Р 34.10-2012). Без агента подписи и КриптоАРМ ГОСТ " +
                      "по ссылке можно подписать так:" }),
      el("ol", { class: "kd-list" },
        el("li", { text: "Скачайте файл кнопкой «Скачать» и сверьте его хэш ГОСТ Р 34.11-2012 (256) с указанным ниже: " +
                         "под каждым файлом есть команда для Linux (gost12sum) и для Windows (cpverify из КриптоПро CSP); " +
                         "запустите её в папке со скачанным файлом. Регистр букв в хэше значения не имеет." }),
        el("li", {}, "Подпишите его отсоединённой подписью в КриптоАРМ ГОСТ (Подписать → отсоединённая, формат DER) " +
                     "или командой ", el("code", { text: "cryptcp -sign -detached -der <файл> <файл>.sig" }), "."),
        el("li", { text: "Загрузите получившийся файл .sig: сервер проверит подпись и сертификат." }))));
    detail.files.forEach(function (f) {
      var done = detail.signatures.some(function (s) {
        return s.file_id === f.id && detail.route.some(function (r) { return r.id === s.step_id && r.state === "current"; });
      });
      var input = el("input", { type: "file", accept: ".sig,.p7s,.sgn,.p7b,.pem", "data-file-id": String(f.id),
                                class: "kd-sig-input" });
      var status = el("span", { class: done ? "kd-ok" : "kd-muted", text: done ? "подписан" : "" });
      var offerSlot = el("div", { class: "kd-bind-offer-slot" });
      input.addEventListener("change", function () {
        if (!input.files.length) return;
        clear(offerSlot);
        status.className = "kd-muted"; status.textContent = "проверка…";
        input.files[0].arrayBuffer().then(function (buf) {
          return api("POST", "/documents/" + doc.id + "/files/" + f.id + "/signatures", buf);
        }).then(function (res) {
          // The workflow accepts an undecided signature only under [trust] revocation = "warn", and only when
          // nothing but its revocation status is unknown: say so, in amber, never as a plain success.
          var unchecked = res.status !== "valid";
          status.className = unchecked ? "kd-warn" : "kd-ok";
          status.textContent = (unchecked ? "подпись принята без проверки отзыва" : "подпись принята") +
            (res.warning ? " (с предупреждением)" : "");
          refresh();
        }).catch(function (err) {
          status.className = "kd-error"; status.textContent = err.message;
          clear(offerSlot);
          if (err.data && err.data.bind_offer) offerSlot.appendChild(bindOffer(err.data.bind_offer, refresh));
          fit();
        });
      });
      box.appendChild(el("div", { class: "kd-field" }, el("strong", { text: f.name + " " }), status,
                         el("div", { class: "kd-digest", text: "ГОСТ Р 34.11-2012 (256): " + f.streebog256 }),
                         digestCommands(f),
                         done ? null : input, offerSlot));
    });
    var reason = el("textarea", { rows: "2", placeholder: "Причина отказа", class: "kd-reason" });
    box.appendChild(el("div", { class: "kd-field" }, reason,
      el("button", { class: "kd-btn kd-btn-red", type: "button", text: "Отклонить", onclick: function () {
        api("POST", "/documents/" + doc.id + "/reject", { reason: reason.value })
          .then(refresh).catch(function (err) { alert(err.message); });
      } })));
    return box;
  }

  function renderDetail(container, detail, refresh) {
    var doc = detail.document;
    clear(container);
    var panel = el("div", { class: "kd-panel", id: "kd-doc-" + doc.id, "data-document-id": String(doc.id) });
    panel.appendChild(el("div", { class: "kd-head" }, el("h2", { class: "kd-subtitle", text: doc.title }), badge(doc)));
    (doc.warnings || []).forEach(function (w) { panel.appendChild(el("div", { class: "kd-warning", text: "⚠ " + w })); });
    if (detail.reason) panel.appendChild(el("p", {}, el("strong", { text: "Причина: " }), detail.reason));
    panel.appendChild(el("p", { class: "kd-muted", text: "Автор: " + doc.author_name + " · создан " + date(doc.created_at) +
      (doc.deadline ? " · срок " + date(doc.deadline) : "") + (detail.counterparty_name ? " · контрагент " +
      detail.counterparty_name + (detail.counterparty_inn ? " (ИНН " + detail.counterparty_inn + ")" : "") : "") }));
    var files = el("table", { class: "kd-table" }, el("tr", {}, el("th", { text: "Файл" }), el("th", { text: "Размер" }),
                                                       el("th", { text: "Хэш ГОСТ (256)" }), el("th", { text: "" })));
    detail.files.forEach(function (f) {
      files.appendChild(el("tr", {}, el("td", { text: f.name }), el("td", { text: (f.size / 1024).toFixed(1) + " КБ" }),
        el("td", { class: "kd-digest", text: f.streebog256 }),
        el("td", {}, el("button", { class: "kd-link", type: "button", text: "Скачать", onclick: function () {
          download("/documents/" + doc.id + "/files/" + f.id + "/content", f.name);
        } }))));
    });
    panel.appendChild(files);
    var steps = el("ol", { class: "kd-steps" });
    var stepLabel = { waiting: "ожидает", current: "сейчас", signed: "подписал(а)", rejected: "отклонил(а)",
                      cancelled: "не потребовалось" };
    detail.route.forEach(function (s) {
      steps.appendChild(el("li", { "data-step-state": s.state }, (s.position + ". " + (s.display_name || "Контрагент") +
        " — " + stepLabel[s.state] + (s.acted_at ? " " + date(s.acted_at) : "") + (s.reason ? " (" + s.reason + ")" : ""))));
    });
    panel.appendChild(el("h3", { class: "kd-subtitle", text: "Маршрут" }));
    panel.appendChild(steps);
    if (detail.signatures.length) {
      panel.appendChild(el("h3", { class: "kd-subtitle", text: "Подписи" }));
      var sigs = el("ul", { class: "kd-list" });
      detail.signatures.forEach(function (s) {
        var who = s.signer.common_name || "—";
        if (s.signer.snils) who += ", СНИЛС " + s.signer.snils;
        var v = verdictOf(s);
        sigs.appendChild(el("li", { "data-signature": s.id },
          el("span", { class: "kd-badge kd-verdict-" + v.tone, "data-verdict": v.tone, title: v.title + ": " + v.text,
                       text: v.short }), " " + who + " · " + date(s.accepted_at) + " ",
          s.identity_warning ? el("span", { class: "kd-error", text: "⚠ " + s.identity_warning + " " }) : null,
          el("button", { class: "kd-link", type: "button", text: ".sig", onclick: function () {
            download("/documents/" + doc.id + "/signatures/" + s.id, "signature.sig");
          } }),
          // Anything short of a plain "valid" says what it is in full, not only in a tooltip.
          v.tone !== "valid" ? el("div", { class: "kd-verdict-note kd-verdict-" + v.tone, "data-headline": "",
                                            text: v.title + ": " + v.text }) : null));
      });
      panel.appendChild(sigs);
    }
    var actions = el("div", { class: "kd-actions" });
    function act(label, fn, cls) { actions.appendChild(el("button", { class: "kd-btn " + (cls || ""), type: "button",
      "data-action": label, text: label, onclick: function () { fn().then(refresh).catch(function (e) { alert(e.message); }); } })); }
    if (detail.can.indexOf("send") >= 0) act("Отправить на подпись", function () { return api("POST", "/documents/" + doc.id + "/send"); }, "kd-btn-blue");
    if (detail.can.indexOf("remind") >= 0) act("Напомнить", function () { return api("POST", "/documents/" + doc.id + "/remind"); });
    if (detail.can.indexOf("withdraw") >= 0) act("Отозвать", function () {
      var reason = window.prompt("Причина отзыва (необязательно)", "") || "";
      return api("POST", "/documents/" + doc.id + "/withdraw", { reason: reason });
    }, "kd-btn-light");
    if (detail.can.indexOf("delete") >= 0) act("Удалить черновик", function () { return api("DELETE", "/documents/" + doc.id); }, "kd-btn-light");
    act("Скачать пакет (ZIP)", function () { return download("/documents/" + doc.id + "/package", "package.zip"); }, "kd-btn-light");
    act("Отчёт о проверке", function () { return openReport(doc.id); }, "kd-btn-light");
    panel.appendChild(actions);
    var history = el("ul", { class: "kd-history kd-list" });
    detail.history.forEach(function (h) {
      var extra = historyExtra(h);
      extra = extra ? " — " + extra : "";
      history.appendChild(el("li", { text: date(h.at) + " · " + (ACTION_LABELS[h.action] || h.action) + " · " + (h.actor_name || h.actor) + extra }));
    });
    panel.appendChild(el("h3", { class: "kd-subtitle", text: "История" }));
    panel.appendChild(history);
    container.appendChild(panel);
    if (window.KlikDok && window.KlikDok.counterparty) window.KlikDok.counterparty.render(container, detail, refresh);
    if (detail.can.indexOf("sign") >= 0) container.appendChild(signingBlock(detail, refresh));
    fit();
  }

  function openDocument(container, docId, onChange) {
    function refresh() {
      return api("GET", "/documents/" + docId).then(function (detail) {
        renderDetail(container, detail, function () { refresh(); if (onChange) onChange(); });
      }).catch(function (err) { showError(container, err); });
    }
    return refresh();
  }

  // ---- lists --------------------------------------------------------------------------------------------

  function documentTable(page, opts) {
    opts = opts || {};
    var table = el("table", { class: "kd-table kd-documents" });
    var head = el("tr", {});
    if (opts.select) head.appendChild(el("th", { text: "" }));
    ["Документ", "Статус", "Подписывает", "Автор", "Создан", "Срок"].forEach(function (h) { head.appendChild(el("th", { text: h })); });
    table.appendChild(head);
    page.items.forEach(function (doc) {
      var row = el("tr", { "data-document-id": String(doc.id), class: doc.overdue ? "kd-overdue" : "" });
      if (opts.select) {
        var box = el("input", { type: "checkbox", class: "kd-select", value: String(doc.id) });
        box.addEventListener("change", opts.select);
        row.appendChild(el("td", {}, box));
      }
      row.appendChild(el("td", {}, el("button", { class: "kd-link kd-open", type: "button", text: doc.title,
        onclick: function () { opts.open(doc.id); } }), doc.files > 1 ? " (" + doc.files + " файла)" : ""));
      row.appendChild(el("td", {}, badge(doc), (doc.warnings || []).length ? el("span", { class: "kd-error", text: " ⚠" }) : null));
      row.appendChild(el("td", { text: doc.current_signer_name || "—" }));
      row.appendChild(el("td", { text: doc.author_name }));
      row.appendChild(el("td", { text: date(doc.created_at) }));
      row.appendChild(el("td", {}, date(doc.deadline), doc.overdue ? el("span", { class: "kd-overdue-mark", text: " просрочен" }) : null));
      table.appendChild(row);
    });
    return table;
  }

  // ---- the CRM tab --------------------------------------------------------------------------------------

  function tabPage() {
    var holder = document.getElementById("kd-documents");
    var detail = document.getElementById("kd-detail");
    var dialog = document.getElementById("kd-create");
    var chosen = [];
    var people = [];

    function load() {
      return api("GET", "/documents?view=entity&limit=100").then(function (page) {
        clear(holder);
        if (!page.items.length) {
          holder.appendChild(el("p", { class: "kd-muted", id: "kd-empty", text: "Документов пока нет. Нажмите «Создать документ»." }));
        } else {
          holder.appendChild(documentTable(page, { open: function (id) { openDocument(detail, id, load); } }));
        }
        fit();
      }).catch(function (err) { showError(holder, err); });
    }

    function renderChosen() {
      var list = clear(document.getElementById("kd-signers"));
      chosen.forEach(function (p, i) {
        list.appendChild(el("li", { "data-user-id": String(p.id) }, p.name + (p.position ? " — " + p.position : "") + " ",
          el("button", { class: "kd-link", type: "button", text: "убрать", onclick: function () { chosen.splice(i, 1); renderChosen(); } })));
      });
    }

    function renderOptions() {
      var q = document.getElementById("kd-signer-search").value.toLowerCase();
      var select = clear(document.getElementById("kd-signer-options"));
      people.filter(function (p) { return !q || p.name.toLowerCase().indexOf(q) >= 0; }).forEach(function (p) {
        select.appendChild(el("option", { value: String(p.id), text: p.name + (p.position ? " — " + p.position : "") }));
      });
    }

    function submit(send) {
      var error = document.getElementById("kd-create-error");
      error.textContent = "";
      var files = document.getElementById("kd-files").files;
      if (!files.length) { error.textContent = "Выберите файл."; return; }
      if (send && !chosen.length) { error.textContent = "Добавьте хотя бы одного подписанта."; return; }
      var form = new FormData();
      form.append("title", document.getElementById("kd-title").value);
      form.append("signers", chosen.map(function (p) { return p.id; }).join(","));
      form.append("counterparty_email", document.getElementById("kd-cp-email").value);
      form.append("send", send ? "1" : "0");
      for (var i = 0; i < files.length; i++) form.append("files", files[i], files[i].name);
      api("POST", "/documents", form).then(function (created) {
        dialog.close();
        document.getElementById("kd-create-form").reset();
        chosen = []; renderChosen();
        return load().then(function () { return openDocument(detail, created.id, load); });
      }).catch(function (err) { error.textContent = err.message; });
    }

    document.getElementById("kd-new").addEventListener("click", function () {
      dialog.showModal();
      if (!people.length) api("GET", "/directory/users").then(function (list) { people = list; renderOptions(); })
        .catch(function (err) { document.getElementById("kd-create-error").textContent = err.message; });
    });
    document.getElementById("kd-signer-search").addEventListener("input", renderOptions);
    document.getElementById("kd-signer-add").addEventListener("click", function () {
      var select = document.getElementById("kd-signer-options");
      var id = parseInt(select.value, 10);
      var person = people.filter(function (p) { return p.id === id; })[0];
      if (person && !chosen.some(function (p) { return p.id === id; })) { chosen.push(person); renderChosen(); }
    });
    document.getElementById("kd-create-send").addEventListener("click", function () { submit(true); });
    document.getElementById("kd-create-draft").addEventListener("click", function () { submit(false); });
    document.getElementById("kd-create-cancel").addEventListener("click", function () { dialog.close(); });
    load();
  }

  // ---- the app page: queue, department, audit -------------------------------------------------------------

  function appPage() {
    var detail = document.getElementById("kd-detail");
    var views = { queue: loadQueue, department: loadDepartment, audit: loadAudit };
    // Views other scripts add (certificates.js: "certificates", "admin"); each is a function that loads it.
    Object.keys(window.KlikDok.views || {}).forEach(function (k) { views[k] = window.KlikDok.views[k]; });

    function selected() {
      return Array.prototype.map.call(document.querySelectorAll("#kd-queue .kd-select:checked"),
                                      function (b) { return parseInt(b.value, 10); });
    }
    function updateSelection() {
      var none = !selected().length;
      document.getElementById("kd-sign-manual").disabled = none;
      if (window.KlikDok.signing) window.KlikDok.signing.selectionChanged(selected());
    }

    function loadQueue() {
      var holder = document.getElementById("kd-queue");
      return api("GET", "/documents?view=queue&limit=200").then(function (page) {
        document.getElementById("kd-queue-count").textContent = page.total ? String(page.total) : "";
        clear(holder);
        if (!page.items.length) holder.appendChild(el("p", { class: "kd-muted", id: "kd-queue-empty", text: "Документов на подпись нет." }));
        else holder.appendChild(documentTable(page, { select: updateSelection, open: function (id) { openDocument(detail, id, loadQueue); } }));
        document.getElementById("kd-select-all").checked = false;
        updateSelection(); fit();
      }).catch(function (err) { showError(holder, err); });
    }

    document.getElementById("kd-select-all").addEventListener("change", function (e) {
      document.querySelectorAll("#kd-queue .kd-select").forEach(function (b) { b.checked = e.target.checked; });
      updateSelection();
    });
    // By hand: every selected document's panel with its files, digests and a .sig upload per file.
    document.getElementById("kd-sign-manual").addEventListener("click", function () {
      var ids = selected();
      var batch = clear(document.getElementById("kd-batch"));
      batch.appendChild(el("p", { class: "kd-muted", id: "kd-batch-note", text: "Выбрано документов: " + ids.length +
        ". Скачайте каждый файл, подпишите его отсоединённой подписью и загрузите файл .sig рядом с ним." }));
      ids.forEach(function (id) {
        var box = el("div", { class: "kd-batch-item" });
        batch.appendChild(box);
        openDocument(box, id, loadQueue);
      });
      fit();
    });
    if (window.KlikDok.signing) window.KlikDok.signing.mountQueue({ selected: selected, reload: loadQueue });

    function filtersQuery(form) {
      var data = new FormData(form);
      var params = [];
      data.forEach(function (v, k) { if (v) params.push(encodeURIComponent(k) + "=" + encodeURIComponent(v)); });
      return params.length ? "&" + params.join("&") : "";
    }

    function loadDepartment() {
      var holder = document.getElementById("kd-department");
      return api("GET", "/documents?view=department&limit=200" + filtersQuery(document.getElementById("kd-dept-filters")))
        .then(function (page) {
          clear(holder);
          holder.appendChild(el("p", { class: "kd-muted", id: "kd-dept-total", text: "Найдено: " + page.total }));
          if (page.items.length) holder.appendChild(documentTable(page, { open: function (id) { openDocument(detail, id, loadDepartment); } }));
          fit();
        }).catch(function (err) { showError(holder, err); });
    }
    document.getElementById("kd-dept-filters").addEventListener("submit", function (e) { e.preventDefault(); loadDepartment(); });

    function loadAudit() {
      var holder = document.getElementById("kd-audit");
      return api("GET", "/documents?view=all&limit=200" + filtersQuery(document.getElementById("kd-audit-filters")))
        .then(function (page) {
          clear(holder);
          holder.appendChild(el("p", { class: "kd-muted", text: "Найдено: " + page.total }));
          if (page.items.length) holder.appendChild(documentTable(page, { open: function (id) { openDocument(detail, id); } }));
          fit();
        }).catch(function (err) { showError(holder, err); });
    }
    document.getElementById("kd-audit-filters").addEventListener("submit", function (e) { e.preventDefault(); loadAudit(); });
    document.getElementById("kd-audit-export").addEventListener("click", function () {
      api("GET", "/documents?view=all&limit=200" + filtersQuery(document.getElementById("kd-audit-filters"))).then(function (page) {
        function cell(v) { return '"' + String(v === null || v === undefined ? "" : v).replace(/"/g, '""') + '"'; }
        var lines = [["№", "Документ", "Статус", "Автор", "Подписывает", "Создан", "Отправлен", "Срок"].map(cell).join(";")];
        page.items.forEach(function (d) {
          lines.push([d.id, d.title, d.state_label, d.author_name, d.current_signer_name, d.created_at, d.sent_at,
                      d.deadline].map(cell).join(";"));
        });
        var url = URL.createObjectURL(new Blob(["\ufeff" + lines.join("\r\n")], { type: "text/csv;charset=utf-8" }));
        var a = el("a", { href: url, download: "klikdok-documents.csv" });
        document.body.appendChild(a); a.click(); a.remove();
      }).catch(function (err) { showError(document.getElementById("kd-audit"), err); });
    });
    document.getElementById("kd-log-filters").addEventListener("submit", function (e) {
      e.preventDefault();
      var holder = document.getElementById("kd-log");
      api("GET", "/audit?limit=200" + filtersQuery(e.target)).then(function (rows) {
        clear(holder);
        var table = el("table", { class: "kd-table" }, el("tr", {}, el("th", { text: "Время" }), el("th", { text: "Кто" }),
                                                          el("th", { text: "Действие" }), el("th", { text: "Объект" })));
        rows.forEach(function (r) {
          table.appendChild(el("tr", {}, el("td", { text: date(r.at) }), el("td", { text: r.actor }),
            el("td", { text: ACTION_LABELS[r.action] || r.action }), el("td", { text: r.object_type + " " + r.object_id })));
        });
        holder.appendChild(table); fit();
      }).catch(function (err) { showError(holder, err); });
    });

    function show() {
      var name = (location.hash || "#queue").slice(1);
      if (!views[name]) name = "queue";
      // A view may span several sections (the queue's agent panel sits below the shared document panel).
      document.querySelectorAll(".kd-view").forEach(function (s) {
        s.hidden = (s.getAttribute("data-view") || s.id.replace(/^view-/, "")) !== name;
      });
      document.querySelectorAll("#kd-nav a").forEach(function (a) { a.classList.toggle("kd-active", a.getAttribute("data-view") === name); });
      clear(detail);
      views[name]();
    }
    window.addEventListener("hashchange", show);
    show();
  }

  var K = window.KlikDok = window.KlikDok || {};
  K.views = K.views || {};
  K.bindChannels = K.bindChannels || [];
  K.tabPage = tabPage; K.appPage = appPage; K.api = api;
  K.util = { api: api, el: el, clear: clear, fit: fit, date: date, badge: badge, showError: showError,
             download: download, openDocument: openDocument, stateInfo: stateInfo, bindOffer: bindOffer };
})();
