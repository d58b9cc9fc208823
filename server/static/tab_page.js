/* The CRM tab "ЭДО": the entity's documents and the create form. Needs kd_core.js and document_panel.js.
   Inside the portal «Создать документ» opens the form in a slider (BX24.openApplication: the app page renders the
   form alone, tab.html with create_only) the way the portal's own CRM opens long forms, and the list reloads
   when the slider closes; outside a frame it is an in-page <dialog>. Every opening starts clean, with a new
   idempotency key. */
(function () {
  "use strict";
  var K = window.KlikDok;
  var u = K.util;
  var api = u.api, el = u.el, clear = u.clear, fit = u.fit, showError = u.showError, openDocument = u.openDocument,
      documentTable = u.documentTable;

  function byId(id) { return document.getElementById(id); }

  function tabPage() {
    var holder = byId("kd-documents");
    var detail = byId("kd-detail");
    var box = byId("kd-create");
    var form = byId("kd-create-form");
    var error = byId("kd-create-error");
    var createOnly = box.tagName !== "DIALOG";
    var frame = window.KlikDokFrame || { canSlide: false };
    var chosen = [];
    var people = null;
    var contacts = null;
    var templates = null;
    var createKey = u.newKey();   // one per opening: a double click sends one document
    var approval = K.approval ? K.approval.createForm() : null;  // «Согласующие», «Наблюдатели» (approval.js)
    var shown = [];               // the documents the list shows now

    // The company card's roll-up (the company's, its deals' and its contacts' documents): grouped by card, with
    // filters by kind of card and by state group, a page of PAGE at a time.
    var PAGE = 100;
    var filters = { kind: "", group: "", offset: 0 };
    var filterBar = null;

    function listQuery() {
      var q = "/documents?view=entity&limit=" + PAGE + "&offset=" + filters.offset;
      if (filters.kind) q += "&kind=" + encodeURIComponent(filters.kind);
      if (filters.group) q += "&group=" + encodeURIComponent(filters.group);
      return q;
    }

    function option(value, text, current) {
      var o = el("option", { value: value, text: text });
      if (value === current) o.selected = true;
      return o;
    }

    function buildFilters(cards) {
      var kinds = [];
      cards.forEach(function (c) { if (!kinds.some(function (k) { return k.code === c.entity_type; })) kinds.push({ code: c.entity_type, label: c.kind_label }); });
      var kind = el("select", { id: "kd-rollup-kind", "aria-label": "Карточки" }, option("", "Все карточки", filters.kind));
      kinds.forEach(function (k) { kind.appendChild(option(k.code, k.label, filters.kind)); });
      var group = el("select", { id: "kd-rollup-group", "aria-label": "Состояние" },
        option("", "Все документы", filters.group), option("open", "В работе", filters.group), option("final", "Завершённые", filters.group));
      kind.addEventListener("change", function () { filters.kind = kind.value; filters.offset = 0; load(); });
      group.addEventListener("change", function () { filters.group = group.value; filters.offset = 0; load(); });
      filterBar = el("div", { class: "kd-rollup-filters", id: "kd-rollup-filters" },
        el("label", { class: "kd-sublabel", for: "kd-rollup-kind", text: "Карточки" }), kind,
        el("label", { class: "kd-sublabel", for: "kd-rollup-group", text: "Состояние" }), group);
      holder.parentNode.insertBefore(filterBar, holder);
    }

    function grouped(page) {
      var box = el("div", { class: "kd-rollup" });
      page.cards.forEach(function (card) {
        var items = page.items.filter(function (d) { return d.entity_type === card.entity_type && d.entity_id === card.entity_id; });
        if (!items.length) return;
        box.appendChild(el("h3", { class: "kd-rollup-card", "data-card": card.entity_type + ":" + card.entity_id, text: card.title }));
        box.appendChild(documentTable({ items: items }, { open: function (id) { openDocument(detail, id, load); } }));
      });
      if (page.total > page.items.length) {
        var pager = el("div", { class: "kd-actions kd-rollup-pager" },
          el("span", { class: "kd-muted", text: (page.offset + 1) + "–" + (page.offset + page.items.length) + " из " + page.total }));
        if (page.offset > 0) pager.appendChild(el("button", { class: "kd-btn", type: "button", text: "Назад",
          onclick: function () { filters.offset = Math.max(0, filters.offset - PAGE); load(); } }));
        if (page.offset + page.items.length < page.total) pager.appendChild(el("button", { class: "kd-btn", type: "button", text: "Далее",
          onclick: function () { filters.offset += PAGE; load(); } }));
        box.appendChild(pager);
      }
      return box;
    }

    var loads = 0;                // a quick change of filters must not be overwritten by an earlier, slower answer
    function load() {
      if (!holder) return Promise.resolve(null);
      var mine = ++loads;
      return api("GET", listQuery()).then(function (page) {
        if (mine !== loads) return page;
        clear(holder);
        var rollup = Boolean(filterBar) || (page.cards || []).length > 1;   // a filtered roll-up stays grouped
        if (rollup && !filterBar) buildFilters(page.cards);
        if (!page.items.length) {
          holder.appendChild(el("p", { class: "kd-muted", id: "kd-empty", text: filters.kind || filters.group
            ? "Нет документов, подходящих под отбор." : "Документов пока нет. Нажмите «Создать документ»." }));
        } else if (rollup) {
          holder.appendChild(grouped(page));
        } else {
          holder.appendChild(documentTable(page, { open: function (id) { openDocument(detail, id, load); } }));
        }
        shown = page.items.map(function (d) { return d.id; });
        fit();
        return page;
      }).catch(function (err) { showError(holder, err); return null; });
    }

    function personText(p) { return p.name + (p.position ? " — " + p.position : ""); }

    function renderChosen(focusIndex) {
      var list = clear(byId("kd-signers"));
      chosen.forEach(function (p, i) {
        list.appendChild(el("li", { "data-user-id": String(p.id) }, personText(p) + " ",
          el("button", { class: "kd-link", type: "button", text: "убрать", "aria-label": "Убрать подписанта: " + p.name,
                         onclick: function () { remove(i); } })));
      });
      if (focusIndex !== undefined) {
        var buttons = list.querySelectorAll("button");
        (buttons[Math.min(focusIndex, buttons.length - 1)] || byId("kd-signer-options")).focus();
      }
      fit();
    }

    function remove(i) { chosen.splice(i, 1); renderChosen(i); }

    function renderOptions() {
      var q = byId("kd-signer-search").value.trim().toLowerCase();
      var select = clear(byId("kd-signer-options"));
      (people || []).filter(function (p) { return !q || p.name.toLowerCase().indexOf(q) >= 0; }).forEach(function (p) {
        select.appendChild(el("option", { value: String(p.id), text: personText(p) }));
      });
      if (select.options.length) select.selectedIndex = 0;
    }

    function addSigner() {
      var id = parseInt(byId("kd-signer-options").value, 10);
      var person = (people || []).filter(function (p) { return p.id === id; })[0];
      if (person && !chosen.some(function (p) { return p.id === id; })) { chosen.push(person); renderChosen(); }
    }

    function renderContacts() {
      var select = byId("kd-contact");
      while (select.options.length > 1) select.remove(1);
      u.recipientOptions(select, (contacts || []).filter(function (r) { return r.contact_id; }));
    }

    // The directory and the card's contacts, asked once per page; a failure is said and asked again next time.
    function prepare() {
      if (!people) {
        api("GET", "/directory/users").then(function (list) {
          people = list; renderOptions();
          if (approval) approval.setPeople(list);
          fit();
        })
          .catch(function (err) { error.textContent = err.message; });
      }
      if (!templates) {
        // The portal's document generator templates for this card (issue 17): «Создать из шаблона».
        api("GET", "/templates").then(function (list) {
          templates = list;
          var select = byId("kd-template");
          list.forEach(function (t) { select.appendChild(u.el("option", { value: String(t.id), text: t.name })); });
        }).catch(function () { byId("kd-template").options[0].textContent = "Шаблоны портала недоступны — приложите файлы"; });
      }
      if (!contacts) {
        api("GET", "/counterparty/recipients").then(function (list) { contacts = list; renderContacts(); })
          .catch(function () { byId("kd-contact").options[0].textContent = "Контакты из CRM недоступны — адрес из CRM по умолчанию"; });
      }
    }

    // Nothing of a previous opening survives: not the title, files, signers, search, address, contact,
    // deadline, message or error; and the key is new, so this opening's document is a new one.
    function reset() {
      form.reset();
      var due = byId("kd-due");
      due.value = due.getAttribute("data-default");
      byId("kd-signer-search").value = "";
      byId("kd-contact").selectedIndex = 0;
      chosen = [];
      renderChosen();
      renderOptions();
      if (approval) approval.reset();
      error.textContent = "";
      createKey = u.newKey();
    }

    function openCreate() {
      if (frame.canSlide && holder) {
        var before = shown.slice();
        frame.openApplication({ klikdok: "create", entity_type: holder.getAttribute("data-entity-type"),
                                entity_id: parseInt(holder.getAttribute("data-entity-id"), 10),
                                bx24_title: "Новый документ", bx24_width: 760 })
          .then(load).then(function (page) {
            // The slider cannot hand the new document over; the list can: the one document that was not there
            // before is it, and it opens as it would after the in-page dialog.
            var added = page ? page.items.filter(function (d) { return before.indexOf(d.id) < 0; }) : [];
            if (added.length === 1) openDocument(detail, added[0].id, load);
          });
        return;
      }
      reset();
      box.showModal();
      prepare();
      byId("kd-title").focus();
      fit();
    }

    function finish() {
      if (createOnly) {
        if (frame.canSlide) { frame.closeApplication(); return; }
        reset();
        return;
      }
      box.close();
    }

    function submit(send) {
      error.textContent = "";
      var files = byId("kd-files").files;
      var templateId = byId("kd-template").value;
      if (!files.length && !templateId) { error.textContent = "Выберите файл."; byId("kd-files").focus(); return; }
      if (send && !chosen.length) {
        error.textContent = "Добавьте хотя бы одного подписанта.";
        byId("kd-signer-search").focus();
        return;
      }
      if (!byId("kd-due").value) { error.textContent = "Укажите, до какого числа подписать документ."; byId("kd-due").focus(); return; }
      var contact = byId("kd-contact").options[byId("kd-contact").selectedIndex];
      var data = new FormData();
      data.append("title", byId("kd-title").value);
      data.append("signers", chosen.map(function (p) { return p.id; }).join(","));
      data.append("counterparty_email", byId("kd-cp-email").value.trim());
      data.append("contact_id", (contact && contact.getAttribute("data-contact-id")) || "");
      data.append("contact_email", (contact && contact.value) || "");
      data.append("due_date", byId("kd-due").value);
      data.append("message", byId("kd-message").value);
      data.append("send", send ? "1" : "0");
      if (approval) approval.fill(data);
      for (var i = 0; i < files.length; i++) data.append("files", files[i], files[i].name);
      var button = byId(send ? "kd-create-send" : "kd-create-draft");
      var request = function () { return api("POST", "/documents", data, { key: createKey }); };
      if (templateId) {
        // The portal makes the document from its template; KlikDok sends its PDF (the files field is not used).
        var body = { signers: chosen.map(function (p) { return p.id; }), send: send,
                     counterparty_email: byId("kd-cp-email").value.trim(),
                     contact_id: contact && contact.getAttribute("data-contact-id") ? parseInt(contact.getAttribute("data-contact-id"), 10) : null,
                     contact_email: (contact && contact.value) || "", due_date: byId("kd-due").value,
                     message: byId("kd-message").value };
        request = function () { return api("POST", "/templates/" + templateId + "/documents", body, { key: createKey }); };
      }
      u.busy(button, request).then(function (created) {
        if (!created) return null;
        if (createOnly) {
          if (frame.canSlide) { frame.closeApplication(); return null; }
          reset();
          return openDocument(detail, created.id, function () { return Promise.resolve(null); });
        }
        box.close();
        return load().then(function () { return openDocument(detail, created.id, load); });
      }).catch(function (err) {
        // Refused (4xx): nothing was created, so the corrected form is a new request with a key of its own.
        if (err.status && err.status < 500) createKey = u.newKey();
        error.textContent = err.message;
        fit();
      });
    }

    form.addEventListener("submit", function (e) { e.preventDefault(); });
    byId("kd-signer-search").addEventListener("input", renderOptions);
    byId("kd-signer-search").addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); addSigner(); }
      if (e.key === "ArrowDown") { e.preventDefault(); byId("kd-signer-options").focus(); }
    });
    byId("kd-signer-options").addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); addSigner(); }
    });
    byId("kd-signer-options").addEventListener("dblclick", addSigner);
    byId("kd-signer-add").addEventListener("click", addSigner);
    byId("kd-create-send").addEventListener("click", function () { submit(true); });
    byId("kd-create-draft").addEventListener("click", function () { submit(false); });
    byId("kd-create-cancel").addEventListener("click", finish);
    if (createOnly) {
      reset();
      prepare();
      byId("kd-title").focus();
      // Esc leaves the slider as Отмена does (the portal's own sliders close on Esc too).
      if (frame.canSlide) {
        document.addEventListener("keydown", function (e) { if (e.key === "Escape") { e.preventDefault(); finish(); } });
      }
    } else {
      byId("kd-new").addEventListener("click", openCreate);
      // Esc closes the dialog too; either way focus goes back to the button that opened it.
      box.addEventListener("close", function () { byId("kd-new").focus(); fit(); });
    }
    load();
    fit();
  }

  K.tabPage = tabPage;
})();
