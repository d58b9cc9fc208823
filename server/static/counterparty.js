/* The counterparty's part of a document, under the document panel: where the invitation stands (e-mail
   delivery, opened, answered), the rejection reason and identity warnings, every link sent so far, and the
   author's two actions — "Отправить повторно" (a new link, to the same or another address; the old link dies)
   and "Напомнить" (rate-limited per day). The link itself never reaches this page: the API does not return it.
   Needs kd_core.js and document_panel.js (KlikDok.util). */
(function () {
  "use strict";
  var K = window.KlikDok = window.KlikDok || {};
  var u = K.util;
  var el = u.el, clear = u.clear, api = u.api, fit = u.fit, date = u.date, stateInfo = u.stateInfo;
  var me = null;
  var MAIL_POLL_MS = 3000;

  function whoAmI() {
    if (!me) me = api("GET", "/me").catch(function () { me = null; return { user_id: 0 }; });
    return me;
  }

  function mailText(link) {
    switch (link.mail_status) {
      case "sent": return { cls: "kd-ok", text: "письмо доставлено на сервер получателя " + date(link.mail_sent_at) };
      case "retrying": return { cls: "kd-warn", text: "письмо пока не отправлено, повторяем попытки" +
                                                     (link.mail_error ? " (" + link.mail_error + ")" : "") };
      case "failed": return { cls: "kd-error", text: "письмо не доставлено" + (link.mail_error ? ": " + link.mail_error : "") };
      default: return { cls: "kd-muted", text: "письмо в очереди на отправку" };
    }
  }

  function openedText(link) {
    if (!link.first_opened_at) return "ссылку ещё не открывали";
    return "ссылку открывали " + link.opened_count + " " + (link.opened_count % 10 >= 2 && link.opened_count % 10 <= 4 &&
      (link.opened_count % 100 < 12 || link.opened_count % 100 > 14) ? "раза" : "раз") + ", впервые " + date(link.first_opened_at);
  }

  function endText(link) {
    if (link.answer === "signed") return { cls: "kd-ok", text: "подписано " + date(link.answered_at) };
    if (link.answer === "rejected") return { cls: "kd-error", text: "отклонено " + date(link.answered_at) };
    if (link.revoked_at) {
      var why = { resent: "заменена новой ссылкой", replaced: "заменена новой ссылкой", withdrawn: "документ отозван",
                  expired: "срок истёк" }[link.revoked_reason] || "ссылка закрыта";
      return { cls: "kd-muted", text: why + " " + date(link.revoked_at) };
    }
    if (link.expires_at && Date.parse(link.expires_at) < Date.now()) return { cls: "kd-muted", text: "срок ссылки истёк" };
    return { cls: "kd-muted", text: "действует до " + date(link.expires_at) };
  }

  function headline(status, detail) {
    var cur = status.current;
    var info = stateInfo(status.state);
    if (info.counterparty_headline) return { cls: "kd-tone-" + info.tone, text: info.counterparty_headline };
    if (!cur) return { cls: "kd-tone-bad", text: detail.counterparty_email || status.counterparty_email
      ? "Ссылка не отправлена" : "Нет адреса контрагента" };
    if (cur.mail_status === "failed") return { cls: "kd-tone-bad", text: "Письмо не доставлено" };
    if (cur.mail_status !== "sent") return { cls: "kd-tone-waiting", text: "Письмо отправляется" };
    if (cur.first_opened_at) return { cls: "kd-tone-counterparty", text: "Контрагент открыл документ" };
    return { cls: "kd-tone-counterparty", text: "Ждём подписи контрагента" };
  }

  function historyTable(links) {
    var table = el("table", { class: "kd-table kd-cp-history" }, el("tr", {}, el("th", { text: "Отправлена" }),
      el("th", { text: "Кому" }), el("th", { text: "Письмо" }), el("th", { text: "Просмотры" }), el("th", { text: "Итог" })));
    links.forEach(function (l) {
      var mail = mailText(l), end = endText(l);
      table.appendChild(el("tr", { "data-link-id": String(l.id), class: l.revoked_at ? "kd-dim" : "" },
        el("td", { text: date(l.created_at) }),
        el("td", { text: (l.recipient_name ? l.recipient_name + " " : "") + "<" + l.recipient_email + ">" }),
        el("td", { class: mail.cls, text: mail.text }),
        el("td", { text: l.first_opened_at ? String(l.opened_count) : "—" }),
        el("td", { class: end.cls, text: end.text })));
    });
    return table;
  }

  var known = {};  // document id -> the CRM's addresses (asked once per page: the CRM is slow-ish)
  function recipients(docId) {
    if (!known[docId]) {
      known[docId] = api("GET", "/documents/" + docId + "/counterparty/recipients");
      known[docId].catch(function () { delete known[docId]; });
    }
    return known[docId];
  }

  function actionsBlock(docId, status, detail, reload) {
    var wrap = el("div", { class: "kd-cp-actions" });
    var message = el("p", { class: "kd-cp-message", role: "status" });
    var cur = status.current || {};
    var email = el("input", { type: "email", name: "email", class: "kd-cp-email", autocomplete: "off",
                              placeholder: "e-mail контрагента" });
    email.value = cur.recipient_email || status.counterparty_email || "";
    var name = el("input", { type: "text", name: "name", class: "kd-cp-name", maxlength: "200",
                             placeholder: "Имя получателя (необязательно)" });
    name.value = cur.recipient_name || "";
    var pick = el("select", { class: "kd-cp-recipients", "aria-label": "Адреса из CRM" },
                  el("option", { value: "", text: "Адреса из CRM…" }));
    pick.disabled = true;
    pick.addEventListener("change", function () {
      var opt = pick.options[pick.selectedIndex];
      if (!opt.value) return;
      email.value = opt.value;
      name.value = opt.getAttribute("data-name") || "";
    });
    recipients(docId).then(function (list) {
      u.recipientOptions(pick, list);
      pick.disabled = !list.length;
      if (!list.length) pick.options[0].textContent = "В CRM нет адресов";
    }).catch(function (err) { pick.options[0].textContent = "Адреса из CRM недоступны"; pick.title = err.message; });

    function say(cls, text) { message.className = "kd-cp-message " + cls; message.textContent = text; fit(); }

    // A key per request made on purpose: a double click or a retry sends once; the next resend or reminder, asked
    // for after the answer, is a new one.
    var resendKey = u.newKey(), remindKey = u.newKey();
    var resend = el("button", { class: "kd-btn kd-btn-blue", type: "button", "data-action": "cp-resend", text: "Отправить повторно" });
    resend.addEventListener("click", function () {
      var address = email.value.trim();
      if (!address || !email.checkValidity()) { say("kd-error", "Укажите корректный адрес электронной почты."); email.focus(); return; }
      if (!window.confirm("Отправить новую ссылку на " + address + "? Прежняя ссылка сразу перестанет действовать.")) return;
      resend.disabled = true;
      api("POST", "/documents/" + docId + "/counterparty/resend", { email: address, name: name.value.trim() },
          { key: resendKey })
        .then(function (res) {
          resendKey = u.newKey();
          email.value = res.recipient_email; name.value = name.value.trim();
          reload().then(function (box) {
            var m = box && box.querySelector(".kd-cp-message");
            if (m) { m.className = "kd-cp-message kd-ok"; m.textContent = "Новая ссылка отправлена на " + res.recipient_email +
              ". Прежняя больше не действует."; fit(); }
          });
        })
        .catch(function (err) { resend.disabled = false; say("kd-error", err.message); });
    });

    var left = status.reminders_left_today;
    var remind = el("button", { class: "kd-btn", type: "button", "data-action": "cp-remind", text: "Напомнить" });
    var leftNote = el("span", { class: "kd-muted kd-small kd-cp-left",
      text: left > 0 ? "напоминаний на сегодня: " + left : "лимит напоминаний на сегодня исчерпан" });
    remind.disabled = !status.current;
    remind.addEventListener("click", function () {
      remind.disabled = true;
      api("POST", "/documents/" + docId + "/counterparty/remind", null, { key: remindKey }).then(function (res) {
        remindKey = u.newKey();
        leftNote.textContent = res.reminders_left_today > 0 ? "напоминаний на сегодня: " + res.reminders_left_today
                                                            : "лимит напоминаний на сегодня исчерпан";
        say("kd-ok", "Напоминание отправлено на " + (cur.recipient_email || "адрес контрагента") + ".");
        remind.disabled = false;
      }).catch(function (err) {
        // 429: today's limit is used up; the server's message says how many were sent.
        say(err.status === 429 ? "kd-warn" : "kd-error", err.message);
        if (err.status === 429) leftNote.textContent = "лимит напоминаний на сегодня исчерпан";
        remind.disabled = err.status === 429;
      });
    });

    wrap.appendChild(el("div", { class: "kd-cp-row" }, remind, leftNote));
    wrap.appendChild(el("div", { class: "kd-cp-resend" },
      el("div", { class: "kd-subtitle kd-small", text: "Отправить ссылку заново" }),
      el("div", { class: "kd-cp-fields" }, pick, email, name, resend),
      el("p", { class: "kd-muted kd-small", text: "Адрес можно изменить. Контрагент получит новое письмо со ссылкой, " +
                                                 "а прежняя ссылка перестанет открываться." })));
    wrap.appendChild(message);
    return wrap;
  }

  function build(box, status, detail, isAuthor, reload) {
    var doc = detail.document;
    clear(box);
    var head = headline(status, detail);
    box.appendChild(el("div", { class: "kd-head" }, el("h3", { class: "kd-subtitle", text: "Контрагент" }),
      el("span", { class: "kd-badge " + head.cls, id: "kd-cp-state-" + doc.id, text: head.text })));
    var company = detail.counterparty_name || "—";
    var req = [detail.counterparty_inn ? "ИНН " + detail.counterparty_inn : "",
               detail.counterparty_ogrn ? "ОГРН " + detail.counterparty_ogrn : ""].filter(Boolean).join(", ");
    box.appendChild(el("p", {}, el("strong", { text: company }), req ? " (" + req + ")" : ""));
    var awaiting = stateInfo(status.state).actor === "counterparty";
    if (stateInfo(status.state).rejection) {
      box.appendChild(el("div", { class: "kd-rejection", id: "kd-cp-reason-" + doc.id },
        el("strong", { text: "Причина отказа: " }), detail.reason || "не указана"));
    }
    detail.signatures.filter(function (s) { return s.signer_kind === "counterparty" && s.identity_warning; })
      .forEach(function (s) {
        box.appendChild(el("div", { class: "kd-warning kd-cp-warning" },
          "⚠ Подпись контрагента принята с предупреждением: " + s.identity_warning +
          " Проверьте полномочия подписанта (" + (s.signer.common_name || "—") + ")."));
      });
    var cur = status.current;
    if (cur) {
      var mail = mailText(cur);
      box.appendChild(el("dl", { class: "kd-facts" },
        el("dt", { text: "Получатель" }), el("dd", { class: "kd-cp-recipient",
          text: (cur.recipient_name ? cur.recipient_name + " " : "") + "<" + cur.recipient_email + ">" }),
        el("dt", { text: "Письмо" }), el("dd", { class: mail.cls + " kd-cp-mail", text: mail.text }),
        cur.answer ? el("dt", { text: "Ответ" }) : el("dt", { text: "Ссылка" }),
        cur.answer ? el("dd", { class: endText(cur).cls + " kd-cp-answer", text: endText(cur).text })
                   : el("dd", { class: "kd-cp-link", text: (awaiting
                       ? "действует до " + date(cur.expires_at) : "больше не нужна") + " · " + openedText(cur) })));
    } else if (awaiting) {
      box.appendChild(el("p", { class: "kd-warning", text: "Действующей ссылки у контрагента нет" +
        (status.counterparty_email ? "." : ": в CRM не нашлось адреса.") + " Укажите адрес и отправьте ссылку." }));
    }
    if (isAuthor && awaiting) box.appendChild(actionsBlock(doc.id, status, detail, reload));
    if (status.history.length) {
      box.appendChild(el("h4", { class: "kd-subtitle kd-small", text: "Отправленные ссылки" }));
      box.appendChild(historyTable(status.history));
    }
    fit();
  }

  function render(container, detail) {
    var doc = detail.document;
    var hasStep = detail.route.some(function (s) { return s.kind === "counterparty"; });
    if (!hasStep || !stateInfo(doc.state).counterparty_panel) return;
    var box = el("div", { class: "kd-panel kd-cp", id: "kd-cp-" + doc.id, "data-document-id": String(doc.id) },
                 el("p", { class: "kd-muted", text: "Загружаем сведения о контрагенте…" }));
    container.appendChild(box);
    var last = "";
    var timer = null;
    function load() {
      if (timer) { clearTimeout(timer); timer = null; }
      return Promise.all([api("GET", "/documents/" + doc.id + "/counterparty/"), whoAmI()]).then(function (got) {
        var status = got[0];
        if (stateInfo(status.state).counterparty_panel === "with_links" && !status.history.length) {
          box.remove(); fit(); return null;
        }
        var seen = JSON.stringify(status);
        if (seen !== last) {
          // Re-rendered on change only, keeping what the author is typing into the resend form.
          var typed = {};
          box.querySelectorAll(".kd-cp-email, .kd-cp-name").forEach(function (i) { typed[i.className] = i.value; });
          var said = box.querySelector(".kd-cp-message");
          said = said && said.textContent ? { cls: said.className, text: said.textContent } : null;
          build(box, status, detail, got[1].user_id === doc.author_id, load);
          box.querySelectorAll(".kd-cp-email, .kd-cp-name").forEach(function (i) {
            if (typed[i.className] !== undefined) i.value = typed[i.className];
          });
          var again = box.querySelector(".kd-cp-message");
          if (said && again) { again.className = said.cls; again.textContent = said.text; }
          last = seen;
        }
        box.setAttribute("data-loaded", "yes");
        // While the e-mail is on its way, look again: the outbox sends within seconds.
        var cur = status.current;
        if (cur && (cur.mail_status === "pending" || cur.mail_status === "retrying")) {
          timer = setTimeout(function () { if (box.isConnected) load(); }, MAIL_POLL_MS);
        }
        return box;
      }).catch(function (err) { u.showError(box, err); return null; });
    }
    load();
  }

  K.counterparty = { render: render };
})();
