/* The app page: the signer's queue, «Мои документы», the department board, the auditor's search and log; other
   scripts add views through KlikDok.views (certificates.js). Needs kd_core.js and document_panel.js.
   The server renders only the sections the user may use; a section they may not use (opened by an old link) is
   rendered as a note saying who may use it (data-denied), and nothing is loaded for it. */
(function () {
  "use strict";
  var K = window.KlikDok;
  var u = K.util;
  var api = u.api, el = u.el, clear = u.clear, fit = u.fit, date = u.date, showError = u.showError,
      openDocument = u.openDocument, documentTable = u.documentTable, newKey = u.newKey, busy = u.busy, save = u.save;
  var PAGE = 50;

  function capitalized(text) { return text ? text.charAt(0).toUpperCase() + text.slice(1) : text; }

  // "Показаны 51–100 из 230" with «Предыдущие»/«Следующие»; go(offset) loads that page.
  function pager(holder, page, go) {
    clear(holder);
    if (page.total <= page.items.length && !page.offset) return;
    var last = page.offset + page.items.length;
    holder.appendChild(el("span", { class: "kd-muted", text: "Показаны " + (page.items.length ? page.offset + 1 : 0) +
      "–" + last + " из " + page.total }));
    var prev = el("button", { class: "kd-btn kd-btn-light", type: "button", text: "← Предыдущие", "data-page": "prev" });
    var next = el("button", { class: "kd-btn kd-btn-light", type: "button", text: "Следующие →", "data-page": "next" });
    prev.disabled = page.offset <= 0;
    next.disabled = last >= page.total;
    // The clicked button is drawn anew with the page: the keyboard stays on it (or on the other one at an end).
    function turn(offset, side) {
      Promise.resolve(go(offset)).then(function () {
        var same = holder.querySelector("[data-page=" + side + "]");
        var target = same && !same.disabled ? same : holder.querySelector("button:not([disabled])");
        if (target) target.focus();
      });
    }
    prev.addEventListener("click", function () { turn(Math.max(0, page.offset - page.limit), "prev"); });
    next.addEventListener("click", function () { turn(page.offset + page.limit, "next"); });
    holder.appendChild(prev); holder.appendChild(next);
  }

  // A wide table scrolls inside its panel on a narrow screen; the region takes the keyboard so it scrolls without
  // a mouse too.
  function scroller(table, label) {
    return el("div", { class: "kd-scroll", tabindex: "0", role: "region", "aria-label": label }, table);
  }

  function filtersQuery(form) {
    var data = new FormData(form);
    var params = [];
    data.forEach(function (v, k) { if (v) params.push(encodeURIComponent(k) + "=" + encodeURIComponent(v)); });
    return params.length ? "&" + params.join("&") : "";
  }

  function appPage() {
    var detail = document.getElementById("kd-detail");

    // Opens a document's panel and takes the keyboard there: its title is where a screen reader starts reading.
    function openAndFocus(id, onChange) {
      return openDocument(detail, id, onChange).then(function () {
        var title = detail.querySelector(".kd-subtitle");
        if (title) { title.setAttribute("tabindex", "-1"); title.focus(); }
      });
    }

    // ---- «На подпись» ---------------------------------------------------------------------------------------
    function selected() {
      return Array.prototype.map.call(document.querySelectorAll("#kd-queue .kd-select:checked"),
                                      function (b) { return parseInt(b.value, 10); });
    }
    function updateSelection() {
      var none = !selected().length;
      document.getElementById("kd-sign-manual").disabled = none;
      if (window.KlikDok.signing) window.KlikDok.signing.selectionChanged(selected());
    }
    // The list's checkboxes say which document each selects (a screen reader reads the label, not the row).
    function labelSelection(table) {
      var head = table.querySelector("tr th");
      if (head && !head.textContent) head.appendChild(el("span", { class: "kd-sr-only", text: "Выбор" }));
      table.querySelectorAll("tr[data-document-id]").forEach(function (row) {
        var box = row.querySelector(".kd-select"), title = row.querySelector(".kd-open");
        if (box && title) box.setAttribute("aria-label", "Выбрать «" + title.textContent + "»");
      });
      return table;
    }

    // A reload (after a signing run, a change in a panel) keeps what the signer had selected of what is still
    // there. «Выбрать все» is off until there is something to select: ticked before the list came, it chose nothing.
    function loadQueue() {
      var holder = document.getElementById("kd-queue");
      var keep = selected();
      // «На согласование» (approval.js) sits above the signing queue and reloads with it.
      if (window.KlikDok.approval) window.KlikDok.approval.loadQueue(function (id) { openAndFocus(id, loadQueue); });
      return api("GET", "/documents?view=queue&limit=200").then(function (page) {
        document.getElementById("kd-queue-count").textContent = page.total ? String(page.total) : "";
        clear(holder);
        if (!page.items.length) holder.appendChild(el("p", { class: "kd-muted", id: "kd-queue-empty", text: "Документов на подпись нет." }));
        else holder.appendChild(scroller(labelSelection(documentTable(page, { select: updateSelection, open: function (id) { openAndFocus(id, loadQueue); } })), "Документы на подпись"));
        var boxes = Array.prototype.slice.call(holder.querySelectorAll(".kd-select"));
        boxes.forEach(function (b) { b.checked = keep.indexOf(parseInt(b.value, 10)) >= 0; });
        var all = document.getElementById("kd-select-all");
        all.disabled = !boxes.length;
        all.checked = boxes.length > 0 && boxes.every(function (b) { return b.checked; });
        updateSelection(); fit();
      }).catch(function (err) { showError(holder, err); });
    }

    document.getElementById("kd-select-all").addEventListener("change", function (e) {
      document.querySelectorAll("#kd-queue .kd-select").forEach(function (b) { b.checked = e.target.checked; });
      updateSelection();
    });
    // By hand: every selected document's panel with its files, digests and a .sig upload per file.
    document.getElementById("kd-sign-manual").addEventListener("click", function () {
      var ids = selected();
      var batch = clear(document.getElementById("kd-batch"));
      batch.appendChild(el("p", { class: "kd-muted", id: "kd-batch-note", text: "Выбрано документов: " + ids.length +
        ". Скачайте каждый файл, подпишите его отсоединённой подписью и загрузите файл .sig рядом с ним." }));
      ids.forEach(function (id) {
        var box = el("div", { class: "kd-batch-item" });
        batch.appendChild(box);
        openDocument(box, id, loadQueue);
      });
      fit();
    });
    if (window.KlikDok.signing) window.KlikDok.signing.mountQueue({ selected: selected, reload: loadQueue });

    // ---- «Мои документы» ------------------------------------------------------------------------------------
    var mineForm = document.getElementById("kd-mine-filters");
    function loadMine(offset) {
      var holder = document.getElementById("kd-mine");
      offset = offset || 0;
      return api("GET", "/documents?view=mine&limit=" + PAGE + "&offset=" + offset + filtersQuery(mineForm))
        .then(function (page) {
          clear(holder);
          document.getElementById("kd-mine-total").textContent = "Найдено: " + page.total;
          if (page.items.length) holder.appendChild(scroller(documentTable(page, { open: function (id) { openAndFocus(id, function () { loadMine(offset); }); } }), "Мои документы"));
          else holder.appendChild(el("p", { class: "kd-muted", id: "kd-mine-empty", text: "Таких документов нет." }));
          pager(document.getElementById("kd-mine-pager"), page, loadMine);
          fit();
        }).catch(function (err) { showError(holder, err); });
    }
    mineForm.addEventListener("submit", function (e) { e.preventDefault(); loadMine(0); });
    mineForm.querySelectorAll("input[name=role], select[name=state]").forEach(function (input) {
      input.addEventListener("change", function () { loadMine(0); });
    });

    var views = { queue: loadQueue, mine: function () { return loadMine(0); } };

    // ---- «Отдел» ----------------------------------------------------------------------------------------------
    var deptForm = document.getElementById("kd-dept-filters");
    function loadDepartment() {
      var holder = document.getElementById("kd-department");
      return api("GET", "/documents?view=department&limit=200" + filtersQuery(deptForm))
        .then(function (page) {
          clear(holder);
          holder.appendChild(el("p", { class: "kd-muted", id: "kd-dept-total", text: "Найдено: " + page.total }));
          if (page.items.length) holder.appendChild(scroller(documentTable(page, { open: function (id) { openAndFocus(id, loadDepartment); } }), "Документы отдела"));
          fit();
        }).catch(function (err) { showError(holder, err); });
    }
    if (deptForm) {
      deptForm.addEventListener("submit", function (e) { e.preventDefault(); loadDepartment(); });
      views.department = loadDepartment;
    }

    // ---- «Аудит» ----------------------------------------------------------------------------------------------
    var auditForm = document.getElementById("kd-audit-filters"), logForm = document.getElementById("kd-log-filters");
    function loadAudit() {
      var holder = document.getElementById("kd-audit");
      return api("GET", "/documents?view=all&limit=200" + filtersQuery(auditForm))
        .then(function (page) {
          clear(holder);
          holder.appendChild(el("p", { class: "kd-muted", text: "Найдено: " + page.total }));
          if (page.items.length) holder.appendChild(scroller(labelSelection(documentTable(page, { select: auditSelectionChanged, open: function (id) { openAndFocus(id); } })), "Найденные документы"));
          document.getElementById("kd-audit-select-all").checked = false;
          auditSelectionChanged(); fit();
        }).catch(function (err) { showError(holder, err); });
    }
    // The verification protocol of the selected documents, one PDF. A key per selection: the same selection sent
    // twice (a double click) is made once; another selection is another request.
    var protocolKey = null, protocolIds = "";
    function auditSelected() {
      return Array.prototype.map.call(document.querySelectorAll("#kd-audit .kd-select:checked"),
                                      function (b) { return parseInt(b.value, 10); });
    }
    function auditSelectionChanged() {
      var ids = auditSelected(), button = document.getElementById("kd-audit-protocol");
      if (button.getAttribute("aria-busy") !== "true") button.disabled = !ids.length;
      if (ids.join(",") !== protocolIds) { protocolIds = ids.join(","); protocolKey = newKey(); }
      document.getElementById("kd-audit-protocol-status").textContent = ids.length ? "Выбрано документов: " + ids.length : "";
    }
    function downloadProtocol() {
      var button = document.getElementById("kd-audit-protocol"), status = document.getElementById("kd-audit-protocol-status");
      var ids = auditSelected();
      if (!ids.length) return;
      status.textContent = "Формируется протокол проверки…";
      busy(button, function () {
        return api("POST", "/reports/protocol.pdf", ids, { key: protocolKey, raw: true })
          .then(function (resp) { return save(resp, "Протокол проверки ЭП.pdf"); });
      }).then(function () {
        // Downloaded: the next click is a new request (a protocol over 1 MiB is not kept for a replay).
        protocolKey = newKey();
        auditSelectionChanged();
        status.textContent = "Протокол проверки скачан: документов " + ids.length + ".";
      }, function (err) {
        status.textContent = "Протокол не сформирован: " + err.message;
      });
    }
    function exportCsv() {
      api("GET", "/documents?view=all&limit=200" + filtersQuery(auditForm)).then(function (page) {
        function cell(v) { return '"' + String(v === null || v === undefined ? "" : v).replace(/"/g, '""') + '"'; }
        var lines = [["№", "Документ", "Статус", "Автор", "Подписывает", "Создан", "Отправлен", "Срок"].map(cell).join(";")];
        page.items.forEach(function (d) {
          lines.push([d.id, d.title, d.state_label, d.author_name, d.current_signer_name, d.created_at, d.sent_at,
                      d.deadline].map(cell).join(";"));
        });
        var url = URL.createObjectURL(new Blob(["\ufeff" + lines.join("\r\n")], { type: "text/csv;charset=utf-8" }));
        var a = el("a", { href: url, download: "klikdok-documents.csv" });
        document.body.appendChild(a); a.click(); a.remove();
      }).catch(function (err) { showError(document.getElementById("kd-audit"), err); });
    }
    // The log: names, phrases and a document's title as a link to its panel; dates are days in the portal's zone.
    function loadLog(offset) {
      var holder = document.getElementById("kd-log");
      offset = offset || 0;
      return api("GET", "/audit?limit=" + PAGE + "&offset=" + offset + filtersQuery(logForm))
        .then(function (page) {
          clear(holder);
          document.getElementById("kd-log-total").textContent = "Записей: " + page.total;
          var table = el("table", { class: "kd-table kd-log" });
          table.appendChild(el("tr", {}, el("th", { scope: "col", text: "Время" }), el("th", { scope: "col", text: "Кто" }),
                                   el("th", { scope: "col", text: "Действие" }), el("th", { scope: "col", text: "Объект" })));
          page.items.forEach(function (r) {
            var object = r.document_id
              ? el("button", { class: "kd-link kd-log-document", type: "button", text: r.object_label,
                               "data-document-id": String(r.document_id),
                               onclick: function () { openAndFocus(r.document_id); } })
              : r.object_label;
            table.appendChild(el("tr", { "data-audit-id": String(r.id) }, el("td", { text: date(r.at) }),
              el("td", { text: r.actor_name, title: r.actor }), el("td", { text: capitalized(r.action_label), title: r.action }),
              el("td", {}, object)));
          });
          if (page.items.length) holder.appendChild(scroller(table, "Записи журнала аудита"));
          else holder.appendChild(el("p", { class: "kd-muted", id: "kd-log-empty", text: "Записей за этот период нет." }));
          pager(document.getElementById("kd-log-pager"), page, loadLog);
          fit();
        }).catch(function (err) { showError(holder, err); });
    }
    if (auditForm) {
      auditForm.addEventListener("submit", function (e) { e.preventDefault(); loadAudit(); });
      document.getElementById("kd-audit-export").addEventListener("click", exportCsv);
      document.getElementById("kd-audit-protocol").addEventListener("click", downloadProtocol);
      document.getElementById("kd-audit-select-all").addEventListener("change", function (e) {
        document.querySelectorAll("#kd-audit .kd-select").forEach(function (b) { b.checked = e.target.checked; });
        auditSelectionChanged();
      });
      logForm.addEventListener("submit", function (e) { e.preventDefault(); loadLog(0); });
      views.audit = function () { loadAudit(); return loadLog(0); };
    }

    // Views other scripts add (certificates.js: "certificates", "admin"); each is a function that loads it.
    Object.keys(window.KlikDok.views || {}).forEach(function (k) { views[k] = window.KlikDok.views[k]; });
    // A section the user may not use holds only its note: shown as it is, nothing to load.
    document.querySelectorAll(".kd-view[data-denied]").forEach(function (s) {
      views[s.id.replace(/^view-/, "")] = function () { fit(); };
    });

    function show() {
      var name = (location.hash || "#queue").slice(1);
      if (!views[name]) name = "queue";
      // A view may span several sections (the queue's agent panel sits below the shared document panel).
      document.querySelectorAll(".kd-view").forEach(function (s) {
        s.hidden = (s.getAttribute("data-view") || s.id.replace(/^view-/, "")) !== name;
      });
      document.querySelectorAll("#kd-nav a").forEach(function (a) {
        var active = a.getAttribute("data-view") === name;
        a.classList.toggle("kd-active", active);
        if (active) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
      });
      clear(detail);
      views[name]();
    }
    window.addEventListener("hashchange", show);
    show();
  }

  K.appPage = appPage;
})();
