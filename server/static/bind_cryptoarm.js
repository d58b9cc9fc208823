/* A binding channel for «Мои сертификаты»: see the contract at the top of certificates.js.
 *
 * «В КриптоАРМ ГОСТ»: the server issues a one-time code and a cryptoarm:// link whose one file is that code
 * (POST /me/certificates/cryptoarm); the page hands the link to the OS (a hidden frame, as signing.js does for
 * documents), then polls GET /me/certificates/cryptoarm/<id> until the app's signature is checked: bound
 * (onBound with the registration's answer), refused, timed_out or cancelled. «Отменить» withdraws the link
 * (DELETE), so a late signature from the app binds nothing.
 */
(function () {
  "use strict";
  var K = window.KlikDok = window.KlikDok || {};
  K.bindChannels = K.bindChannels || [];
  var POLL_MS = 1500;
  var WAITING = "Ждём подпись из КриптоАРМ ГОСТ…";

  function render(box, onBound) {
    var u = K.util, el = u.el;
    var run = null; // { id, url, cancelKey } while waiting for the app
    var generation = 0;
    var startKey = u.newKey(); // one per run: a repeated request opens one link; a new one after each run ends

    var start = el("button", { class: "kd-btn kd-btn-blue", type: "button", id: "kd-bind-cryptoarm-start",
                               text: "Подписать код в КриптоАРМ ГОСТ" });
    var cancel = el("button", { class: "kd-btn kd-btn-light", type: "button", id: "kd-bind-cryptoarm-cancel",
                                text: "Отменить" });
    var status = el("div", { id: "kd-bind-cryptoarm-status", role: "status", "aria-live": "polite" });
    box.appendChild(el("p", { class: "kd-small" },
      "КриптоАРМ ГОСТ откроется и предложит подписать файл «Код подтверждения KlikDok.txt». Выберите в нём " +
      "сертификат, который привязываете, и нажмите «Подпись». Привязать можно только сертификат, ключ " +
      "которого есть у вас."));
    box.appendChild(el("div", { class: "kd-actions" }, start, cancel));
    box.appendChild(status);

    // The buttons' own CSS sets display, which would win over the hidden attribute alone.
    function shown(node, on) { node.hidden = !on; node.style.display = on ? "" : "none"; }
    shown(cancel, false);

    function say(cls, text, extra) {
      u.clear(status);
      status.appendChild(el("p", { class: cls, text: text }));
      if (extra) status.appendChild(extra);
      status.setAttribute("data-state", cls);
      u.fit();
    }

    function idle(label) {
      run = null;
      startKey = u.newKey();
      start.disabled = false;
      start.removeAttribute("aria-busy");
      start.textContent = label;
      shown(cancel, false);
    }

    function launch(url) {
      var old = document.getElementById("kd-bind-cryptoarm-launcher");
      if (old) old.remove();
      var frame = el("iframe", { id: "kd-bind-cryptoarm-launcher", class: "kd-offscreen", title: "КриптоАРМ ГОСТ",
                                 "aria-hidden": "true" });
      frame.src = url;
      document.body.appendChild(frame);
    }

    function waiting(step) {
      var hint = step === "in_app"
        ? "Код открыт в КриптоАРМ ГОСТ: выберите сертификат и нажмите «Подпись»."
        : step === "checking" ? "Подпись получена, проверяем её…" : "";
      var more = el("p", { class: "kd-small" },
        hint ? hint + " " : "КриптоАРМ ГОСТ должен открыться сам. Если этого не произошло, ",
        hint ? null : el("a", { href: run.url, id: "kd-bind-cryptoarm-link", class: "kd-link-inline",
                                text: "откройте КриптоАРМ ГОСТ по ссылке" }),
        hint ? null : ".");
      status.setAttribute("data-step", step || "");
      say("kd-muted", WAITING, more);
    }

    function finish(result) {
      if (result.state === "done") {
        say("kd-ok", result.message || "Сертификат привязан.");
        status.setAttribute("data-state", "done");
        idle("Привязать ещё один сертификат");
        if (onBound) onBound(result);
        return;
      }
      say(result.state === "timed_out" ? "kd-warn" : "kd-error",
          result.message || "КриптоАРМ ГОСТ не вернул подпись.");
      status.setAttribute("data-state", result.state);
      status.setAttribute("data-code", result.code || "");
      idle("Попробовать ещё раз");
    }

    function poll(mine) {
      if (!run || mine !== generation) return;
      u.api("GET", "/me/certificates/cryptoarm/" + run.id).then(function (result) {
        if (!run || mine !== generation) return;
        if (result.state === "pending") {
          waiting(result.step);
          setTimeout(function () { poll(mine); }, POLL_MS);
        } else {
          finish(result);
        }
      }).catch(function (err) {
        if (!run || mine !== generation) return;
        // A lost answer is not the end: the app may still sign. Keep asking, and say why nothing moves.
        say("kd-warn", WAITING + " Сервер не ответил: " + err.message);
        setTimeout(function () { poll(mine); }, POLL_MS * 2);
      });
    }

    start.addEventListener("click", function () {
      if (start.disabled || run) return; // one run at a time: no double sends
      start.disabled = true; // until the run ends (idle), not only while the request runs
      start.setAttribute("aria-busy", "true");
      u.clear(status);
      var mine = ++generation;
      u.api("POST", "/me/certificates/cryptoarm", null, { key: startKey }).then(function (res) {
        if (mine !== generation) return;
        start.removeAttribute("aria-busy");
        run = { id: res.transaction_id, url: res.url, cancelKey: u.newKey() };
        shown(cancel, true);
        waiting("waiting_app");
        launch(res.url);
        setTimeout(function () { poll(mine); }, POLL_MS);
      }).catch(function (err) {
        if (mine !== generation) return;
        say("kd-error", err.message);
        idle("Попробовать ещё раз");
      });
    });

    cancel.addEventListener("click", function () {
      if (!run || cancel.disabled) return;
      var id = run.id, key = run.cancelKey;
      generation++; // the polls of this run stop here
      run = null;
      u.busy(cancel, function () {
        return u.api("DELETE", "/me/certificates/cryptoarm/" + id, null, { key: key });
      }).then(function (result) { shown(cancel, false); finish(result); }).catch(function (err) {
        shown(cancel, false);
        say("kd-error", err.message);
        idle("Попробовать ещё раз");
      });
    });
  }

  K.bindChannels.push({ key: "cryptoarm", title: "В КриптоАРМ ГОСТ", render: render });
})();
