/* The CRM tab "ЭДО": the entity's documents and the create dialog. Needs kd_core.js and document_panel.js. */
(function () {
  "use strict";
  var K = window.KlikDok;
  var u = K.util;
  var api = u.api, el = u.el, clear = u.clear, fit = u.fit, showError = u.showError, openDocument = u.openDocument,
      documentTable = u.documentTable;

  function tabPage() {
    var holder = document.getElementById("kd-documents");
    var detail = document.getElementById("kd-detail");
    var dialog = document.getElementById("kd-create");
    var chosen = [];
    var people = [];

    function load() {
      return api("GET", "/documents?view=entity&limit=100").then(function (page) {
        clear(holder);
        if (!page.items.length) {
          holder.appendChild(el("p", { class: "kd-muted", id: "kd-empty", text: "Документов пока нет. Нажмите «Создать документ»." }));
        } else {
          holder.appendChild(documentTable(page, { open: function (id) { openDocument(detail, id, load); } }));
        }
        fit();
      }).catch(function (err) { showError(holder, err); });
    }

    function renderChosen() {
      var list = clear(document.getElementById("kd-signers"));
      chosen.forEach(function (p, i) {
        list.appendChild(el("li", { "data-user-id": String(p.id) }, p.name + (p.position ? " — " + p.position : "") + " ",
          el("button", { class: "kd-link", type: "button", text: "убрать", onclick: function () { chosen.splice(i, 1); renderChosen(); } })));
      });
    }

    function renderOptions() {
      var q = document.getElementById("kd-signer-search").value.toLowerCase();
      var select = clear(document.getElementById("kd-signer-options"));
      people.filter(function (p) { return !q || p.name.toLowerCase().indexOf(q) >= 0; }).forEach(function (p) {
        select.appendChild(el("option", { value: String(p.id), text: p.name + (p.position ? " — " + p.position : "") }));
      });
    }

    function submit(send) {
      var error = document.getElementById("kd-create-error");
      error.textContent = "";
      var files = document.getElementById("kd-files").files;
      if (!files.length) { error.textContent = "Выберите файл."; return; }
      if (send && !chosen.length) { error.textContent = "Добавьте хотя бы одного подписанта."; return; }
      var form = new FormData();
      form.append("title", document.getElementById("kd-title").value);
      form.append("signers", chosen.map(function (p) { return p.id; }).join(","));
      form.append("counterparty_email", document.getElementById("kd-cp-email").value);
      form.append("send", send ? "1" : "0");
      for (var i = 0; i < files.length; i++) form.append("files", files[i], files[i].name);
      var button = document.getElementById(send ? "kd-create-send" : "kd-create-draft");
      u.busy(button, function () { return api("POST", "/documents", form, { key: createKey }); }).then(function (created) {
        dialog.close();
        document.getElementById("kd-create-form").reset();
        chosen = []; renderChosen();
        return load().then(function () { return openDocument(detail, created.id, load); });
      }).catch(function (err) { error.textContent = err.message; });
    }

    var createKey = u.newKey();   // one per dialog opening: a double click sends one document
    document.getElementById("kd-new").addEventListener("click", function () {
      createKey = u.newKey();
      dialog.showModal();
      if (!people.length) api("GET", "/directory/users").then(function (list) { people = list; renderOptions(); })
        .catch(function (err) { document.getElementById("kd-create-error").textContent = err.message; });
    });
    document.getElementById("kd-signer-search").addEventListener("input", renderOptions);
    document.getElementById("kd-signer-add").addEventListener("click", function () {
      var select = document.getElementById("kd-signer-options");
      var id = parseInt(select.value, 10);
      var person = people.filter(function (p) { return p.id === id; })[0];
      if (person && !chosen.some(function (p) { return p.id === id; })) { chosen.push(person); renderChosen(); }
    });
    document.getElementById("kd-create-send").addEventListener("click", function () { submit(true); });
    document.getElementById("kd-create-draft").addEventListener("click", function () { submit(false); });
    document.getElementById("kd-create-cancel").addEventListener("click", function () { dialog.close(); });
    load();
  }

  K.tabPage = tabPage;
})();
