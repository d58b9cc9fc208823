/* KlikDok ⇄ Bitrix24 parent window: the few postMessage calls the pages need, served locally so that
   portals without Internet access work. Wire format of the portal's frame protocol:
   the frame posts "command:params:callbackId:APP_SID" to the portal's origin, the portal answers
   "callbackId:jsonArgs". Config comes from <body data-portal-origin data-app-sid>. */
(function () {
  "use strict";
  var body = document.body;
  var origin = body.getAttribute("data-portal-origin") || "";
  var appSid = body.getAttribute("data-app-sid") || "";
  var pending = {};
  var seq = 0;
  var inFrame = window.parent && window.parent !== window;

  window.addEventListener("message", function (event) {
    if (event.origin !== origin || typeof event.data !== "string") return;
    var cut = event.data.indexOf(":");
    var id = cut < 0 ? event.data : event.data.slice(0, cut);
    if (pending[id]) {
      var resolve = pending[id];
      delete pending[id];
      var args = cut < 0 ? "" : event.data.slice(cut + 1);
      try { resolve(args ? JSON.parse(args) : null); } catch (e) { resolve(null); }
    }
  });

  // `untilAnswered`: the portal answers only when something ends (openApplication: when its slider closes), so
  // such a call waits as long as that takes instead of giving up after 3 s.
  function send(command, params, untilAnswered) {
    return new Promise(function (resolve) {
      if (!inFrame || !origin) { resolve(null); return; }
      var id = "kd" + (++seq) + "_" + Date.now().toString(36);
      pending[id] = resolve;
      var parts = [params ? JSON.stringify(params) : "", id, appSid].filter(Boolean);
      window.parent.postMessage(command + ":" + parts.join(":"), origin);
      if (!untilAnswered) setTimeout(function () { if (pending[id]) { delete pending[id]; resolve(null); } }, 3000);
    });
  }

  var lastHeight = 0;
  // The body's own box, not the document's scrollHeight: that never drops below the frame's current height,
  // so a page that got shorter (a closed panel) would keep its old, too tall frame. An open modal dialog sits
  // outside the flow, so it counts separately, at its whole height (its scrollHeight): a modal dialog is at most
  // as tall as the frame, and measured by its box it would keep a too low frame too low for ever.
  function contentHeight() {
    var height = Math.ceil(body.getBoundingClientRect().height);
    var dialogs = document.querySelectorAll("dialog[open]");
    for (var i = 0; i < dialogs.length; i++) {
      var box = dialogs[i].getBoundingClientRect();
      var top = Math.max(0, box.top + window.scrollY);
      height = Math.max(height, Math.ceil(top + Math.max(box.height, dialogs[i].scrollHeight) + 32));
    }
    return height;
  }
  function fit() {
    var height = contentHeight();
    if (Math.abs(height - lastHeight) < 2) return Promise.resolve(null);
    lastHeight = height;
    return send("resizeWindow", { width: "100%", height: height });
  }

  window.KlikDokFrame = {
    installFinish: function () { return send("setInstallFinish"); },
    resizeWindow: function (w, h) { return send("resizeWindow", { width: w, height: h }); },
    fitWindow: fit,
    // A slider with the app's own page (PLACEMENT_OPTIONS = params; bx24_width, bx24_title shape the slider);
    // resolves when the slider is closed. Only inside the portal (canSlide); the caller falls back otherwise.
    openApplication: function (params) { return send("openApplication", params, true); },
    closeApplication: function () { return send("closeApplication"); },
    canSlide: inFrame && !!origin,
    inFrame: inFrame
  };

  if (inFrame) {
    window.addEventListener("load", fit);
    if (window.ResizeObserver) {
      // The body, and every dialog: one opening (display: none to shown) or closing resizes it, so the frame
      // grows for an open dialog and shrinks back after it.
      var observer = new ResizeObserver(function () { fit(); });
      observer.observe(body);
      var dialogs = document.querySelectorAll("dialog");
      for (var i = 0; i < dialogs.length; i++) observer.observe(dialogs[i]);
    }
  }
})();
