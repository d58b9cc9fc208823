/* Машиночитаемые доверенности (МЧД) on «Мои сертификаты» and «Администрирование» (issue 18).
 *
 * certificates.js calls KlikDok.poa.mine(certificates) after drawing the user's certificates and
 * KlikDok.poa.admin(certificates) after the admin's list: each draws its section (#kd-poa, #kd-admin-poa) with the
 * МЧД bound to those certificates (number, principal, validity, the check as of the upload) and a form to upload
 * one (the МЧД's XML and its .sig) for a chosen certificate; the employee for themselves, the admin for anyone.
 * Every POST carries an Idempotency-Key: one per drawn form or button, so a repeated request uploads or removes once.
 */
(function () {
  "use strict";
  var K = window.KlikDok = window.KlikDok || {};
  var u = function () { return K.util; };

  var TONES = { valid: "valid", invalid: "invalid", indeterminate: "indeterminate" };
  var USABLE = { active: true, pending: true };

  function day(iso) {
    var p = (iso || "").split("-");
    return p.length === 3 ? p[2] + "." + p[1] + "." + p[0] : (iso || "—");
  }
  function certLabel(c, admin) {
    var who = admin ? (c.user_name || ("Пользователь " + c.user_id)) + ": " : "";
    return who + (c.owner || "—") + (c.organisation ? ", " + c.organisation : "") + " (№ " + c.serial + ")";
  }

  function row(p, certs, admin, reload) {
    var el = u().el;
    var cert = certs[p.certificate_id];
    var tone = TONES[p.status] || "indeterminate";
    var errors = el("div", { class: "kd-cert-error" });
    var removeKey = u().newKey();
    var remove = el("button", { type: "button", class: "kd-btn kd-btn-light kd-btn-small kd-poa-remove", text: "Удалить" });
    remove.addEventListener("click", function () {
      u().busy(remove, function () {
        return u().api("POST", "/poa/" + p.id + "/remove", {}, { key: removeKey }).then(reload);
      }).catch(function (err) { u().showError(errors, err); });
    });
    return el("tr", { class: "kd-poa-row", "data-poa-id": String(p.id), "data-status": p.status },
      el("td", { text: cert ? certLabel(cert, admin) : "—" }),
      el("td", { class: "kd-poa-number", text: p.number || "—" }),
      el("td", { text: (p.principal_name || "—") + (p.principal_inn ? ", ИНН " + p.principal_inn : "") }),
      el("td", { text: day(p.valid_from) + " — " + day(p.valid_until) }),
      el("td", null, el("span", { class: "kd-badge kd-verdict-" + tone, text: p.status_text || "не проверена" }),
         el("div", { class: "kd-small kd-poa-summary", text: p.summary || "" })),
      el("td", null, remove, errors));
  }

  function uploadForm(holder, list, admin, reload) {
    var el = u().el;
    var usable = list.filter(function (c) { return USABLE[c.status]; });
    if (!usable.length) {
      holder.appendChild(el("p", { class: "kd-muted", text: admin ? "Нет действующих сертификатов сотрудников." :
        "Сначала привяжите свой сертификат (ниже): МЧД загружается к сертификату, которым вы подписываете." }));
      return;
    }
    var select = el("select", { class: "kd-poa-cert", "aria-label": "Сертификат, к которому относится МЧД" });
    usable.forEach(function (c) { select.appendChild(el("option", { value: String(c.id), text: certLabel(c, admin) })); });
    var xml = el("input", { type: "file", class: "kd-poa-xml", accept: ".xml,text/xml,application/xml" });
    var sig = el("input", { type: "file", class: "kd-poa-sig", accept: ".sig,.p7s,.sgn,.p7m,.pem,.txt" });
    var send = el("button", { type: "button", class: "kd-btn kd-btn-blue kd-btn-small kd-poa-upload", text: "Загрузить МЧД" });
    var result = el("div", { class: "kd-poa-result", role: "status", "aria-live": "polite" });
    var key = u().newKey();   // one per drawn form
    send.addEventListener("click", function () {
      u().clear(result);
      if (!xml.files.length || !sig.files.length) {
        result.appendChild(el("p", { class: "kd-error", role: "alert",
          text: "Выберите оба файла: МЧД (XML) и файл её подписи (.sig)." }));
        return;
      }
      var form = new FormData();
      form.append("xml", xml.files[0]);
      form.append("sig", sig.files[0]);
      u().busy(send, function () {
        return u().api("POST", "/certificates/" + select.value + "/poa", form, { key: key }).then(function () {
          return reload();
        });
      }).catch(function (err) { u().showError(result, err); });
    });
    holder.appendChild(el("div", { class: "kd-poa-form" },
      el("label", null, "Сертификат ", select),
      el("label", null, "Файл МЧД (XML) ", xml),
      el("label", null, "Подпись МЧД (.sig) ", sig),
      el("div", { class: "kd-actions" }, send), result));
  }

  function draw(holderId, path, certificates, admin) {
    var holder = document.getElementById(holderId);
    if (!holder) return Promise.resolve();
    function reload() { return draw(holderId, path, certificates, admin); }
    var certs = {};
    certificates.forEach(function (c) { certs[c.id] = c; });
    return u().api("GET", path).then(function (list) {
      var el = u().el;
      u().clear(holder);
      holder.appendChild(el("p", { class: "kd-muted kd-small", text: "Сотрудник, который подписывает своим " +
        "сертификатом (не руководитель организации), подписывает по машиночитаемой доверенности (МЧД). Загрузите " +
        "МЧД, выданную организацией, — XML и файл её подписи (.sig): она применяется ко всем подписям этим " +
        "сертификатом, пока действует. Руководителю МЧД не нужна." }));
      if (list.length) {
        var head = el("tr");
        ["Сертификат", "Номер МЧД", "Доверитель", "Действует", "Проверка", ""].forEach(function (h) {
          head.appendChild(el("th", { text: h }));
        });
        var body = el("tbody");
        list.forEach(function (p) { body.appendChild(row(p, certs, admin, reload)); });
        holder.appendChild(el("table", { class: "kd-table kd-poa-table" }, el("thead", null, head), body));
      } else {
        holder.appendChild(el("p", { class: "kd-muted kd-poa-empty", text: "МЧД не загружены." }));
      }
      uploadForm(holder, certificates, admin, reload);
      u().fit();
    }).catch(function (err) { u().showError(holder, err); });
  }

  K.poa = {
    mine: function (certificates) { return draw("kd-poa", "/me/poa", certificates, false); },
    admin: function (certificates) { return draw("kd-admin-poa", "/admin/poa", certificates, true); }
  };
})();
