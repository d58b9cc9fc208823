/* The counterparty's page: while a form is being sent its button is disabled (aria-busy, «Отправляем…»), so a
   double click sends it once. The forms work without this script; the server keeps the first answer to each
   form's key anyway (the key is in the form's action), so a form sent twice still signs or rejects once. */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.getAttribute("data-sending")) { event.preventDefault(); return; }
    form.setAttribute("data-sending", "true");
    var button = event.submitter || form.querySelector("button[type=submit]");
    if (!button) return;
    button.setAttribute("data-label", button.textContent);
    // Disabled after the browser has taken the submission: disabling it inside this handler could drop it.
    setTimeout(function () {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      button.textContent = "Отправляем…";
    }, 0);
  });
  // Back to a page kept by the browser: its forms may be sent again (with the same key, so still once).
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    Array.prototype.forEach.call(document.querySelectorAll("form[data-sending]"), function (form) {
      form.removeAttribute("data-sending");
      Array.prototype.forEach.call(form.querySelectorAll("button[aria-busy]"), function (button) {
        button.disabled = false;
        button.removeAttribute("aria-busy");
        button.textContent = button.getAttribute("data-label") || button.textContent;
      });
    });
  });
})();
