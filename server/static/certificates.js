/* «Мои сертификаты» and «Администрирование» on the app page (issue 14).
 *
 * Contract for the binding channels: bind_agent.js and bind_cryptoarm.js (loaded before this file) push
 *   KlikDok.bindChannels.push({ key: "agent", title: "Через агент подписи", render: function (box, onBound) {...} })
 * render() fills its box; when the server answers a registration (POST result: serial, subject, issuer, status,
 * message) the channel calls onBound(result): the list reloads and the message is shown.
 * The .sig upload channel lives here.
 */
(function () {
  "use strict";
  var K = window.KlikDok = window.KlikDok || {};
  K.views = K.views || {};
  K.bindChannels = K.bindChannels || [];
  var u = function () { return K.util; };

  function loadCertificates() {
    var holder = document.getElementById("kd-certificates");
    return u().api("GET", "/me/certificates").then(function (rows) {
      u().clear(holder);
      if (!rows.length) holder.appendChild(u().el("p", { class: "kd-muted", text: "Сертификатов пока нет." }));
      rows.forEach(function (r) { holder.appendChild(u().el("p", { text: r.subject })); });
    }).catch(function (err) { u().showError(holder, err); });
  }
  // TEMP (helper D, issue 14): a minimal drawing of the binding channels until certificates.js draws them itself.
  var drawn = false;
  function drawChannels() {
    var holder = document.getElementById("kd-bind");
    if (drawn || !holder) return;
    drawn = true;
    K.bindChannels.forEach(function (ch) {
      var box = u().el("div", { class: "kd-bind-channel", "data-channel": ch.key });
      holder.appendChild(u().el("div", { class: "kd-panel" }, u().el("h3", { class: "kd-subtitle", text: ch.title }), box));
      ch.render(box, function () { loadCertificates(); });
    });
  }
  K.views.certificates = function () { drawChannels(); return loadCertificates(); };
})();
