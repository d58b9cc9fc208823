/* KlikDok signing from the pages: the signer's agent (pairing, the list with online state, revoke) and the two
   ways a batch is signed without leaving the page — "Подписать" (jobs the signer's agent picks up) and
   "Открыть в КриптоАРМ ГОСТ" (a cryptoarm:// link for a one-time transaction). Both then watch the jobs
   through /api/v1/jobs/status until each document is signed, refused or cancelled.
   Needs kd_core.js and document_panel.js (KlikDok.util); DOM built with textContent only. */
(function () {
  "use strict";
  var K = window.KlikDok = window.KlikDok || {};
  var u = K.util;
  var el = u.el, clear = u.clear, api = u.api, fit = u.fit, date = u.date;

  var AGENT_REFRESH_MS = 10000;
  var PROGRESS_POLL_MS = 1500;
  var FAST_REFRESH_MS = 3000;
  var FAST_REFRESH_FOR_MS = 5 * 60 * 1000;
  var lastPairing = 0;
  var OPEN = { pending: true, delivered: true };

  var agents = { online: false, list: [], loaded: false };
  var listeners = [];
  var queue = null;          // {selected(), reload()} from the app page
  var pairingTimer = null;
  var pairedBefore = null;   // agent ids known when the pairing code was shown

  function onAgents(fn) { listeners.push(fn); if (agents.loaded) fn(agents); }
  function dropListener(fn) { listeners = listeners.filter(function (f) { return f !== fn; }); }

  function plural(n, one, few, many) {
    var m10 = n % 10, m100 = n % 100;
    if (m10 === 1 && m100 !== 11) return one;
    if (m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14)) return few;
    return many;
  }
  function docs(n) { return n + " " + plural(n, "документ", "документа", "документов"); }
  // What a failed action tells the person, in Russian: the server's own message, or the lost connection.
  function problem(err) {
    if (err && err.status) return err.message;
    return "Нет связи с сервером KlikDok. Проверьте сеть и повторите.";
  }
  function inlineError(id, text) {
    return el("p", { class: "kd-error kd-small kd-inline-error", id: id, role: "alert", text: text });
  }

  function errorText(job) {
    // Agents report "code: message"; the person needs the message.
    var text = job.error || "";
    var cut = text.indexOf(": ");
    return cut > 0 && /^[a-z_]+$/.test(text.slice(0, cut)) ? text.slice(cut + 2) : text;
  }

  // ---- agents -------------------------------------------------------------------------------------------

  function refreshAgents() {
    return api("GET", "/agents").then(function (data) {
      agents = { online: !!data.online, list: data.agents || [], loaded: true };
      listeners.slice().forEach(function (fn) { fn(agents); });
      return agents;
    }).catch(function (err) {
      var holder = document.getElementById("kd-agents");
      if (holder) u.showError(holder, err);
    });
  }

  function agentLabel(a) {
    return a.name || ("Агент №" + a.id);
  }

  function renderAgents(state) {
    var holder = document.getElementById("kd-agents");
    if (!holder) return;
    clear(holder);
    if (!state.list.length) {
      holder.appendChild(el("p", { class: "kd-muted", id: "kd-agents-empty",
        text: "Подключённых агентов нет. Нажмите «Подключить агент подписи» и выполните на своём компьютере " +
              "команду, которую покажет страница." }));
    } else {
      var table = el("table", { class: "kd-table kd-agents" }, el("tr", {}, el("th", { text: "Компьютер" }),
        el("th", { text: "Система" }), el("th", { text: "Способ подписи" }), el("th", { text: "Состояние" }),
        el("th", { text: "" })));
      state.list.forEach(function (a) {
        var seen = a.online ? "в сети" : (a.last_seen_at ? "не в сети, был " + date(a.last_seen_at) : "ещё не запускался");
        table.appendChild(el("tr", { "data-agent-id": String(a.id), "data-online": a.online ? "yes" : "no" },
          el("td", {}, el("strong", { text: agentLabel(a) }),
             el("div", { class: "kd-muted kd-small", text: "подключён " + date(a.created_at) })),
          el("td", { text: a.platform || "—" }),
          el("td", { text: a.backend ? backendLabel(a.backend) : (a.online ? "определяется…" : "—") }),
          el("td", {}, el("span", { class: "kd-status" + (a.online ? " kd-status-on" : "") },
                          el("span", { class: "kd-dot" }), seen)),
          el("td", { class: "kd-right" }, revokeButton(a),
             revokeErrors[a.id] ? inlineError("kd-revoke-error-" + a.id, revokeErrors[a.id]) : null)));
      });
      holder.appendChild(table);
    }
    var chip = document.getElementById("kd-agent-chip");
    if (chip) {
      chip.setAttribute("data-online", state.online ? "yes" : "no");
      var live = state.list.filter(function (a) { return a.online; });
      document.getElementById("kd-agent-chip-text").textContent = state.online
        ? "Агент в сети: " + agentLabel(live[0]) + (live.length > 1 ? " и ещё " + (live.length - 1) : "")
        : (state.list.length ? "Агент подписи не в сети" : "Агент подписи не подключён");
    }
    checkPaired(state);
    fit();
  }

  function backendLabel(kind) {
    return { openssl: "OpenSSL (ГОСТ)", cryptoarm: "КриптоАРМ ГОСТ", cryptopro: "КриптоПро CSP",
             cryptcp: "КриптоПро cryptcp" }[kind] || (kind || "—");
  }

  // One key per agent: revoking it is one change whatever the list re-renders meanwhile (every 10 s), and the
  // re-rendered button stays disabled while the request runs.
  var revokeKeys = {};
  var revoking = {};
  var revokeErrors = {};

  function revokeButton(a) {
    var button = el("button", { class: "kd-btn kd-btn-light kd-btn-small kd-revoke", type: "button",
      text: "Отключить", "aria-label": "Отключить агент «" + agentLabel(a) + "»" });
    if (revoking[a.id]) { button.disabled = true; button.setAttribute("aria-busy", "true"); }
    button.addEventListener("click", function () { revoke(a, button); });
    return button;
  }

  function revoke(a, button) {
    if (!window.confirm("Отключить агент «" + agentLabel(a) + "»? Его ключ перестанет действовать сразу; чтобы " +
                        "подключить этот компьютер снова, понадобится новый код.")) return;
    var key = revokeKeys[a.id] || (revokeKeys[a.id] = u.newKey());
    delete revokeErrors[a.id];
    revoking[a.id] = true;
    u.busy(button, function () { return api("DELETE", "/agents/" + a.id, null, { key: key }); })
      .then(function () { delete revoking[a.id]; return refreshAgents(); }, function (err) {
        delete revoking[a.id];
        revokeErrors[a.id] = "Агент не отключён: " + problem(err);
        renderAgents(agents);
      });
  }

  // ---- pairing ------------------------------------------------------------------------------------------

  function stopPairingTimer() { if (pairingTimer) { clearInterval(pairingTimer); pairingTimer = null; } }

  // Each press asks for a new code (its own idempotency key); the button is off while the request runs.
  function pair() {
    var box = document.getElementById("kd-pairing");
    var button = document.getElementById("kd-pair");
    var key = u.newKey();
    u.busy(button, function () {
      pairedId = null; nextId = null;
      pairedBefore = agents.list.map(function (a) { return a.id; });
      return api("POST", "/agents/pairing-codes", null, { raw: true, key: key }).then(function (resp) {
        // The countdown runs on the server's clock: the Date header says how far this computer's clock is off.
        // The header has whole seconds: +500 ms is the best guess of the moment inside that second.
        var header = Date.parse(resp.headers.get("Date") || "");
        var skew = header ? header + 500 - Date.now() : 0;
        lastPairing = Date.now();
        return resp.json().then(function (data) { showCode(box, data, skew); });
      });
    }).catch(function (err) {
      box.hidden = false;
      clear(box).appendChild(inlineError("kd-pairing-error", "Код не получен: " + problem(err)));
      fit();
    });
  }

  function copyButton(text) {
    var button = el("button", { class: "kd-btn kd-btn-light kd-btn-small", type: "button", text: "Скопировать" });
    button.addEventListener("click", function () {
      var done = function () { button.textContent = "Скопировано"; setTimeout(function () { button.textContent = "Скопировать"; }, 2000); };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, function () {});
      else {
        var area = el("textarea", { class: "kd-offscreen" });
        area.value = text; document.body.appendChild(area); area.select();
        try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selectable */ }
        area.remove();
      }
    });
    return button;
  }

  function showCode(box, data, skew) {
    stopPairingTimer();
    clear(box);
    box.hidden = false;
    var expires = Date.parse(data.expires_at);
    var left = el("span", { id: "kd-pairing-left" });
    var codeNode = el("div", { class: "kd-code", id: "kd-pairing-code", text: data.code });
    var commandNode = el("code", { class: "kd-command", id: "kd-pairing-command", text: data.command });
    box.appendChild(el("div", { class: "kd-pairing" },
      el("div", { class: "kd-pairing-code" }, el("div", { class: "kd-muted kd-small", text: "Одноразовый код" }), codeNode,
         el("div", { class: "kd-small" }, left)),
      el("div", { class: "kd-pairing-steps" },
        el("ol", { class: "kd-list" },
          el("li", { text: "Установите агент подписи KlikDok на компьютер, где стоит ваша ЭП (пакет klikdok-agent у администратора)." }),
          el("li", {}, "Выполните в терминале команду:",
             el("div", { class: "kd-command-row" }, commandNode, copyButton(data.command))),
          el("li", { id: "kd-pairing-setup" }, "Выберите программу подписи (КриптоАРМ ГОСТ, КриптоПро CSP или OpenSSL) и сертификат: ",
             el("code", { text: "klikdok-agent setup" }), " — агент покажет ваши сертификаты списком."),
          el("li", {}, "Запустите агент: ", el("code", { text: "klikdok-agent run" }),
             " (или включите автозапуск: ", el("code", { text: "systemctl --user enable --now klikdok-agent" }), ")."),
          el("li", { text: "Агент появится в списке ниже; когда он в сети, кнопка «Подписать» подписывает выбранные документы." })),
        el("p", { class: "kd-muted kd-small", text: "Код действует 10 минут и подходит только для одного компьютера. " +
                                                   "Никому его не пересылайте." }))));
    function tick() {
      var ms = expires - (Date.now() + skew);
      if (ms <= 0) {
        stopPairingTimer();
        codeNode.classList.add("kd-expired");
        commandNode.classList.add("kd-expired");
        left.className = "kd-error";
        left.textContent = "Срок действия кода истёк. Нажмите «Подключить агент подписи», чтобы получить новый.";
        fit();
        return;
      }
      var s = Math.floor(ms / 1000);
      left.className = s <= 60 ? "kd-error" : "kd-muted";
      left.textContent = "Действует ещё " + Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2);
    }
    tick();
    pairingTimer = setInterval(tick, 1000);
    fit();
  }

  var pairedId = null;      // the agent just paired from this page, until it comes online
  var nextId = null;        // ...then, while its "what is left" note is shown (until closed)

  // What the signer does after pairing, per signing program (the agent's backend): the program the agent
  // needs, `klikdok-agent setup` (which writes agent.toml), starting it, then binding the certificate in
  // «Мои сертификаты». Until the agent reports its backend the signer picks the program here.
  var BACKEND_STEPS = {
    cryptoarm: [
      "Установите КриптоАРМ ГОСТ и убедитесь, что он видит ваш сертификат (личное хранилище).",
      ["Выполните ", "klikdok-agent setup", " и выберите «КриптоАРМ ГОСТ». Сертификат в агенте не выбирается: " +
       "его спросит сам КриптоАРМ ГОСТ при подписи."]
    ],
    cryptopro: [
      "Установите КриптоПро CSP и модуль pycades (КриптоПро ЭЦП SDK для Python); сертификат с ключом должен быть в " +
      "личном хранилище.",
      ["Выполните ", "klikdok-agent setup", ", выберите «КриптоПро CSP» и свой сертификат из списка, который покажет агент."]
    ],
    cryptcp: [
      "Установите КриптоПро CSP с утилитами cryptcp и certmgr; сертификат с ключом должен быть в личном хранилище.",
      ["Выполните ", "klikdok-agent setup", ", выберите «КриптоПро cryptcp» и свой сертификат из списка."]
    ],
    openssl: [
      "Нужны OpenSSL с ГОСТ-движком (gost-engine), файл ключа и файл сертификата (PEM) или контейнер .p12/.pfx.",
      ["Выполните ", "klikdok-agent setup", ", выберите «OpenSSL (ГОСТ)» и укажите файл ключа и файл сертификата."]
    ]
  };
  var BACKENDS = ["cryptoarm", "cryptopro", "cryptcp", "openssl"];

  function stepItem(step) {
    if (typeof step === "string") return el("li", { text: step });
    return el("li", {}, step[0], el("code", { text: step[1] }), step[2]);
  }

  function bindStep() {
    return el("li", { class: "kd-next-bind" }, "Откройте ",
      el("a", { href: "#certificates", class: "kd-link-inline", text: "«Мои сертификаты»" }),
      " и привяжите сертификат: подписи принимаются только от привязанного к вам сертификата.");
  }

  function backendSteps(kind, running) {
    var list = el("ol", { class: "kd-list", id: "kd-next-steps", "data-backend": kind });
    if (!running) {
      BACKEND_STEPS[kind].forEach(function (step) { list.appendChild(stepItem(step)); });
      list.appendChild(el("li", {}, "Запустите агент: ", el("code", { text: "klikdok-agent run" }),
        " — он появится в списке ниже «в сети» через несколько секунд."));
    }
    list.appendChild(bindStep());
    return list;
  }

  function pairedNote(agent) {
    var kind = BACKEND_STEPS[agent.backend] ? agent.backend : "cryptoarm";
    var picker = el("select", { id: "kd-paired-backend", class: "kd-paired-backend" });
    BACKENDS.forEach(function (b) {
      var opt = el("option", { value: b, text: backendLabel(b) });
      if (b === kind) opt.selected = true;
      picker.appendChild(opt);
    });
    var slot = el("div", {}, backendSteps(kind, false));
    picker.addEventListener("change", function () { clear(slot).appendChild(backendSteps(picker.value, false)); fit(); });
    return el("div", { id: "kd-paired", class: "kd-paired", "data-agent-id": String(agent.id) },
      el("p", { class: "kd-ok", text: "Агент «" + agentLabel(agent) + "» подключён. Если программа подписи и сертификат " +
        "ещё не выбраны, выполните klikdok-agent setup, затем запустите агент командой klikdok-agent run." }),
      el("label", { class: "kd-small" }, "Чем вы подписываете: ", picker),
      slot);
  }

  function nextNote(agent) {
    var box = el("div", { id: "kd-agent-next", class: "kd-paired", "data-agent-id": String(agent.id),
                          "data-backend": agent.backend || "" });
    box.appendChild(el("p", { class: "kd-ok", text: "Агент «" + agentLabel(agent) + "» в сети" +
      (agent.backend ? ", способ подписи: " + backendLabel(agent.backend) : "") + ". Осталось:" }));
    box.appendChild(backendSteps(BACKEND_STEPS[agent.backend] ? agent.backend : "cryptoarm", true));
    if (agent.backend === "cryptoarm") {
      box.appendChild(el("p", { class: "kd-muted kd-small", text: "Для КриптоАРМ ГОСТ сертификат привязывается в «Мои " +
        "сертификаты» через КриптоАРМ: агент сам сертификат не выбирает." }));
    }
    box.appendChild(el("p", { class: "kd-muted kd-small" }, "Сменить программу или сертификат: ",
      el("code", { text: "klikdok-agent setup" }), ", затем перезапустите агент."));
    box.appendChild(el("div", { class: "kd-actions" }, el("button", { class: "kd-btn kd-btn-light kd-btn-small",
      type: "button", id: "kd-agent-next-close", text: "Понятно", onclick: function () {
        nextId = null; clear(document.getElementById("kd-pairing")).hidden = true; fit();
      } })));
    return box;
  }

  function checkPaired(state) {
    var box = document.getElementById("kd-pairing");
    if (nextId !== null) {
      var shownNext = state.list.filter(function (a) { return a.id === nextId; })[0];
      var note = document.getElementById("kd-agent-next");
      if (!shownNext) { nextId = null; clear(box).hidden = true; return; }
      if (note && note.getAttribute("data-backend") !== (shownNext.backend || "")) {
        clear(box).appendChild(nextNote(shownNext));  // the backend arrived with a later heartbeat
      }
      return;
    }
    if (pairedId !== null) {
      var mine = state.list.filter(function (a) { return a.id === pairedId; })[0];
      if (!mine) { pairedId = null; clear(box).hidden = true; return; }
      if (mine.online) {
        pairedId = null;
        nextId = mine.id;
        clear(box).appendChild(nextNote(mine));
        box.hidden = false;
        fit();
      }
      return;
    }
    if (!pairedBefore || !pairingTimer) return;
    var fresh = state.list.filter(function (a) { return pairedBefore.indexOf(a.id) < 0; });
    if (!fresh.length) return;
    stopPairingTimer();
    pairedBefore = null;
    pairedId = fresh[0].id;
    clear(box).appendChild(pairedNote(fresh[0]));
    fit();
  }

  // ---- documents being signed ---------------------------------------------------------------------------

  // The documents of the session user's jobs in progress (document id -> true). Every list row and document
  // panel of one says «Подписывается…» next to its state, so a document being signed never looks untouched:
  // after a reload the set comes from the server (/jobs/in-progress), then from the progress panel's polls.
  var signingDocs = {};
  var MARK = "kd-signing-mark";

  // The CryptoARM run states in which it is still going: ``receiving`` is a run whose results have arrived and are
  // being checked (the server closes the jobs a moment later).
  var RUNNING = { open: true, parameters_sent: true, receiving: true };

  function jobInProgress(j) {
    if (!OPEN[j.status]) return false;
    if (j.channel !== "cryptoarm") return true;
    return RUNNING[j.cryptoarm_state] === true;
  }

  function noteSigning(jobs, replace) {
    if (replace) signingDocs = {};
    jobs.forEach(function (j) {
      if (jobInProgress(j)) signingDocs[j.document_id] = true;
      else delete signingDocs[j.document_id];
    });
    markDocuments();
  }

  // Rows and panels carry data-document-id and the state badge (document_panel.js); the mark goes after the
  // badge. The progress list's items carry the id too but no badge, so they are left alone.
  function markDocuments() {
    document.querySelectorAll("[data-document-id]").forEach(function (node) {
      var badge = node.querySelector(".kd-badge[data-state]");
      if (!badge) return;
      var next = badge.nextElementSibling;
      var mark = next && next.classList.contains(MARK) ? next : null;
      var on = !!signingDocs[node.getAttribute("data-document-id")];
      if (on && !mark) {
        badge.parentNode.insertBefore(el("span", { class: MARK, text: "Подписывается…" }), badge.nextSibling);
      } else if (!on && mark) {
        mark.remove();
      }
    });
  }

  // The lists and panels are drawn by other scripts at their own moments: each new row or panel is marked as it
  // appears. Marking changes the DOM too, but a second pass finds nothing to change, so it settles at once.
  new MutationObserver(function () {
    if (Object.keys(signingDocs).length || document.querySelector("." + MARK)) markDocuments();
  }).observe(document.body, { childList: true, subtree: true });

  function inProgress() { return api("GET", "/jobs/in-progress"); }
  function routeOf(jobs) {
    return jobs.length && jobs.every(function (j) { return j.channel === "cryptoarm"; }) ? "cryptoarm" : "agent";
  }

  // ---- progress of a batch ------------------------------------------------------------------------------

  var watch = null;   // {route, jobs: {id: job}, timer, box, link, offers, cancelKeys, cancelling, error, restored}
  var onFinish = null; // the CRM tab's document refresh (the app page reloads its queue instead)

  function stopWatch() {
    if (watch && watch.timer) clearTimeout(watch.timer);
    watch = null;
  }

  function itemText(job) {
    if (job.status === "done") return { cls: "kd-ok", text: "подписан" };
    if (job.status === "failed") return { cls: "kd-error", text: "не подписан: " + (errorText(job) || "ошибка агента") };
    if (job.status === "cancelled") {
      var why = job.error || "";
      if (why.indexOf("cancelled_by_signer") === 0) return { cls: "kd-muted", text: "подписание отменено, документ ждёт вашей подписи" };
      if (why.indexOf("moved") === 0) return { cls: "kd-muted", text: "передан другому способу подписи" };
      return { cls: "kd-muted", text: "задание снято (документ отозван или изменён)" };
    }
    if (job.channel === "cryptoarm" && job.cryptoarm_state) {
      switch (job.cryptoarm_state) {
        case "open": return { cls: "kd-muted", text: "ждём КриптоАРМ ГОСТ…" };
        case "parameters_sent": return { cls: "kd-muted", text: "подписывается в КриптоАРМ ГОСТ…" };
        case "receiving": return { cls: "kd-muted", text: "подпись получена, проверяется…" };
        case "cancelled": return { cls: "kd-warn", text: "подписание отменено в КриптоАРМ ГОСТ, документ по-прежнему ждёт подписи" };
        case "completed": return { cls: "kd-error", text: "подпись не принята" + (job.cryptoarm_message ? ": " + job.cryptoarm_message : "") };
        case "failed": return { cls: "kd-error", text: "КриптоАРМ ГОСТ сообщил об ошибке" };
        default: return { cls: "kd-muted", text: "ждём КриптоАРМ ГОСТ…" };
      }
    }
    if (job.refusal) return { cls: "kd-error", text: "подпись не принята: " + errorText({ error: job.refusal }) };
    if (job.channel === "cryptoarm" && job.status === "pending") {
      return { cls: "kd-warn", text: "уже открыт для подписи в КриптоАРМ ГОСТ: завершите подписание там" };
    }
    if (job.channel === "upload" && job.status === "pending") {
      return { cls: "kd-warn", text: "ждёт загрузки файла подписи вручную" };
    }
    if (job.status === "delivered") return { cls: "kd-muted", text: "агент подписывает…" };
    return { cls: "kd-muted", text: agents.online ? "передаётся агенту…" : "ждёт агента: он не в сети" };
  }

  function renderProgress() {
    if (!watch) return;
    var current = watch;
    var list = Object.keys(current.jobs).map(function (k) { return current.jobs[k]; });
    var signed = list.filter(function (j) { return j.status === "done"; }).length;
    var open = list.filter(function (j) { return OPEN[j.status]; });
    var cancelled = current.route === "cryptoarm" && open.length &&
      open.every(function (j) { return j.cryptoarm_state && !RUNNING[j.cryptoarm_state]; });
    var finished = !open.length || cancelled;
    var box = clear(current.box);
    box.setAttribute("data-finished", finished ? "yes" : "no");
    box.setAttribute("data-route", current.route);
    box.setAttribute("data-restored", current.restored ? "yes" : "no");
    var title = current.route === "cryptoarm" ? "Подписание в КриптоАРМ ГОСТ" : "Подписание агентом";
    box.appendChild(el("div", { class: "kd-head" }, el("h2", { class: "kd-subtitle", text: title }),
      el("span", { class: "kd-muted", id: "kd-progress-count", text: "Подписано " + signed + " из " + list.length })));
    var bar = el("div", { class: "kd-bar", role: "progressbar", "aria-label": "Подписано документов",
                          "aria-valuemin": "0", "aria-valuemax": String(list.length), "aria-valuenow": String(signed) },
                 el("div", { class: "kd-bar-fill" }));
    bar.firstChild.style.width = (list.length ? Math.round(100 * signed / list.length) : 0) + "%";
    box.appendChild(bar);
    if (current.restored && !finished) {
      box.appendChild(el("p", { class: "kd-muted kd-small", id: "kd-progress-restored",
        text: "Подписание, начатое раньше, продолжается: задания на сервере, закрывать страницу можно." }));
    }
    if (current.route === "cryptoarm" && current.link && !finished) {
      box.appendChild(el("p", { class: "kd-small" }, "КриптоАРМ ГОСТ должен открыться сам и предложить подписать " +
        docs(list.length) + " одной подписью на каждый файл. Если окно программы не появилось, ",
        el("a", { href: current.link, id: "kd-cryptoarm-link", class: "kd-link-inline", text: "откройте КриптоАРМ ГОСТ по ссылке" }),
        ". Ссылка одноразовая."));
    }
    if (current.route === "agent" && !agents.online && open.length) {
      box.appendChild(el("p", { class: "kd-warning", text: "Агент подписи не в сети. Задания дождутся его: запустите агент " +
        "на своём компьютере, или подпишите документы в КриптоАРМ ГОСТ." }));
    }
    var items = el("ul", { class: "kd-progress-list" });
    list.forEach(function (j) {
      var t = itemText(j);
      var li = el("li", { "data-job-id": String(j.id), "data-document-id": String(j.document_id), "data-status": j.status,
                          "data-cryptoarm": j.cryptoarm_state || "" },
        el("span", { class: "kd-progress-title", text: j.title }), el("span", { class: t.cls, text: t.text }));
      // The signature was refused for a certificate bound to nobody: the same offer as for an uploaded .sig. Its
      // block is made once per job and moved into each redraw, so a press in progress survives the polls.
      if (j.bind_offer && j.status !== "done") {
        if (!current.offers[j.id]) {
          current.offers[j.id] = u.bindOffer(j.bind_offer, function () {
            if (watch !== current) return;
            if (current.timer) clearTimeout(current.timer);
            poll();
          });
        }
        li.appendChild(current.offers[j.id]);
      }
      items.appendChild(li);
    });
    box.appendChild(items);
    var actions = el("div", { class: "kd-actions" });
    var stopped = list.filter(function (j) { return j.status === "cancelled" && (j.error || "").indexOf("cancelled_by_signer") === 0; });
    if (finished && signed === list.length) {
      box.appendChild(el("p", { class: "kd-ok", id: "kd-progress-done", text: "Готово: " +
        plural(signed, "подписан ", "подписано ", "подписано ") + docs(signed) + "." }));
    } else if (cancelled) {
      box.appendChild(el("p", { class: "kd-muted", id: "kd-progress-cancelled",
        text: "Подписание в КриптоАРМ ГОСТ не завершено. Документы ждут вашей подписи: откройте КриптоАРМ ГОСТ ещё раз " +
              "или подпишите вручную." }));
      var again = open.map(function (j) { return j.document_id; });
      var againButton = el("button", { class: "kd-btn", type: "button", id: "kd-cryptoarm-again", text: "Открыть в КриптоАРМ ГОСТ ещё раз" });
      againButton.addEventListener("click", function () { startCryptoarm(again, againButton); });
      actions.appendChild(againButton);
    } else if (finished && stopped.length) {
      box.appendChild(el("p", { class: "kd-muted", id: "kd-progress-stopped", text: "Подписание отменено. " +
        plural(stopped.length, "Документ ждёт", "Документы ждут", "Документы ждут") + " вашей подписи: подпишите " +
        "агентом, в КриптоАРМ ГОСТ или вручную, когда будете готовы." }));
    }
    if (!finished) {
      var cancelButton = el("button", { class: "kd-btn kd-btn-light", type: "button", id: "kd-progress-cancel",
        text: current.cancelling ? "Отменяется…" : "Отменить",
        title: "Остановить подписание; документы останутся ждать вашей подписи" });
      // The panel is redrawn at every poll: a cancel under way stays visible as such until the jobs close.
      if (current.cancelling) { cancelButton.disabled = true; cancelButton.setAttribute("aria-busy", "true"); }
      cancelButton.addEventListener("click", function () { cancelOpen(current, open, cancelButton); });
      actions.appendChild(cancelButton);
    }
    actions.appendChild(el("button", { class: "kd-btn kd-btn-light", type: "button", id: "kd-progress-close",
      text: finished ? "Закрыть" : "Скрыть (задания останутся открытыми)",
      onclick: function () { stopWatch(); clear(box); box.className = ""; fit(); } }));
    box.appendChild(actions);
    if (current.error) box.appendChild(inlineError("kd-progress-error", current.error));
    fit();
    return finished;
  }

  function poll() {
    if (!watch) return;
    var current = watch;
    var ids = Object.keys(current.jobs);
    api("GET", "/jobs/status?" + ids.map(function (id) { return "ids=" + id; }).join("&")).then(function (rows) {
      if (watch !== current) return;
      var changed = false;
      rows.forEach(function (r) {
        var before = current.jobs[r.id];
        if (!before || before.status !== r.status || before.cryptoarm_state !== r.cryptoarm_state) changed = true;
        if (!r.bind_offer && before && before.bind_offer) r.bind_offer = before.bind_offer; // given once
        current.jobs[r.id] = r;
      });
      noteSigning(rows, false);
      var finished = renderProgress();
      if (changed && queue) queue.reload();
      if (!finished) current.timer = setTimeout(poll, PROGRESS_POLL_MS);
      else {
        current.timer = null;
        var anySigned = rows.some(function (r) { return r.status === "done"; });
        if (!queue && onFinish && anySigned) onFinish();
      }
    }).catch(function () {
      if (watch === current) current.timer = setTimeout(poll, PROGRESS_POLL_MS * 2);
    });
  }

  // The signer stops the batch: each open job is cancelled on the server, which tells an agent holding it to drop
  // it and refuses whatever CryptoARM still posts for it. The documents keep waiting for the same signer.
  // One key per job for the life of the panel: a repeated press or a retried request cancels nothing twice.
  // The panel's next poll shows the outcome.
  function cancelOpen(current, jobs, button) {
    current.cancelling = true;
    current.error = "";
    button.textContent = "Отменяется…";
    return u.busy(button, function () {
      return Promise.all(jobs.map(function (j) {
        var key = current.cancelKeys[j.id] || (current.cancelKeys[j.id] = u.newKey());
        return api("POST", "/jobs/" + j.id + "/cancel", null, { key: key });
      }));
    }).catch(function (err) {
      current.cancelling = false;
      current.error = "Подписание не отменено: " + problem(err);
      if (watch === current) renderProgress();
    });
  }

  // A watch over ``jobs`` (as sign-request or /jobs/in-progress return them) in the page's #kd-progress;
  // ``restored``: the jobs were started before this page was loaded.
  function startWatch(route, jobs, link, restored) {
    stopWatch();
    var box = document.getElementById("kd-progress");
    box.className = "kd-panel kd-progress";
    watch = { route: route, jobs: {}, timer: null, box: box, link: link || "", offers: {}, cancelKeys: {},
              cancelling: false, error: "", restored: !!restored };
    jobs.forEach(function (j) {
      watch.jobs[j.id] = { id: j.id, document_id: j.document_id, title: j.title || ("Документ №" + j.document_id),
                           status: j.status, channel: j.channel, error: j.error || "",
                           cryptoarm_state: j.cryptoarm_state || (link ? "open" : ""),
                           cryptoarm_message: j.cryptoarm_message || "", refusal: j.refusal || "",
                           bind_offer: j.bind_offer || null };
    });
    noteSigning(Object.keys(watch.jobs).map(function (k) { return watch.jobs[k]; }), false);
    renderProgress();
    if (!restored) box.scrollIntoView({ block: "nearest" });
    poll();
  }

  // After a reload: the jobs still being signed come back from the server, and with them the progress panel
  // (on the app page; the CRM tab shows it under the document when it is opened) and the «Подписывается…» marks.
  function restore() {
    return inProgress().then(function (rows) {
      noteSigning(rows, true);
      if (queue && rows.length && !watch) startWatch(routeOf(rows), rows, "", true);
      return rows;
    }).catch(function () { return []; });  // the page works without it; the next action reports any error
  }

  function titlesFor(ids) {
    var names = {};
    ids.forEach(function (id) {
      var row = document.querySelector("tr[data-document-id='" + id + "'] .kd-open");
      if (row) names[id] = row.textContent;
    });
    return names;
  }

  // A key per start: the button is off while the request runs, and a retried request opens nothing twice.
  function requestJobs(documentIds, channel) {
    var names = titlesFor(documentIds);
    return api("POST", "/documents/sign-request", { document_ids: documentIds, channel: channel }, { key: u.newKey() })
      .then(function (jobs) {
        jobs.forEach(function (j) { j.title = names[j.document_id]; });
        return jobs;
      });
  }

  // A refusal in the panel. "job_in_flight" (the document is being signed the other way right now) comes with
  // the job: the signer may stop that run here and repeat what they asked for.
  function progressError(err, retry) {
    stopWatch();
    var box = document.getElementById("kd-progress");
    if (!box) return;
    box.className = "kd-panel kd-progress";
    clear(box).appendChild(inlineError("kd-progress-failed", "Подписание не началось: " + problem(err)));
    var busy = err.code === "job_in_flight" && err.data && err.data.job_id;
    if (busy && retry) {
      var key = u.newKey();
      var takeover = el("button", { class: "kd-btn", type: "button", id: "kd-progress-takeover",
        text: "Отменить прежнее подписание и повторить" });
      takeover.addEventListener("click", function () {
        u.busy(takeover, function () {
          return api("POST", "/jobs/" + err.data.job_id + "/cancel", null, { key: key }).then(retry);
        }).catch(function (e2) { progressError(e2); });
      });
      box.appendChild(el("div", { class: "kd-actions" }, takeover));
    }
    fit();
  }

  // The two ways to start, from the queue's buttons, the document panel's or the panel's "again": ``button`` is
  // disabled while the start runs. The retry offered after "job_in_flight" runs under its own (busy) button.
  function pressed(button, run) {
    return button ? u.busy(button, run) : Promise.resolve().then(run);
  }

  function startAgent(documentIds, button) {
    return pressed(button, function () {
      return requestJobs(documentIds, "agent").then(function (jobs) { startWatch("agent", jobs); });
    }).catch(function (err) { progressError(err, function () { return startAgent(documentIds); }); })
      .then(updateButtons);
  }

  function openCryptoarm(url) {
    // A hidden frame hands the cryptoarm:// link to the OS handler without navigating this page away.
    var old = document.getElementById("kd-cryptoarm-launcher");
    if (old) old.remove();
    var frame = el("iframe", { id: "kd-cryptoarm-launcher", class: "kd-offscreen", title: "КриптоАРМ ГОСТ", "aria-hidden": "true" });
    frame.src = url;
    document.body.appendChild(frame);
  }

  function startCryptoarm(documentIds, button) {
    return pressed(button, function () {
      return requestJobs(documentIds, "cryptoarm").then(function (jobs) {
        var ids = jobs.map(function (j) { return j.id; });
        return api("POST", "/cryptoarm/transactions", { job_ids: ids }, { key: u.newKey() }).then(function (res) {
          startWatch("cryptoarm", jobs, res.url);
          openCryptoarm(res.url);
        });
      });
    }).catch(function (err) { progressError(err, function () { return startCryptoarm(documentIds); }); })
      .then(updateButtons);
  }

  // ---- wiring -------------------------------------------------------------------------------------------

  var selection = [];

  function updateButtons() {
    var agentButton = document.getElementById("kd-sign-agent");
    if (!agentButton) return;
    var cryptoarmButton = document.getElementById("kd-sign-cryptoarm");
    // A start under way keeps its button off (u.busy gives it back when done).
    if (!agentButton.hasAttribute("aria-busy")) agentButton.disabled = !selection.length || !agents.online;
    if (!cryptoarmButton.hasAttribute("aria-busy")) cryptoarmButton.disabled = !selection.length;
    var hint = document.getElementById("kd-sign-hint");
    if (!agents.loaded) hint.textContent = "";
    else if (agents.online) hint.textContent = "Отметьте документы и нажмите «Подписать»: агент подпишет их все вашей ЭП.";
    else hint.textContent = "Кнопка «Подписать» работает, когда агент подписи в сети. Без агента подпишите документы " +
                            "в КриптоАРМ ГОСТ или вручную (скачать, подписать, загрузить файл .sig).";
    fit();
  }

  function mountQueue(q) {
    queue = q;
    onAgents(renderAgents);
    onAgents(updateButtons);
    document.getElementById("kd-pair").addEventListener("click", pair);
    document.getElementById("kd-agent-chip").addEventListener("click", function (e) {
      e.preventDefault();
      document.getElementById("kd-agent-panel").scrollIntoView({ block: "start" });
    });
    var agentButton = document.getElementById("kd-sign-agent");
    var cryptoarmButton = document.getElementById("kd-sign-cryptoarm");
    agentButton.addEventListener("click", function () { startAgent(q.selected(), agentButton); });
    cryptoarmButton.addEventListener("click", function () { startCryptoarm(q.selected(), cryptoarmButton); });
    refreshAgents();
    restore();
    // Every 10 s; every 3 s for a few minutes after a code was shown, while the new agent pairs and starts.
    (function loop() {
      var fast = lastPairing && Date.now() - lastPairing < FAST_REFRESH_FOR_MS;
      setTimeout(function () { (document.hidden ? Promise.resolve() : refreshAgents()).then(loop, loop); },
                 fast ? FAST_REFRESH_MS : AGENT_REFRESH_MS);
    })();
  }

  function selectionChanged(ids) { selection = ids; updateButtons(); }

  // The document panel's own buttons (one document, the same two routes).
  function documentActions(detail, refresh) {
    var docId = detail.document.id;
    var box = el("div", { class: "kd-actions kd-doc-sign" });
    var agentButton = el("button", { class: "kd-btn kd-btn-blue", type: "button", "data-action": "sign-agent",
      text: "Подписать агентом" });
    agentButton.addEventListener("click", function () { startAgent([docId], agentButton); });
    var cryptoarmButton = el("button", { class: "kd-btn", type: "button", "data-action": "sign-cryptoarm",
      text: "Открыть в КриптоАРМ ГОСТ" });
    cryptoarmButton.addEventListener("click", function () { startCryptoarm([docId], cryptoarmButton); });
    var note = el("span", { class: "kd-muted kd-small" });
    box.appendChild(agentButton);
    box.appendChild(cryptoarmButton);
    box.appendChild(note);
    var shown = false;
    function sync(state) {
      if (shown && !box.isConnected) { dropListener(sync); return; }  // the panel was re-rendered
      shown = true;
      if (!agentButton.hasAttribute("aria-busy")) agentButton.disabled = !state.online;
      note.textContent = state.online ? "" : "агент подписи не в сети: подпишите в КриптоАРМ ГОСТ или вручную";
    }
    agentButton.disabled = true;
    onAgents(sync);
    if (!queue) refreshAgents();
    onFinish = refresh;
    if (!document.getElementById("kd-progress")) {
      // The CRM tab has no progress panel of its own: put one under the document, and bring back the one of a
      // signing started before the tab was (re)loaded.
      var slot = el("div", { id: "kd-progress", "aria-live": "polite" });
      box.appendChild(slot);
      inProgress().then(function (rows) {
        noteSigning(rows, true);
        var mine = rows.filter(function (r) { return r.document_id === docId; });
        if (mine.length && slot.isConnected && !(watch && watch.box.isConnected)) startWatch(routeOf(mine), mine, "", true);
      }).catch(function () {});
    }
    return box;
  }

  // Pages without the queue (the CRM tab) mark their lists once the page's own script has drawn them.
  document.addEventListener("DOMContentLoaded", function () { if (!queue) restore(); });

  K.signing = { mountQueue: mountQueue, selectionChanged: selectionChanged, documentActions: documentActions,
                refreshAgents: refreshAgents, agents: function () { return agents; } };
})();
