/* Согласование and observers (issue 17): the create form's «Согласующие» and «Наблюдатели» pickers, the document
   panel's approval progress with «Согласовать» / «Вернуть на доработку», and the app page's «На согласование».
   Needs kd_core.js. Which buttons show is the detail API's `can` (approve, return); the progress rows carry their
   own labels: no state value is spelled here. */
(function () {
  "use strict";
  var K = window.KlikDok = window.KlikDok || {};
  var u = K.util;
  var api = u.api, el = u.el, clear = u.clear, fit = u.fit, date = u.date;

  function byId(id) { return document.getElementById(id); }
  function personText(p) { return p.name + (p.position ? " — " + p.position : ""); }

  // ---- the create form --------------------------------------------------------------------------------------

  // One picker (search, list, «Добавить», the chosen with «убрать») over the same directory as the signers'.
  function picker(prefix, what, changed) {
    var chosen = [];
    var people = [];
    function render(focusIndex) {
      var list = clear(byId(prefix + "-chosen"));
      chosen.forEach(function (p, i) {
        list.appendChild(el("li", { "data-user-id": String(p.id) }, personText(p) + " ",
          el("button", { class: "kd-link", type: "button", text: "убрать", "aria-label": "Убрать: " + p.name + " (" + what + ")",
                         onclick: function () { chosen.splice(i, 1); render(i); } })));
      });
      if (focusIndex !== undefined) {
        var buttons = list.querySelectorAll("button");
        (buttons[Math.min(focusIndex, buttons.length - 1)] || byId(prefix + "-options")).focus();
      }
      if (changed) changed(chosen.length);
      fit();
    }
    function options() {
      var q = byId(prefix + "-search").value.trim().toLowerCase();
      var select = clear(byId(prefix + "-options"));
      people.filter(function (p) { return !q || p.name.toLowerCase().indexOf(q) >= 0; }).forEach(function (p) {
        select.appendChild(el("option", { value: String(p.id), text: personText(p) }));
      });
      if (select.options.length) select.selectedIndex = 0;
    }
    function add() {
      var id = parseInt(byId(prefix + "-options").value, 10);
      var person = people.filter(function (p) { return p.id === id; })[0];
      if (person && !chosen.some(function (p) { return p.id === id; })) { chosen.push(person); render(); }
    }
    byId(prefix + "-search").addEventListener("input", options);
    byId(prefix + "-search").addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); add(); }
      if (e.key === "ArrowDown") { e.preventDefault(); byId(prefix + "-options").focus(); }
    });
    byId(prefix + "-options").addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); add(); } });
    byId(prefix + "-options").addEventListener("dblclick", add);
    byId(prefix + "-add").addEventListener("click", add);
    return {
      setPeople: function (list) { people = list || []; options(); },
      reset: function () { chosen = []; byId(prefix + "-search").value = ""; render(); options(); },
      ids: function () { return chosen.map(function (p) { return p.id; }).join(","); },
      count: function () { return chosen.length; }
    };
  }

  // The create form's part: null when the form has no approval fields (an older template).
  function createForm() {
    if (!byId("kd-approvers-search")) return null;
    // The form's send button says where the document goes: to the approvers when there are any.
    var send = byId("kd-create-send");
    var approvers = picker("kd-approvers", "согласующий", function (count) {
      if (send) send.textContent = count ? "Отправить на согласование" : "Отправить на подпись";
    });
    var observers = picker("kd-observers", "наблюдатель");
    function order() {
      var checked = document.querySelector("input[name=approval]:checked");
      return checked ? checked.value : "sequential";
    }
    return {
      setPeople: function (list) { approvers.setPeople(list); observers.setPeople(list); },
      reset: function () {
        approvers.reset(); observers.reset();
        var first = document.querySelector("input[name=approval]");
        if (first) first.checked = true;
      },
      fill: function (data) {
        data.append("approvers", approvers.ids());
        data.append("approval", order());
        data.append("observers", observers.ids());
      },
      hasApprovers: function () { return approvers.count() > 0; }
    };
  }

  // ---- the document panel -----------------------------------------------------------------------------------

  function section(detail) {
    var a = detail.approval;
    if (!a) return null;
    var box = el("section", { class: "kd-approval", "data-approval": "", "aria-labelledby": "kd-approval-title-" + detail.document.id });
    box.appendChild(el("h3", { class: "kd-subtitle", id: "kd-approval-title-" + detail.document.id,
                              text: a.mode ? "Согласование (" + a.mode_label + ")" : "Наблюдатели" }));
    if (a.returned_comment) {
      box.appendChild(el("div", { class: "kd-approval-returned", role: "note", "data-returned-comment": "" },
        el("strong", { text: "Возвращено на доработку — " + a.returned_by + ": " }), a.returned_comment));
    }
    if (a.steps.length) {
      var rounds = {};
      a.steps.forEach(function (s) { (rounds[s.round] = rounds[s.round] || []).push(s); });
      Object.keys(rounds).sort(function (x, y) { return (Number(x) || 1e9) - (Number(y) || 1e9); }).forEach(function (r) {
        var past = Number(r) > 0 && Number(r) < a.round;
        var ol = el("ol", { class: "kd-steps kd-approval-steps" + (past ? " kd-approval-past" : ""),
                            "aria-label": Number(r) === 0 ? "Согласующие при следующей отправке" :
                              (past ? "Согласование, круг " + r + " (прошлый)" : "Согласование, круг " + r) });
        rounds[r].forEach(function (s) {
          ol.appendChild(el("li", { class: "kd-approval-step kd-approval-" + s.state, "data-approver": String(s.user_id),
                                    "data-approval-state": s.state },
            el("strong", { text: s.display_name }), " — " + s.label + (s.acted_at ? ", " + date(s.acted_at) : ""),
            s.comment ? el("div", { class: "kd-approval-comment" }, el("strong", { text: "Комментарий: " }), s.comment) : null));
        });
        if (past) box.appendChild(el("p", { class: "kd-muted kd-small", text: "Прошлый круг согласования:" }));
        if (Number(r) === 0 && a.round) box.appendChild(el("p", { class: "kd-muted kd-small", text: "При повторной отправке согласуют:" }));
        box.appendChild(ol);
      });
    }
    if (a.observers.length) {
      box.appendChild(el("p", { class: "kd-small", "data-observers": "" }, el("strong", { text: "Наблюдатели: " }),
        a.observers.map(function (p) { return p.display_name; }).join(", ")));
    }
    return box;
  }

  // «Вернуть на доработку»: a dialog of its own each time with one idempotency key for that opening; the comment
  // is required (the server refuses an empty one too).
  function openReturn(doc, opener, refresh) {
    u.reasonDialog({
      id: "kd-return", field: "comment", okText: "Вернуть", okClass: "kd-btn-red",
      title: "Вернуть «" + doc.title + "» на доработку?",
      note: "Документ вернётся автору с вашим комментарием; после исправления он снова придёт на согласование.",
      label: "Что нужно исправить", required: "Напишите, что нужно исправить в документе.",
      path: "/documents/" + doc.id + "/return", opener: opener, done: refresh
    });
  }

  function buttons(detail, actions, actionError, refresh) {
    var doc = detail.document;
    if (detail.can.indexOf("approve") >= 0) {
      var key = u.newKey();
      var approve = el("button", { class: "kd-btn kd-btn-blue", type: "button", "data-action": "Согласовать", text: "Согласовать" });
      approve.addEventListener("click", function () {
        actionError.textContent = "";
        u.busy(approve, function () { return api("POST", "/documents/" + doc.id + "/approve", null, { key: key }); })
          .then(function (res) { if (res !== null) refresh(); })
          .catch(function (e) { actionError.textContent = e.message; fit(); });
      });
      actions.appendChild(approve);
    }
    if (detail.can.indexOf("return") >= 0) {
      var back = el("button", { class: "kd-btn kd-btn-light", type: "button", "data-action": "Вернуть на доработку",
                                "aria-haspopup": "dialog", text: "Вернуть на доработку" });
      back.addEventListener("click", function () { openReturn(doc, back, refresh); });
      actions.appendChild(back);
    }
  }

  // ---- the app page: «На согласование» above the signing queue -----------------------------------------------

  function loadQueue(open) {
    var holder = byId("kd-approvals");
    if (!holder) return Promise.resolve(null);
    return api("GET", "/documents?view=approvals&limit=200").then(function (page) {
      byId("kd-approvals-count").textContent = page.total ? "(" + page.total + ")" : "";
      clear(holder);
      if (!page.items.length) holder.appendChild(el("p", { class: "kd-muted", id: "kd-approvals-empty", text: "Документов на согласование нет." }));
      else holder.appendChild(u.documentTable(page, { open: open }));
      fit();
      return page;
    }).catch(function (err) { u.showError(holder, err); });
  }

  K.approval = { createForm: createForm, section: section, buttons: buttons, loadQueue: loadQueue };
})();
