/* The app page: the signer's queue, the department board, the auditor's search and log; other scripts add views
   through KlikDok.views (certificates.js). Needs kd_core.js and document_panel.js. */
(function () {
  "use strict";
  var K = window.KlikDok;
  var u = K.util;
  var api = u.api, el = u.el, clear = u.clear, fit = u.fit, date = u.date, showError = u.showError,
      openDocument = u.openDocument, documentTable = u.documentTable, ACTION_LABELS = u.actionLabels;

  function appPage() {
    var detail = document.getElementById("kd-detail");
    var views = { queue: loadQueue, department: loadDepartment, audit: loadAudit };
    // Views other scripts add (certificates.js: "certificates", "admin"); each is a function that loads it.
    Object.keys(window.KlikDok.views || {}).forEach(function (k) { views[k] = window.KlikDok.views[k]; });

    function selected() {
      return Array.prototype.map.call(document.querySelectorAll("#kd-queue .kd-select:checked"),
                                      function (b) { return parseInt(b.value, 10); });
    }
    function updateSelection() {
      var none = !selected().length;
      document.getElementById("kd-sign-manual").disabled = none;
      if (window.KlikDok.signing) window.KlikDok.signing.selectionChanged(selected());
    }

    function loadQueue() {
      var holder = document.getElementById("kd-queue");
      return api("GET", "/documents?view=queue&limit=200").then(function (page) {
        document.getElementById("kd-queue-count").textContent = page.total ? String(page.total) : "";
        clear(holder);
        if (!page.items.length) holder.appendChild(el("p", { class: "kd-muted", id: "kd-queue-empty", text: "Документов на подпись нет." }));
        else holder.appendChild(documentTable(page, { select: updateSelection, open: function (id) { openDocument(detail, id, loadQueue); } }));
        document.getElementById("kd-select-all").checked = false;
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

    function filtersQuery(form) {
      var data = new FormData(form);
      var params = [];
      data.forEach(function (v, k) { if (v) params.push(encodeURIComponent(k) + "=" + encodeURIComponent(v)); });
      return params.length ? "&" + params.join("&") : "";
    }

    function loadDepartment() {
      var holder = document.getElementById("kd-department");
      return api("GET", "/documents?view=department&limit=200" + filtersQuery(document.getElementById("kd-dept-filters")))
        .then(function (page) {
          clear(holder);
          holder.appendChild(el("p", { class: "kd-muted", id: "kd-dept-total", text: "Найдено: " + page.total }));
          if (page.items.length) holder.appendChild(documentTable(page, { open: function (id) { openDocument(detail, id, loadDepartment); } }));
          fit();
        }).catch(function (err) { showError(holder, err); });
    }
    document.getElementById("kd-dept-filters").addEventListener("submit", function (e) { e.preventDefault(); loadDepartment(); });

    function loadAudit() {
      var holder = document.getElementById("kd-audit");
      return api("GET", "/documents?view=all&limit=200" + filtersQuery(document.getElementById("kd-audit-filters")))
        .then(function (page) {
          clear(holder);
          holder.appendChild(el("p", { class: "kd-muted", text: "Найдено: " + page.total }));
          if (page.items.length) holder.appendChild(documentTable(page, { open: function (id) { openDocument(detail, id); } }));
          fit();
        }).catch(function (err) { showError(holder, err); });
    }
    document.getElementById("kd-audit-filters").addEventListener("submit", function (e) { e.preventDefault(); loadAudit(); });
    document.getElementById("kd-audit-export").addEventListener("click", function () {
      api("GET", "/documents?view=all&limit=200" + filtersQuery(document.getElementById("kd-audit-filters"))).then(function (page) {
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
    });
    document.getElementById("kd-log-filters").addEventListener("submit", function (e) {
      e.preventDefault();
      var holder = document.getElementById("kd-log");
      api("GET", "/audit?limit=200" + filtersQuery(e.target)).then(function (rows) {
        clear(holder);
        var table = el("table", { class: "kd-table" }, el("tr", {}, el("th", { text: "Время" }), el("th", { text: "Кто" }),
                                                          el("th", { text: "Действие" }), el("th", { text: "Объект" })));
        rows.forEach(function (r) {
          table.appendChild(el("tr", {}, el("td", { text: date(r.at) }), el("td", { text: r.actor }),
            el("td", { text: ACTION_LABELS[r.action] || r.action }), el("td", { text: r.object_type + " " + r.object_id })));
        });
        holder.appendChild(table); fit();
      }).catch(function (err) { showError(holder, err); });
    });

    function show() {
      var name = (location.hash || "#queue").slice(1);
      if (!views[name]) name = "queue";
      // A view may span several sections (the queue's agent panel sits below the shared document panel).
      document.querySelectorAll(".kd-view").forEach(function (s) {
        s.hidden = (s.getAttribute("data-view") || s.id.replace(/^view-/, "")) !== name;
      });
      document.querySelectorAll("#kd-nav a").forEach(function (a) { a.classList.toggle("kd-active", a.getAttribute("data-view") === name); });
      clear(detail);
      views[name]();
    }
    window.addEventListener("hashchange", show);
    show();
  }

  K.appPage = appPage;
})();
