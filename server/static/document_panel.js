/* A document's panel (files, route, signatures, actions, history, the manual signing block) and the document
   table the lists share. Needs kd_core.js; the counterparty's part of a panel is counterparty.js, the agent's and
   CryptoARM's signing buttons signing.js. */
(function () {
  "use strict";
  var K = window.KlikDok;
  var u = K.util;
  var api = u.api, el = u.el, clear = u.clear, fit = u.fit, date = u.date, badge = u.badge, showError = u.showError,
      download = u.download, verdictOf = u.verdictOf;
  function openReport(docId) {
    return api("GET", "/documents/" + docId + "/report?format=html", null, { raw: true })
      .then(function (resp) { return resp.text(); })
      .then(function (html) {
        var url = URL.createObjectURL(new Blob([html], { type: "text/html" }));
        window.open(url, "_blank", "noopener");
      });
  }

  // The audit actions' phrases: one vocabulary on the server (server/db/audit_actions.py), rendered into the page.
  var ACTION_LABELS = (function () {
    var node = document.getElementById("kd-audit-actions"), labels = {};
    (node ? JSON.parse(node.textContent) : []).forEach(function (a) { labels[a.value] = a.label; });
    return labels;
  })();
  var MAIL_KIND = { "mail.invitation": "приглашение", "mail.reminder": "напоминание", "mail.confirmation": "подтверждение",
                    "mail.withdrawal": "уведомление об отзыве" };
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
    var key = u.newKey();
    button.addEventListener("click", function () {
      button.disabled = true;
      note.className = "kd-small kd-muted kd-bind-offer-result"; note.textContent = "Привязываем…";
      api("POST", "/me/certificates/offers/" + encodeURIComponent(offer.token) + "/accept", null, { key: key }).then(function (res) {
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
        var key = u.newKey();   // one per chosen file: a retried upload is accepted once
        input.files[0].arrayBuffer().then(function (buf) {
          return api("POST", "/documents/" + doc.id + "/files/" + f.id + "/signatures", buf, { key: key });
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
    var reason = el("textarea", { rows: "2", placeholder: "Причина отказа", class: "kd-reason", "aria-label": "Причина отказа" });
    var rejectKey = u.newKey();
    var rejectButton = el("button", { class: "kd-btn kd-btn-red", type: "button", "data-action": "reject", text: "Отклонить" });
    var rejectError = el("p", { class: "kd-error kd-inline-error", role: "alert", "data-reject-error": "" });
    rejectButton.addEventListener("click", function () {
      rejectError.textContent = "";
      u.busy(rejectButton, function () {
        return api("POST", "/documents/" + doc.id + "/reject", { reason: reason.value }, { key: rejectKey });
      }).then(refresh).catch(function (err) { rejectError.textContent = err.message; fit(); });
    });
    box.appendChild(el("div", { class: "kd-field" }, reason, rejectButton, rejectError));
    return box;
  }

  // ---- files and their previews ------------------------------------------------------------------------

  // Previews as object URLs, by digest: the bytes behind a digest never change, so a panel drawn again after an
  // action shows the same preview without downloading the file again. The page session travels in a header,
  // which an <iframe> or <img> cannot send: the file is fetched with it and shown from a blob.
  var PREVIEWS_KEPT = 12;
  var previewCache = {};
  var previewOrder = [];
  function previewBlob(docId, f) {
    var key = f.streebog256 + ":" + f.preview;
    if (!previewCache[key]) {
      previewCache[key] = api("GET", "/documents/" + docId + "/files/" + f.id + "/preview", null, { raw: true })
        .then(function (resp) { return resp.blob(); })
        .then(function (blob) { return { type: blob.type, url: URL.createObjectURL(blob) }; });
      previewCache[key].catch(function () { delete previewCache[key]; });
      previewOrder.push(key);
      while (previewOrder.length > PREVIEWS_KEPT) {
        var old = previewOrder.shift();
        var gone = previewCache[old];
        delete previewCache[old];
        if (gone) gone.then(function (p) { URL.revokeObjectURL(p.url); }, function () {});
      }
    }
    return previewCache[key];
  }

  // The server says which files may be previewed (server/workflow/previews.py decides by the bytes) and serves
  // them with the type it found; anything it did not serve as a PDF or a picture is not shown here.
  // A picture is shown at once; a PDF when asked for: the browser's PDF viewer takes the keyboard focus when it
  // has loaded, which must not happen while someone types a reason or an address elsewhere in the panel (and a
  // large PDF is not downloaded by merely opening the document).
  var IMAGE_TYPES = /^image\/(png|jpeg|gif|webp)$/;
  function filePreview(docId, f) {
    if (f.preview !== "pdf" && f.preview !== "image") return null;
    var body = el("div", { class: "kd-preview-body" },
                  el("p", { class: "kd-muted kd-small", role: "status", text: "Загружаем просмотр…" }));
    var box = el("details", { class: "kd-preview", "data-preview": f.preview },
      el("summary", { text: f.preview === "pdf" ? "Просмотр PDF" : "Просмотр изображения" }), body);
    if (f.preview === "image") box.open = true;
    function load() {
      if (box.getAttribute("data-loaded")) return;
      box.setAttribute("data-loaded", "yes");
      previewBlob(docId, f).then(function (p) {
        clear(body);
        var title = "Просмотр: " + f.name;
        if (f.preview === "pdf" && p.type === "application/pdf") {
          body.appendChild(el("iframe", { class: "kd-preview-pdf", src: p.url, title: title }));
        } else if (f.preview === "image" && IMAGE_TYPES.test(p.type)) {
          body.appendChild(el("img", { class: "kd-preview-img", src: p.url, alt: title }));
        } else {
          body.appendChild(el("p", { class: "kd-muted kd-small", text: "Этот файл здесь не показывается: скачайте его." }));
        }
        fit();
      }).catch(function (err) {
        box.removeAttribute("data-loaded");
        clear(body).appendChild(el("p", { class: "kd-error kd-small", role: "alert", text: err.message }));
        fit();
      });
    }
    box.addEventListener("toggle", function () { if (box.open) load(); fit(); });
    if (box.open) load();
    return box;
  }

  // A signed file's copy with the marks of its signatures (the detail says which files have one, and where).
  function stampedButton(f, detail) {
    var copy = detail.paper && detail.paper.stamped.filter(function (c) { return c.file_id === f.id; })[0];
    if (!copy) return null;
    var problem = el("span", { class: "kd-error kd-small", role: "alert" });
    var button = el("button", { class: "kd-btn kd-btn-light kd-btn-small", type: "button", "data-stamped": String(f.id),
                                "aria-label": "Скачать копию «" + f.name + "» с отметками об электронной подписи",
                                text: "Копия с отметками об ЭП" });
    button.addEventListener("click", function () {
      problem.textContent = "";
      u.busy(button, function () { return download(copy.url, f.name + ".pdf"); })
        .catch(function (e) { problem.textContent = e.message; fit(); });
    });
    return el("span", { class: "kd-stamped" }, button, problem);
  }

  function fileList(doc, detail) {
    var list = el("ul", { class: "kd-doc-files", "aria-label": "Файлы документа" });
    detail.files.forEach(function (f) {
      list.appendChild(el("li", { class: "kd-doc-file", "data-file-id": String(f.id), "data-preview": f.preview || "" },
        el("div", { class: "kd-doc-file-head" },
          el("strong", { class: "kd-doc-file-name", text: f.name }),
          el("span", { class: "kd-muted kd-small", text: (f.size / 1024).toFixed(1) + " КБ" }),
          el("button", { class: "kd-btn kd-btn-light kd-btn-small", type: "button", "data-download": String(f.id),
                         "aria-label": "Скачать «" + f.name + "»", text: "Скачать", onclick: function () {
            download("/documents/" + doc.id + "/files/" + f.id + "/content", f.name);
          } }),
          stampedButton(f, detail)),
        el("div", { class: "kd-small kd-doc-file-digest" }, el("span", { class: "kd-muted", text: "ГОСТ Р 34.11-2012 (256): " }),
           el("code", { class: "kd-digest", text: f.streebog256 })),
        filePreview(doc.id, f)));
    });
    return list;
  }

  // ---- the route as a timeline ----------------------------------------------------------------------------

  var STEP_STATE = { waiting: "ожидает очереди", current: "ждёт подписи", signed: "подписано", rejected: "отклонено",
                     cancelled: "не потребовалось" };
  // Issue 18: the МЧД the signature was judged with (number, principal, validity in the summary) and every check
  // that did not pass; the head's signature says it needed none.
  function poaNote(p) {
    if (!p) return null;
    if (p.status === "head") return el("div", { class: "kd-poa kd-muted", "data-poa": p.status, text: p.summary });
    var tone = p.status === "valid" ? "valid" : (p.status === "invalid" ? "invalid" : "indeterminate");
    var box = el("div", { class: "kd-poa kd-poa-" + tone, "data-poa": p.status },
      el("span", { class: "kd-badge kd-verdict-" + tone, text: "МЧД" }), " " + p.summary);
    (p.checks || []).forEach(function (c) {
      if (c.status !== "ok") box.appendChild(el("div", { class: "kd-poa-check", "data-poa-check": c.name, text: c.message }));
    });
    return box;
  }

  function day(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d)) return iso;
    try { return d.toLocaleDateString("ru-RU", { timeZone: u.timezone }); } catch (e) { return d.toLocaleDateString("ru-RU"); }
  }
  function shortSerial(serial) {
    serial = String(serial || "");
    return serial.length > 16 ? serial.slice(0, 8) + "…" + serial.slice(-4) : serial;
  }
  function issuerName(issuer) {
    var m = /(?:^|,\s*)CN=([^,]+)/.exec(issuer || "");
    return m ? m[1].trim() : (issuer || "");
  }
  // The certificates a step signed with (one line per certificate, however many files it signed).
  function stepCertificates(detail, step) {
    var seen = {};
    var lines = [];
    detail.signatures.forEach(function (s) {
      if (s.step_id !== step.id || seen[s.certificate_serial]) return;
      seen[s.certificate_serial] = true;
      var valid = s.certificate_not_before && s.certificate_not_after ?
        ", действует с " + day(s.certificate_not_before) + " по " + day(s.certificate_not_after) : "";
      lines.push(el("div", { class: "kd-tl-cert", "data-certificate": s.certificate_serial },
        "Сертификат: " + (s.signer.common_name || "—") + ", № " + shortSerial(s.certificate_serial) +
        ", выдан " + issuerName(s.certificate_issuer) + valid));
    });
    return lines;
  }
  function timeline(detail) {
    var ol = el("ol", { class: "kd-steps kd-timeline", "aria-label": "Маршрут подписания" });
    var current = -1, next = -1;
    detail.route.forEach(function (s, i) {
      if (s.state === "current" && current < 0) current = i;
      else if (s.state === "waiting" && current >= 0 && next < 0) next = i;
    });
    detail.route.forEach(function (s, i) {
      var cp = s.kind === "counterparty";
      var who = cp ? "Контрагент" + (detail.counterparty_name ? " — " + detail.counterparty_name : "") :
                     (s.display_name || "—");
      var state = STEP_STATE[s.state] || s.state;
      if (cp && s.state === "current") state = "ждёт ответа контрагента";
      var mark = i === current ? "Сейчас" : i === next ? "Далее" : "";
      var li = el("li", { class: "kd-tl-step kd-tl-" + s.state, "data-step-state": s.state, "data-step-id": String(s.id) },
        el("span", { class: "kd-tl-dot", "aria-hidden": "true" }),
        el("div", { class: "kd-tl-head" }, el("strong", { class: "kd-tl-who", text: s.position + ". " + who }),
           mark ? el("span", { class: "kd-tl-mark kd-tl-mark-" + (i === current ? "now" : "next"), text: mark }) : null),
        el("div", { class: "kd-tl-state", text: state + (s.acted_at ? ", " + date(s.acted_at) : "") }),
        s.reason ? el("div", { class: "kd-tl-reason" }, el("strong", { text: "Причина: " }), s.reason) : null);
      if (i === current) li.setAttribute("aria-current", "step");
      stepCertificates(detail, s).forEach(function (line) { li.appendChild(line); });
      ol.appendChild(li);
    });
    return ol;
  }

  // ---- withdrawing ----------------------------------------------------------------------------------------

  // A dialog of its own each time (it opens clean) with one idempotency key for that opening: a repeated click
  // or a retried request withdraws once; «Отозвать» is busy while the request runs; Esc and «Отмена» close it.
  function openWithdraw(doc, opener, refresh) {
    var toCounterparty = u.stateInfo(doc.state).actor === "counterparty";  // a live link: the mail goes out
    u.reasonDialog({
      id: "kd-withdraw", field: "reason", okText: "Отозвать", okClass: "kd-btn-red",
      title: "Отозвать документ «" + doc.title + "»?",
      note: "Подписать документ после отзыва будет нельзя." +
        (toCounterparty ? " Контрагенту придёт письмо «Документ отозван» с указанной причиной." : ""),
      label: "Причина отзыва (необязательно)",
      path: "/documents/" + doc.id + "/withdraw", opener: opener, done: refresh
    });
  }

  function renderDetail(container, detail, refresh) {
    var doc = detail.document;
    clear(container);
    var panel = el("div", { class: "kd-panel", id: "kd-doc-" + doc.id, "data-document-id": String(doc.id) });
    panel.appendChild(el("div", { class: "kd-head" }, el("h2", { class: "kd-subtitle", text: doc.title }), badge(doc)));
    if (detail.versions) panel.appendChild(versionLinks(container, detail.versions));
    (doc.warnings || []).forEach(function (w) { panel.appendChild(el("div", { class: "kd-warning", text: "⚠ " + w })); });
    if (detail.reason) panel.appendChild(el("p", {}, el("strong", { text: "Причина: " }), detail.reason));
    panel.appendChild(el("p", { class: "kd-muted", text: "Автор: " + doc.author_name + " · создан " + date(doc.created_at) +
      (doc.deadline ? " · срок " + date(doc.deadline) : "") + (detail.counterparty_name ? " · контрагент " +
      detail.counterparty_name + (detail.counterparty_inn ? " (ИНН " + detail.counterparty_inn + ")" : "") : "") +
      (detail.contact_name ? " · контактное лицо " + detail.contact_name : "") }));
    // What the author wrote to the counterparty in the create form: plain text, as they will read it.
    if (detail.message) panel.appendChild(el("div", { class: "kd-author-message", "data-author-message": "" },
      el("strong", { text: "Сообщение контрагенту: " }), el("span", { class: "kd-author-message-text", text: detail.message })));
    panel.appendChild(el("h3", { class: "kd-subtitle", text: "Файлы" }));
    panel.appendChild(fileList(doc, detail));
    var approval = window.KlikDok.approval;  // согласование and observers (approval.js), before the signers
    var approvalBox = approval ? approval.section(detail) : null;
    if (approvalBox) panel.appendChild(approvalBox);
    panel.appendChild(el("h3", { class: "kd-subtitle", text: "Маршрут" }));
    panel.appendChild(timeline(detail));
    if (detail.signatures.length) {
      panel.appendChild(el("h3", { class: "kd-subtitle", text: "Подписи" }));
      var sigs = el("ul", { class: "kd-list kd-signatures" });
      detail.signatures.forEach(function (s) {
        var who = s.signer.common_name || "—";
        if (s.signer.snils) who += ", СНИЛС " + s.signer.snils;
        var v = verdictOf(s);
        var file = s.file_name || "";
        sigs.appendChild(el("li", { "data-signature": s.id, "data-file-id": String(s.file_id) },
          el("span", { class: "kd-badge kd-verdict-" + v.tone, "data-verdict": v.tone, title: v.title + ": " + v.text,
                       text: v.short }), " ",
          // A package of several files has a signature per file and signer: each line says which file it signs.
          el("span", { class: "kd-sig-file" }, "файл ", el("strong", { text: "«" + file + "»" })),
          " · " + who + " · " + date(s.accepted_at) + " ",
          s.identity_warning ? el("span", { class: "kd-error", text: "⚠ " + s.identity_warning + " " }) : null,
          el("button", { class: "kd-link", type: "button", text: ".sig", "aria-label": "Скачать подпись файла «" + file +
                         "» (" + (s.signer.common_name || "подписант") + ")", onclick: function () {
            download("/documents/" + doc.id + "/signatures/" + s.id, (file || "signature") + ".sig");
          } }),
          // Anything short of a plain "valid" says what it is in full, not only in a tooltip.
          v.tone !== "valid" ? el("div", { class: "kd-verdict-note kd-verdict-" + v.tone, "data-headline": "",
                                            text: v.title + ": " + v.text }) : null,
          poaNote(s.poa)));
      });
      panel.appendChild(sigs);
    }
    var actions = el("div", { class: "kd-actions" });
    var actionError = el("p", { class: "kd-error kd-inline-error", role: "alert", "data-action-error": "" });
    // Each rendered button carries its own idempotency key (a new render after the change brings new keys), and
    // is disabled while its request runs; a refusal is said under the buttons.
    function act(label, fn, cls) {
      var key = u.newKey();
      var button = el("button", { class: "kd-btn " + (cls || ""), type: "button", "data-action": label, text: label });
      button.addEventListener("click", function () {
        actionError.textContent = "";
        u.busy(button, function () { return fn(key); }).then(refresh)
          .catch(function (e) { actionError.textContent = e.message; fit(); });
      });
      actions.appendChild(button);
    }
    if (approval) approval.buttons(detail, actions, actionError, refresh);
    var sendLabel = detail.approval && detail.approval.mode ? "Отправить на согласование" : "Отправить на подпись";
    if (detail.can.indexOf("send") >= 0) act(sendLabel, function (key) { return api("POST", "/documents/" + doc.id + "/send", null, { key: key }); }, "kd-btn-blue");
    if (detail.can.indexOf("remind") >= 0) act("Напомнить", function (key) { return api("POST", "/documents/" + doc.id + "/remind", null, { key: key }); });
    if (detail.can.indexOf("withdraw") >= 0) {
      var withdrawButton = el("button", { class: "kd-btn kd-btn-light", type: "button", "data-action": "Отозвать",
                                          "aria-haspopup": "dialog", text: "Отозвать" });
      withdrawButton.addEventListener("click", function () { openWithdraw(doc, withdrawButton, refresh); });
      actions.appendChild(withdrawButton);
    }
    if (detail.can.indexOf("new_version") >= 0) actions.appendChild(newVersionButton(container, doc, actionError));
    if (detail.can.indexOf("delete") >= 0) act("Удалить черновик", function (key) { return api("DELETE", "/documents/" + doc.id, null, { key: key }); }, "kd-btn-light");
    act("Скачать пакет (ZIP)", function () { return download("/documents/" + doc.id + "/package", "package.zip"); }, "kd-btn-light");
    act("Отчёт о проверке", function () { return openReport(doc.id); }, "kd-btn-light");
    if (detail.paper) {
      act("Протокол проверки (PDF)", function () { return download(detail.paper.protocol, "протокол.pdf"); }, "kd-btn-light");
    }
    panel.appendChild(actions);
    panel.appendChild(actionError);
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

  // Issue 17: «Версия 2 из 2» and the neighbouring versions, each opened in the same place.
  function versionLinks(container, v) {
    var nav = el("nav", { class: "kd-versions", "aria-label": "Версии документа", "data-versions": "" },
      el("span", { class: "kd-version-number", "data-version-number": String(v.number),
                   text: "Версия " + v.number + " из " + v.total }));
    function link(id, label, mark) {
      var attrs = { class: "kd-link", type: "button", text: label, onclick: function () {
        openDocument(container, id, container.kdOnChange);
      } };
      attrs[mark] = String(id);
      nav.appendChild(document.createTextNode(" · "));
      nav.appendChild(el("button", attrs));
    }
    if (v.previous_id) link(v.previous_id, "← предыдущая версия", "data-previous-version");
    if (v.next_id) link(v.next_id, "следующая версия →", "data-next-version");
    if (v.latest_id && v.next_id && v.latest_id !== v.next_id) link(v.latest_id, "последняя версия", "data-latest-version");
    return nav;
  }

  // «Новая версия»: the same card and route (approvers included), sent at once; the files picked in «Новые файлы…»
  // replace the old ones (what the author of a returned document corrects), else the old files are reused. The new
  // version opens in its place. A key per choice of files: the same press again is the same request.
  function newVersionButton(container, doc, actionError) {
    var key = u.newKey();
    var group = el("span", { class: "kd-version-action" });
    var input = el("input", { type: "file", multiple: "multiple", id: "kd-version-files-" + doc.id,
                              class: "kd-offscreen", "data-version-files": "" });
    var pick = el("label", { class: "kd-btn kd-btn-light", for: input.id, text: "Новые файлы…" });
    var chosen = el("span", { class: "kd-muted kd-small", "data-version-chosen": "", "aria-live": "polite" });
    input.addEventListener("change", function () {
      key = u.newKey();
      chosen.textContent = input.files.length ? "Выбрано новых файлов: " + input.files.length + ", они заменят прежние" : "";
    });
    var button = el("button", { class: "kd-btn kd-btn-blue", type: "button", "data-action": "Новая версия",
                                text: "Новая версия" });
    group.appendChild(input);
    group.appendChild(pick);
    group.appendChild(button);
    group.appendChild(chosen);
    button.addEventListener("click", function () {
      actionError.textContent = "";
      var body = null;
      if (input.files.length) {
        body = new FormData();
        Array.prototype.forEach.call(input.files, function (f) { body.append("files", f, f.name); });
      }
      u.busy(button, function () { return api("POST", "/documents/" + doc.id + "/versions", body, { key: key }); })
        .then(function (res) {
          if (!res) return;  // a second press while the first runs
          if (container.kdOnChange) container.kdOnChange();
          openDocument(container, res.id, container.kdOnChange);
        })
        .catch(function (e) { actionError.textContent = e.message; fit(); });
    });
    return group;
  }

  function openDocument(container, docId, onChange) {
    container.kdOnChange = onChange;
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
        onclick: function () { opts.open(doc.id); } }),
        doc.version > 1 ? el("span", { class: "kd-version-mark", "data-version": String(doc.version),
                                       title: "Версия " + doc.version, text: " v" + doc.version }) : null,
        doc.files > 1 ? " (" + doc.files + " файла)" : ""));
      row.appendChild(el("td", {}, badge(doc), (doc.warnings || []).length ? el("span", { class: "kd-error", text: " ⚠" }) : null));
      row.appendChild(el("td", { text: doc.current_signer_name || "—" }));
      row.appendChild(el("td", { text: doc.author_name }));
      row.appendChild(el("td", { text: date(doc.created_at) }));
      row.appendChild(el("td", {}, date(doc.deadline), doc.overdue ? el("span", { class: "kd-overdue-mark", text: " просрочен" }) : null));
      table.appendChild(row);
    });
    return table;
  }


  u.openDocument = openDocument; u.bindOffer = bindOffer; u.documentTable = documentTable;
  u.actionLabels = ACTION_LABELS;
})();
