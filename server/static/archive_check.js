/* «Аудит» → «Проверка архива»: upload a ZIP (with the upload's own progress), then follow the server's check of every
   signature in it: counts by verdict, the rate and the time left, and a row per signature as it is checked. The
   page asks /archive-checks/{id}?after=N once a second for what is new; a reload picks up the latest check. */
(function () {
  "use strict";
  var K = window.KlikDok, u = K.util;
  var panel = document.getElementById("kd-archive-check");
  if (!panel) return;
  var form = document.getElementById("kd-archive-form"), button = document.getElementById("kd-archive-start");
  var status = document.getElementById("kd-archive-status"), bar = document.getElementById("kd-archive-progress");
  var result = document.getElementById("kd-archive-result");
  var VERDICTS = { valid: "действительна", invalid: "недействительна", indeterminate: "не подтверждена",
                   unusable: "не проверена" };
  var TONE = { valid: "valid", invalid: "invalid", indeterminate: "indeterminate", unusable: "invalid" };
  var key = u.newKey(), timer = null, current = null, seen = 0, tbody = null;

  function number(n) { return String(n).replace(".", ","); }

  function upload(file) {
    // XMLHttpRequest, not fetch: only it reports how much of a large archive has gone up.
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest(), data = new FormData();
      data.append("archive", file, file.name);
      xhr.open("POST", "/api/v1/archive-checks/");
      xhr.setRequestHeader("X-KlikDok-Session", document.body.getAttribute("data-session") || "");
      xhr.setRequestHeader("Idempotency-Key", key);
      xhr.upload.onprogress = function (e) {
        if (!e.lengthComputable) return;
        bar.hidden = false; bar.max = e.total; bar.value = e.loaded;
        status.textContent = "Загрузка архива: " + Math.floor(100 * e.loaded / e.total) + " %";
      };
      xhr.onload = function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        if (xhr.status === 201 && body) resolve(body);
        else reject(new Error((body && body.message) || ("Ошибка " + xhr.status)));
      };
      xhr.onerror = function () { reject(new Error("Архив не загружен: нет связи с сервером.")); };
      xhr.send(data);
    });
  }

  function table() {
    u.clear(result);
    tbody = u.el("tbody");
    var t = u.el("table", { class: "kd-table", "aria-label": "Подписи архива" },
      u.el("thead", {}, u.el("tr", {}, u.el("th", { text: "Итог" }), u.el("th", { text: "Подпись" }),
        u.el("th", { text: "Документ" }), u.el("th", { text: "Заключение" }))), tbody);
    result.appendChild(u.el("div", { class: "kd-scroll", tabindex: "0", role: "region",
      "aria-label": "Подписи архива" }, t));
  }

  function addRows(items) {
    items.forEach(function (i) {
      tbody.appendChild(u.el("tr", { "data-verdict": i.verdict },
        u.el("td", {}, u.el("span", { class: "kd-badge kd-verdict-" + TONE[i.verdict], text: VERDICTS[i.verdict] })),
        u.el("td", { text: i.signature }), u.el("td", { text: i.document || "внутри подписи" }),
        u.el("td", { text: i.headline })));
    });
  }

  function summary(p) {
    var parts = Object.keys(VERDICTS).filter(function (v) { return p.counts[v]; })
      .map(function (v) { return VERDICTS[v] + ": " + p.counts[v]; });
    var head;
    if (p.state === "queued") head = "Архив «" + p.file_name + "» ждёт очереди на проверку.";
    else if (p.state === "running") {
      head = "Проверено " + p.checked + " из " + p.total + " подписей" +
        (p.rate ? ", " + number(p.rate) + " в секунду" : "") +
        (p.eta_seconds != null ? ", осталось около " + Math.max(1, p.eta_seconds) + " с" : "") + ".";
    } else if (p.state === "failed") head = "Проверка не выполнена: " + p.error;
    else {
      head = "Проверка архива «" + p.file_name + "» завершена: подписей " + p.total +
        (p.total ? " (" + parts.join(", ") + ")" : "") + ".";
      if (!p.total) head += " В архиве нет файлов подписей (.sig, .p7s, .p7m).";
    }
    if (p.state !== "done" && parts.length) head += " " + capital(parts.join(", ")) + ".";
    if (p.unsigned.length && p.state === "done") head += " Файлов без подписи: " + p.unsigned.length + ".";
    status.textContent = head;
    bar.hidden = p.state === "done" || p.state === "failed" || !p.total;
    bar.max = Math.max(1, p.total); bar.value = p.checked;
  }

  function capital(text) { return text.charAt(0).toUpperCase() + text.slice(1); }

  function follow(id) {
    if (current !== id) { current = id; seen = 0; table(); }
    clearTimeout(timer);
    return u.api("GET", "/archive-checks/" + id + "?after=" + seen).then(function (p) {
      addRows(p.items);
      seen = p.next;
      summary(p);
      if (p.state === "queued" || p.state === "running" || p.items.length) {
        timer = setTimeout(function () { follow(id); }, p.items.length >= 500 ? 0 : 1000);
      }
    }, function (err) {
      status.textContent = "Ход проверки не получен: " + err.message + " Повтор через 5 с.";
      timer = setTimeout(function () { follow(id); }, 5000);
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var file = document.getElementById("kd-archive-file").files[0];
    if (!file) { status.textContent = "Выберите ZIP-архив."; return; }
    u.busy(button, function () {
      status.textContent = "Загрузка архива…";
      return upload(file).then(function (started) {
        key = u.newKey();  // the next archive is a new request
        form.reset();
        return follow(started.id);
      });
    }).catch(function (err) {
      bar.hidden = true;
      status.textContent = "Архив не принят: " + err.message;
    });
  });

  // The latest check of this auditor, so a reload or a return to the page shows where it stands.
  u.api("GET", "/archive-checks/").then(function (checks) {
    if (checks.length && current === null) follow(checks[0].id);
  }, function () { /* no access or no checks yet: the form is enough */ });
})();
