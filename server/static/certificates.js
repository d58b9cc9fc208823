/* «Мои сертификаты» and «Администрирование» on the app page (issue 14).
 *
 * Contract for the binding channels: bind_agent.js and bind_cryptoarm.js (loaded before this file) push
 *   KlikDok.bindChannels.push({ key: "agent", title: "Через агент подписи", render: function (box, onBound) {...} })
 * render() fills its box; when the server answers a registration (POST result: serial, subject, issuer, status,
 * message) the channel calls onBound(result): the list reloads and the message is shown.
 * bind_sig.js pushes the .sig upload channel the same way.
 */
(function () {
  "use strict";
  var K = window.KlikDok = window.KlikDok || {};
  K.views = K.views || {};
  K.bindChannels = K.bindChannels || [];
  var u = function () { return K.util; };

  var TONES = { active: "ok", pending: "waiting", refused: "bad", revoked: "bad", expired: "muted" };

  function statusBadge(r) {
    return u().el("span", { class: "kd-badge kd-cert-status kd-tone-" + (TONES[r.status] || "neutral"),
                            "data-status": r.status, text: r.status_label });
  }
  function day(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleDateString("ru-RU", { day: "2-digit", month: "2-digit", year: "numeric" });
  }
  function period(r) { return day(r.not_before) + " — " + day(r.not_after); }
  function note(r) {
    if (r.status === "pending" && r.why_pending) return r.why_pending;
    if (r.reason) return "Причина: " + r.reason;
    return "";
  }
  function table(head, rows) {
    var el = u().el;
    var headRow = append(el("tr"), head.map(function (h) { return el("th", { text: h }); }));
    return el("table", { class: "kd-table kd-cert-table" }, el("thead", null, headRow), append(el("tbody"), rows));
  }
  // A table row followed, when there is something to say, by a full-width line with the reason.
  function withNote(tr, r, span) {
    var text = note(r);
    if (!text) return [tr];
    return [tr, u().el("tr", { class: "kd-cert-note", "data-for": String(r.id) },
                       u().el("td", { colspan: String(span), text: text }))];
  }
  function flat(lists) { return Array.prototype.concat.apply([], lists); }
  function append(parent, nodes) { nodes.forEach(function (n) { parent.appendChild(n); }); return parent; }

  // ---- «Мои сертификаты» ------------------------------------------------------------------------------------

  var HEAD = ["Владелец", "Организация", "ИНН", "СНИЛС", "Действует с / по", "Издатель", "Статус"];

  function myRow(r) {
    var el = u().el;
    var tr = el("tr", { class: "kd-cert", "data-id": String(r.id), "data-status": r.status },
      el("td", { text: r.owner || "—" }), el("td", { text: r.organisation || "—" }), el("td", { text: r.inn || "—" }),
      el("td", { text: r.snils || "—" }), el("td", { text: period(r) }), el("td", { text: r.issuer || "—" }),
      el("td", null, statusBadge(r)));
    tr.title = "Серийный номер " + r.serial + (r.proof_label ? "; ключ подтверждён: " + r.proof_label : "");
    return withNote(tr, r, HEAD.length);
  }

  function emptyState() {
    var el = u().el;
    var ways = K.bindChannels.map(function (c) { return el("li", { text: c.title }); });
    return el("div", { class: "kd-cert-empty" },
      el("p", { text: "За вами пока не привязан ни один сертификат. Без него подписи от вашего имени не принимаются." }),
      el("p", { text: ways.length ? "Привяжите свой сертификат одним из способов ниже:" :
                                    "Способы привязки на этой странице недоступны: обратитесь к администратору." }),
      ways.length ? append(el("ul"), ways) : null);
  }

  function loadCertificates() {
    var holder = document.getElementById("kd-certificates");
    drawChannels();
    return u().api("GET", "/me/certificates").then(function (rows) {
      u().clear(holder);
      if (!rows.length) holder.appendChild(emptyState());
      else holder.appendChild(table(HEAD, flat(rows.map(myRow))));
      if (K.poa) K.poa.mine(rows);   // the МЧД of these certificates (poa.js, issue 18)
      u().fit();
    }).catch(function (err) { u().showError(holder, err); });
  }

  var drawn = false;
  function drawChannels() {
    var holder = document.getElementById("kd-bind");
    if (drawn || !holder) return;
    drawn = true;
    var el = u().el;
    var result = el("div", { id: "kd-bind-result", role: "status", "aria-live": "polite" });
    holder.appendChild(result);
    function onBound(answer) {
      answer = answer || {};
      u().clear(result).appendChild(el("p", {
        class: "kd-bind-message kd-tone-" + (TONES[answer.status] || "neutral"), "data-status": answer.status || "",
        text: answer.message || "Сертификат привязан." }));
      loadCertificates();
    }
    K.bindChannels.forEach(function (channel) {
      var box = el("div", { class: "kd-bind-body" });
      holder.appendChild(el("div", { class: "kd-bind-channel", "data-channel": channel.key },
        el("h3", { class: "kd-subtitle", text: channel.title }), box));
      try {
        channel.render(box, onBound);
      } catch (err) {
        u().showError(box, err);
      }
    });
    if (!K.bindChannels.length) holder.appendChild(el("p", { class: "kd-muted", text: "Способов привязки нет." }));
  }

  // ---- «Администрирование» ----------------------------------------------------------------------------------

  var ADMIN_HEAD = ["Сотрудник", "Владелец в сертификате", "Организация, ИНН", "СНИЛС", "Действует с / по",
                    "Издатель", "Статус", ""];

  // One request per click: the button is disabled while it runs, and the key (one per rendered button or opened
  // reason form) makes the server do it once even if the request is sent again; the list reloads after.
  function send(button, path, body, errorBox, key) {
    return u().busy(button, function () {
      return u().api("POST", path, body, { key: key }).then(function () { return loadAdmin(); });
    }).catch(function (err) { u().showError(errorBox, err); });
  }

  // Refuse (reason required) and revoke (reason optional) ask inline: a small form under the buttons.
  function reasonForm(cell, opts) {
    var el = u().el;
    var old = cell.querySelector(".kd-reason-form");
    if (old) { old.remove(); return; }
    var input = el("textarea", { class: "kd-reason", rows: "2", maxlength: "500", "aria-label": opts.label,
                                 placeholder: opts.placeholder });
    var errors = el("div", { class: "kd-reason-error" });
    var ok = el("button", { type: "button", class: "kd-btn kd-btn-red kd-btn-small kd-confirm", text: opts.confirm });
    var cancel = el("button", { type: "button", class: "kd-link", text: "Отмена",
                                onclick: function () { form.remove(); u().fit(); } });
    var form = el("div", { class: "kd-reason-form" }, el("label", { text: opts.label }), input,
                  el("div", { class: "kd-actions" }, ok, cancel), errors);
    var key = u().newKey();   // one per opening of the form
    ok.addEventListener("click", function () {
      var reason = input.value.trim();
      if (opts.required && !reason) {
        u().clear(errors).appendChild(el("p", { class: "kd-error", role: "alert", text: "Укажите причину." }));
        input.focus();
        return;
      }
      send(ok, opts.path, { reason: reason }, errors, key);
    });
    cell.appendChild(form);
    input.focus();
    u().fit();
  }

  function adminRow(r) {
    var el = u().el;
    var actions = el("td", { class: "kd-cert-actions" });
    var errors = el("div", { class: "kd-cert-error" });
    var base = "/admin/certificates/" + r.id;
    if (r.status === "pending" || r.status === "refused") {
      var approve = el("button", { type: "button", class: "kd-btn kd-btn-blue kd-btn-small kd-approve", text: "Одобрить" });
      var approveKey = u().newKey();
      approve.addEventListener("click", function () { send(approve, base + "/approve", {}, errors, approveKey); });
      actions.appendChild(approve);
    }
    if (r.status === "pending") {
      actions.appendChild(el("button", { type: "button", class: "kd-btn kd-btn-light kd-btn-small kd-refuse", text: "Отклонить",
        onclick: function () {
          reasonForm(actions, { path: base + "/refuse", required: true, label: "Причина отказа (её увидит сотрудник)",
                                placeholder: "Например: сертификат другой организации", confirm: "Отклонить" });
        } }));
    }
    if (r.status === "active") {
      actions.appendChild(el("button", { type: "button", class: "kd-btn kd-btn-red kd-btn-small kd-revoke", text: "Отозвать",
        onclick: function () {
          reasonForm(actions, { path: base + "/revoke", required: false, label: "Причина отзыва (необязательно)",
                                placeholder: "Например: сотрудник уволился", confirm: "Отозвать" });
        } }));
    }
    actions.appendChild(errors);
    var tr = el("tr", { class: "kd-cert", "data-id": String(r.id), "data-status": r.status },
      el("td", { text: r.user_name || ("Пользователь " + r.user_id) }), el("td", { text: r.owner || "—" }),
      el("td", { text: [r.organisation, r.inn ? "ИНН " + r.inn : ""].filter(Boolean).join(", ") || "—" }),
      el("td", { text: r.snils || "—" }), el("td", { text: period(r) }), el("td", { text: r.issuer || "—" }),
      el("td", null, statusBadge(r)), actions);
    return withNote(tr, r, ADMIN_HEAD.length);
  }

  function loadAdmin() {
    var holder = document.getElementById("kd-admin-certificates");
    if (!holder) return Promise.resolve();
    var only = document.getElementById("kd-admin-pending-only");
    var filter = only && only.checked ? "pending" : "all";
    return u().api("GET", "/admin/certificates?status=" + filter).then(function (rows) {
      var el = u().el;
      u().clear(holder);
      var toggle = el("input", { type: "checkbox", id: "kd-admin-pending-only", onchange: loadAdmin });
      toggle.checked = filter === "pending";
      var waiting = rows.filter(function (r) { return r.status === "pending"; }).length;
      holder.appendChild(el("div", { class: "kd-filters" },
        el("label", null, toggle, " Только ждущие одобрения"),
        el("span", { class: "kd-muted", text: waiting ? " Ждут одобрения: " + waiting : " Ждущих одобрения нет." })));
      if (!rows.length) {
        holder.appendChild(el("p", { class: "kd-muted", text: "Сертификатов нет." }));
      } else {
        holder.appendChild(table(ADMIN_HEAD, flat(rows.map(adminRow))));
      }
      if (K.poa) K.poa.admin(rows);   // everyone's МЧД, uploads for anyone (poa.js, issue 18)
      u().fit();
    }).catch(function (err) { u().showError(holder, err); });
  }

  K.views.certificates = loadCertificates;
  K.views.admin = loadAdmin;
  K.certificates = { reload: loadCertificates, reloadAdmin: loadAdmin };
})();
