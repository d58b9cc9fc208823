/* A binding channel for «Мои сертификаты»: see the contract at the top of certificates.js.
 *
 * Through the signing agent: the agent lists the certificates it can sign with (GET /me/agent/certificates);
 * the signer picks one and the server has the agent sign a one-time code with it (POST /me/agent/bind), which
 * binds the certificate to this signer only if the signature is made by its key.
 */
(function () {
  "use strict";
  var K = window.KlikDok = window.KlikDok || {};
  K.bindChannels = K.bindChannels || [];
  var u = function () { return K.util; };

  function day(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return isNaN(d) ? iso.slice(0, 10) : d.toLocaleDateString("ru-RU", { day: "2-digit", month: "2-digit", year: "numeric" });
  }

  function snils(value) {
    var digits = (value || "").replace(/\D/g, "");
    if (digits.length !== 11) return value;
    return digits.slice(0, 3) + "-" + digits.slice(3, 6) + "-" + digits.slice(6, 9) + " " + digits.slice(9);
  }

  // One certificate as the signer recognises it: owner first, then the numbers that tell two apart.
  function describe(c) {
    var el = u().el;
    var head = c.owner + (c.title ? ", " + c.title : "") + (c.organization ? " — " + c.organization : "");
    var ids = [];
    if (c.inn) ids.push("ИНН " + c.inn);
    if (c.innle) ids.push("ИНН организации " + c.innle);
    if (c.ogrn) ids.push("ОГРН " + c.ogrn);
    if (c.snils) ids.push("СНИЛС " + snils(c.snils));
    var validity = c.not_before ? "Действует с " + day(c.not_before) + " по " + day(c.not_after)
                                : (c.not_after ? "Действует по " + day(c.not_after) : "Срок действия не известен");
    return el("span", { class: "kd-bind-agent-text" },
      el("strong", { class: "kd-bind-agent-owner", text: head }),
      ids.length ? el("span", { class: "kd-small kd-bind-agent-ids", text: " · " + ids.join(" · ") }) : null,
      el("br"),
      el("span", { class: "kd-small kd-muted", text: validity + "; издатель: " + (c.issuer || "не указан") }),
      el("br"),
      el("span", { class: "kd-small kd-muted", text: "Отпечаток: " + c.thumbprint }),
      c.signing ? el("span", { class: "kd-small kd-bind-agent-signing", text: " — этим сертификатом агент подписывает" })
                : el("span", { class: "kd-small kd-muted", text: " — агент настроен на другой сертификат" }));
  }

  function offline(box) {
    var el = u().el;
    u().clear(box).appendChild(el("p", { class: "kd-error", role: "alert", id: "kd-bind-agent-offline" },
      "Агент подписи не подключён. Запустите агент на своём компьютере или подключите его: вкладка ",
      el("a", { href: "#queue", text: "«На подпись»" }),
      ", панель «Агент подписи», кнопка «Подключить агент подписи». Затем вернитесь сюда."));
    u().fit();
  }

  function render(box, onBound) {
    var el = u().el;
    var listBox = el("div", { id: "kd-bind-agent-certs" });
    var status = el("div", { id: "kd-bind-agent-status", role: "status" });
    var show = el("button", { class: "kd-btn kd-btn-light", type: "button", id: "kd-bind-agent-list",
                              text: "Показать сертификаты агента" });
    var running = false;

    function chosen() {
      var r = listBox.querySelector("input[name=kd-bind-agent-cert]:checked");
      return r ? r.value : "";
    }

    // ``key``: one per shown list (its «Привязать выбранный» button), so a repeated request binds once.
    function bind(button, key) {
      var thumbprint = chosen();
      if (running) return;
      if (!thumbprint) { u().showError(status, new Error("Выберите сертификат из списка.")); return; }
      running = true; show.disabled = true;
      u().clear(status).appendChild(el("p", { class: "kd-muted", text:
        "Агент подписывает одноразовый код выбранным сертификатом. Если программа подписи спросит PIN-код, введите его." }));
      u().busy(button, function () {
        return u().api("POST", "/me/agent/bind", { thumbprint: thumbprint }, { key: key });
      }).then(function (result) {
        u().clear(status).appendChild(el("p", { class: "kd-ok", id: "kd-bind-agent-done", text: result.message }));
        u().clear(listBox);
        onBound(result);
      }).catch(function (err) {
        if (err.status === 409 && err.code === "agent_offline") offline(status); else u().showError(status, err);
      }).then(function () { running = false; show.disabled = false; u().fit(); });
    }

    function list() {
      if (running) return;
      running = true; show.disabled = true;
      u().clear(status);
      u().clear(listBox).appendChild(el("p", { class: "kd-muted", text: "Запрашиваем сертификаты у агента…" }));
      u().api("GET", "/me/agent/certificates").then(function (certs) {
        u().clear(listBox);
        if (!certs.length) {
          listBox.appendChild(el("p", { class: "kd-muted", id: "kd-bind-agent-none",
            text: "Агент не нашёл сертификатов, которыми может подписывать. Выберите сертификат командой «klikdok-agent setup» на своём компьютере." }));
          return;
        }
        var go = el("button", { class: "kd-btn", type: "button", id: "kd-bind-agent-go", text: "Привязать выбранный" });
        var signing = certs.filter(function (c) { return c.signing; });
        var list = el("ul", { class: "kd-bind-agent-list" });
        certs.forEach(function (c, i) {
          var radio = el("input", { type: "radio", name: "kd-bind-agent-cert", value: c.thumbprint,
                                    id: "kd-bind-agent-cert-" + i, "data-thumbprint": c.thumbprint });
          if (c.signing && signing.length === 1) radio.checked = true;
          list.appendChild(el("li", {}, el("label", { for: "kd-bind-agent-cert-" + i }, radio, " ", describe(c))));
        });
        listBox.appendChild(list);
        listBox.appendChild(el("p", { class: "kd-small kd-muted", text:
          "Привязать можно сертификат, которым агент подписывает; другой сначала выберите командой «klikdok-agent setup» и перезапустите агент." }));
        var key = u().newKey();
        go.addEventListener("click", function () { bind(go, key); });
        listBox.appendChild(go);
      }).catch(function (err) {
        u().clear(listBox);
        if (err.status === 409 && err.code === "agent_offline") offline(status); else u().showError(status, err);
      }).then(function () { running = false; show.disabled = false; u().fit(); });
    }

    show.addEventListener("click", list);
    u().clear(box);
    box.appendChild(el("p", { class: "kd-muted kd-small", text:
      "Агент подписи покажет сертификаты, которыми может подписывать на этом компьютере, и подпишет одноразовый код выбранным: так сервер убедится, что ключ у вас." }));
    box.appendChild(show);
    box.appendChild(listBox);
    box.appendChild(status);
  }

  K.bindChannels.push({ key: "agent", title: "Через агент подписи", render: render });
})();
