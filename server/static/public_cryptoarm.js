/* The CryptoARM hand-off page (server/templates/public/cryptoarm.html) follows the run live: it asks
   /c/<token>/cryptoarm/progress every few seconds and shows «Ждём подпись…», «Подпись получена, проверяем…» and
   the result, without a reload. Without JavaScript the page keeps its own instruction (return and reload). */
(function () {
  "use strict";
  var box = document.querySelector("[data-cryptoarm-handoff]");
  if (!box || !window.fetch) return;
  var url = box.getAttribute("data-progress-url");
  var panel = box.querySelector("[data-progress]");
  var title = box.querySelector("[data-progress-title]");
  var message = box.querySelector("[data-progress-message]");
  var TONES = { waiting: "cp-info", checking: "cp-info", accepted: "cp-ok", refused: "cp-bad",
                cancelled: "cp-warn", expired: "cp-warn", none: "cp-warn", lost: "cp-warn" };
  var EVERY_MS = 2000;
  var LONGEST_MS = 45 * 60 * 1000;  // a run's transaction lasts 30 minutes by default; then the server says so
  var started = Date.now();
  var failures = 0;

  box.querySelector("[data-manual-step]").hidden = true;
  box.querySelector("[data-live-step]").hidden = false;
  panel.hidden = false;

  function back(href, text) {
    var p = document.createElement("p");
    var a = document.createElement("a");
    a.className = "cp-button";
    a.href = href;
    a.textContent = text;
    a.setAttribute("data-progress-page", "");
    p.appendChild(a);
    return p;
  }

  function show(state) {
    title.textContent = state.title;
    message.textContent = state.message;
    panel.className = "cp-note cp-progress " + (TONES[state.phase] || "cp-info");
    panel.setAttribute("data-phase", state.phase);
    if (!state.final) return;
    box.querySelector("[data-live-step]").hidden = true;
    box.querySelector("[data-open]").hidden = true;  // the cryptoarm:// link was single-use
    box.querySelector("[data-back]").parentNode.hidden = true;  // the button below replaces it
    var page = typeof state.page === "string" && state.page.indexOf("/c/") === 0 ? state.page : box.querySelector("[data-back]").getAttribute("href");
    panel.appendChild(back(page, state.phase === "accepted" ? "Открыть документ" : "Вернуться к документу"));
  }

  function lost() {
    show({ phase: "lost", final: true, title: "Не удалось узнать, как идёт подписание",
           message: "Вернитесь на страницу документа и обновите её: там будет видно, принята ли подпись." });
  }

  function later(ms) {
    if (Date.now() - started > LONGEST_MS) { lost(); return; }
    window.setTimeout(poll, ms);
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" })
      .then(function (resp) {
        if (resp.status === 429) { later((Number(resp.headers.get("Retry-After")) || 10) * 1000); return null; }
        if (resp.status >= 400 && resp.status < 500) { lost(); return null; }
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.json().then(function (state) {
          failures = 0;
          show(state);
          if (!state.final) later(EVERY_MS);
        });
      })
      .catch(function () {
        failures += 1;
        if (failures >= 5) lost(); else later(EVERY_MS * failures);
      });
  }

  poll();
})();
