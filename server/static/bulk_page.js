/* The bulk send page (placement CRM_DEAL_LIST_MENU): pick a template, the deals and the signers; each deal gets its
   own document from the template. Progress survives a reload: the job id is kept in the address (#job=<id>) and in
   the tab's sessionStorage (the portal re-POSTs the page, which loses the address), and its status is read from
   GET /api/v1/bulk-sends/<id>. «Новая отправка» forgets it. */
(function () {
  "use strict";
  var U = KlikDok.util;
  var form = document.getElementById("kd-bulk-form");
  var error = document.getElementById("kd-bulk-error");
  var key = U.newKey();
  var STORE = "klikdok-bulk-job";

  function showError(text) { error.textContent = text; error.hidden = !text; }

  function loadChoices() {
    var templates = document.getElementById("kd-bulk-template");
    U.api("GET", "/templates?entity_type=deal").then(function (list) {
      templates.textContent = "";
      templates.appendChild(U.el("option", { value: "", text: list.length ? "Выберите шаблон" : "Шаблонов нет" }));
      list.forEach(function (t) { templates.appendChild(U.el("option", { value: String(t.id), text: t.name })); });
    }).catch(function (e) { showError(e.message); });
    var signers = document.getElementById("kd-bulk-signers");
    U.api("GET", "/directory/users").then(function (people) {
      signers.textContent = "";
      people.forEach(function (p) { signers.appendChild(U.el("option", { value: String(p.id), text: p.name })); });
    }).catch(function (e) { showError(e.message); });
  }

  function render(status) {
    document.getElementById("kd-bulk-progress").hidden = false;
    document.getElementById("kd-bulk-template-name").textContent = status.template_name;
    document.getElementById("kd-bulk-done").textContent = String(status.done);
    document.getElementById("kd-bulk-total").textContent = String(status.total);
    document.getElementById("kd-bulk-failed").textContent = String(status.failed);
    var bar = document.getElementById("kd-bulk-bar");
    bar.max = status.total || 1; bar.value = status.done + status.failed;
    document.getElementById("kd-bulk-finished").hidden = !status.finished;
    var list = document.getElementById("kd-bulk-failures");
    list.textContent = "";
    status.rows.forEach(function (row) {
      if (row.state !== "failed") return;
      list.appendChild(U.el("li", { "data-deal": String(row.entity_id) },
        U.el("strong", { text: "Сделка №" + row.entity_id + ": " }), row.error));
    });
  }

  function watch(jobId) {
    form.closest("section").hidden = true;
    U.api("GET", "/bulk-sends/" + jobId).then(function (status) {
      render(status);
      if (!status.finished) setTimeout(function () { watch(jobId); }, 1000);
    }).catch(function (e) {
      // Not this user's job (another user in the same browser tab) or gone: back to an empty form.
      try { sessionStorage.removeItem(STORE); } catch (err) { /* nothing kept */ }
      showError(e.message);
      form.closest("section").hidden = false;
      loadChoices();
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    showError("");
    var deals = Array.prototype.map.call(form.querySelectorAll("input[name=card]:checked"),
      function (box) { return parseInt(box.value, 10); });
    var signers = Array.prototype.map.call(document.getElementById("kd-bulk-signers").selectedOptions,
      function (o) { return parseInt(o.value, 10); });
    var body = { template_id: parseInt(document.getElementById("kd-bulk-template").value || "0", 10),
                 deal_ids: deals, signers: signers, grant: form.getAttribute("data-grant") || "" };
    U.busy(document.getElementById("kd-bulk-start"), function () {
      return U.api("POST", "/bulk-sends", body, { key: key }).then(function (created) {
        location.hash = "job=" + created.id;
        try { sessionStorage.setItem(STORE, String(created.id)); } catch (e) { /* storage off: the hash remains */ }
        watch(created.id);
      }).catch(function (e) { showError(e.message); });
    });
  });

  document.getElementById("kd-bulk-new").addEventListener("click", function () {
    try { sessionStorage.removeItem(STORE); } catch (e) { /* nothing kept */ }
    location.hash = "";
    document.getElementById("kd-bulk-progress").hidden = true;
    form.closest("section").hidden = false;
    key = U.newKey();
    loadChoices();
  });

  var match = /job=(\d+)/.exec(location.hash);
  var kept = null;
  try { kept = sessionStorage.getItem(STORE); } catch (e) { kept = null; }
  if (match) watch(parseInt(match[1], 10));
  else if (kept) watch(parseInt(kept, 10));
  else loadChoices();
})();
