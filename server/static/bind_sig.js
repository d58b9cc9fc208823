/* A binding channel for «Мои сертификаты»: see the contract at the top of certificates.js.
 *
 * «Файлом .sig»: the server hands out a one-time code; the person downloads it as a file, signs that file with
 * a detached signature wherever their key lives (КриптоПро CSP, КриптоАРМ ГОСТ, cryptcp, OpenSSL with GOST) and
 * uploads the .sig. A .sig normally carries its signer's certificate; when it does not, the server asks for the
 * certificate file (.cer) and the same code stays good for the second try. Proof "sig".
 */
(function () {
  "use strict";
  var K = window.KlikDok = window.KlikDok || {};
  K.bindChannels = K.bindChannels || [];
  var MAX_FILE = 64 * 1024;     // server.workflow.certificates.MAX_SIGNATURE_BYTES
  var CODE_FILE = "klikdok-kod.txt";

  function u() { return K.util; }

  // The file as the API takes it: PEM text as it is, anything else (DER) as base64.
  function fileText(file) {
    return file.arrayBuffer().then(function (buf) {
      var bytes = new Uint8Array(buf);
      var head = String.fromCharCode.apply(null, bytes.subarray(0, 11));
      if (head === "-----BEGIN ") return new TextDecoder("ascii").decode(bytes);
      var bin = "";
      for (var i = 0; i < bytes.length; i += 0x8000) {
        bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
      }
      return btoa(bin);
    });
  }

  function fileInput(id, accept) {
    return u().el("input", { type: "file", id: id, accept: accept });
  }

  function render(box, onBound) {
    var el = u().el, clear = u().clear;
    // One key per code fetch (a new one after each answer) and one per code for binding with it.
    var state = { challenge: "", url: "", codeKey: u().newKey(), bindKey: "" };
    var getButton = el("button", { class: "kd-btn", type: "button", id: "kd-sig-get", text: "Получить код подтверждения" });
    var result = el("p", { id: "kd-sig-result", class: "kd-small", role: "status" });
    var step = el("div", { id: "kd-sig-step", hidden: "hidden" });
    var codeNode = el("code", { class: "kd-command", id: "kd-sig-code" });
    var expires = el("span", { class: "kd-muted kd-small", id: "kd-sig-expires" });
    var download = el("a", { id: "kd-sig-download", class: "kd-btn kd-btn-light kd-btn-small", download: CODE_FILE,
                             text: "Скачать код файлом " + CODE_FILE });
    var sigInput = fileInput("kd-sig-file", ".sig,.sgn,.p7s,.pem,.der");
    var cerInput = fileInput("kd-sig-cert", ".cer,.crt,.pem,.der");
    // Not a .kd-field itself: that class sets display, which would beat the hidden attribute.
    var cerField = el("div", { id: "kd-sig-cert-field", hidden: "hidden" }, el("div", { class: "kd-field" },
      el("label", { for: "kd-sig-cert", class: "kd-small",
                    text: "Файл сертификата (.cer): в подписи его нет, приложите отдельно " }), cerInput));
    var sendButton = el("button", { class: "kd-btn kd-btn-blue", type: "button", id: "kd-sig-send",
                                    text: "Привязать сертификат", disabled: "disabled" });

    function say(cls, text) { result.className = "kd-small " + cls; result.textContent = text; u().fit(); }
    // Both buttons are disabled while either request runs; the one that runs says so (aria-busy).
    function busy(on, running) {
      getButton.disabled = on;
      sendButton.disabled = on || !state.challenge || !sigInput.files.length;
      if (running) { if (on) running.setAttribute("aria-busy", "true"); else running.removeAttribute("aria-busy"); }
    }

    function showCode(data) {
      state.challenge = data.challenge;
      state.bindKey = u().newKey();
      if (state.url) URL.revokeObjectURL(state.url);
      // Exactly the code's bytes: the signature must cover them and nothing else (no newline at the end).
      state.url = URL.createObjectURL(new Blob([data.challenge], { type: "text/plain" }));
      download.setAttribute("href", state.url);
      codeNode.textContent = data.challenge;
      expires.textContent = "Код одноразовый и действует до " + u().date(data.expires_at) + ".";
      sigInput.value = ""; cerInput.value = ""; cerField.hidden = true;
      step.hidden = false;
    }

    getButton.addEventListener("click", function () {
      if (getButton.disabled) return;
      busy(true, getButton);
      say("kd-muted", "");
      u().api("POST", "/me/certificates/challenge", null, { key: state.codeKey }).then(function (data) {
        state.codeKey = u().newKey();   // the next click asks for a new code
        showCode(data);
        getButton.textContent = "Получить новый код";
      }).catch(function (err) { say("kd-error", err.message); }).then(function () { busy(false, getButton); });
    });
    sigInput.addEventListener("change", function () { busy(false); });

    sendButton.addEventListener("click", function () {
      var sig = sigInput.files[0];
      var cer = !cerField.hidden && cerInput.files.length ? cerInput.files[0] : null;
      if (!sig || sendButton.disabled) return;
      if (sig.size > MAX_FILE || (cer && cer.size > MAX_FILE)) {
        say("kd-error", "Файл больше 64 КБ: это не похоже на подпись или сертификат. Выберите файл .sig (и .cer).");
        return;
      }
      busy(true, sendButton);
      say("kd-muted", "Проверяем подпись…");
      Promise.all([fileText(sig), cer ? fileText(cer) : Promise.resolve("")]).then(function (texts) {
        var body = { challenge: state.challenge, signature: texts[0], proof: "sig" };
        if (texts[1]) body.certificate = texts[1];
        return u().api("POST", "/me/certificates", body, { key: state.bindKey });
      }).then(function (res) {
        state.challenge = "";
        step.hidden = true;
        getButton.textContent = "Получить код подтверждения";
        say(res.status === "active" ? "kd-ok" : "kd-warn", res.message || "Сертификат привязан.");
        onBound(res);
      }).catch(function (err) {
        if (err.code === "certificate_required") {
          cerField.hidden = false;
          say("kd-warn", err.message);
          return;
        }
        if (err.code === "bad_challenge") {
          state.challenge = "";
          step.hidden = true;
        }
        say("kd-error", err.message);
      }).then(function () { busy(false, sendButton); });
    });

    clear(box);
    box.appendChild(el("p", { class: "kd-small", text: "Если ключ ЭП есть на этом компьютере в КриптоПро CSP, " +
      "КриптоАРМ ГОСТ или в виде файла: подпишите код подтверждения отсоединённой подписью и загрузите файл .sig. " +
      "Сертификат привяжется к вам, если подпись сделана его ключом." }));
    box.appendChild(el("div", { class: "kd-actions" }, getButton));
    step.appendChild(el("div", { class: "kd-field" }, el("div", { class: "kd-muted kd-small", text: "Код подтверждения" }),
      codeNode, el("div", {}, expires)));
    step.appendChild(el("div", { class: "kd-actions" }, download));
    step.appendChild(el("ol", { class: "kd-list", id: "kd-sig-howto" },
      el("li", { text: "Скачайте код файлом " + CODE_FILE + " (кнопка выше). Не открывайте и не меняйте его: " +
                       "подписывается точно его содержимое." }),
      el("li", { text: "Подпишите файл отсоединённой подписью: в КриптоАРМ ГОСТ — «Подписать», тип подписи " +
                       "«отсоединённая», кодировка DER, с сертификатом подписанта; в КриптоПро CSP — так же через " +
                       "«Инструменты КриптоПро» → «Создать подпись»." }),
      el("li", {}, "Или командой КриптоПро: ",
        el("code", { class: "kd-command", id: "kd-sig-cryptcp",
                     text: "cryptcp -sign -thumbprint <отпечаток> -detached -der " + CODE_FILE + " " + CODE_FILE + ".sig" }),
        " (отпечаток сертификата покажет certmgr -list -store uMy), или OpenSSL с ГОСТ: ",
        el("code", { class: "kd-command", id: "kd-sig-openssl",
                     text: "openssl cms -sign -binary -in " + CODE_FILE + " -signer cert.pem -inkey key.pem -outform DER -out " +
                           CODE_FILE + ".sig" }), "."),
      el("li", { text: "Загрузите получившийся файл .sig и нажмите «Привязать сертификат»." })));
    step.appendChild(el("div", { class: "kd-field" },
      el("label", { for: "kd-sig-file", class: "kd-small", text: "Файл подписи (.sig) " }), sigInput));
    step.appendChild(cerField);
    step.appendChild(el("div", { class: "kd-actions" }, sendButton));
    box.appendChild(step);
    box.appendChild(result);
  }

  K.bindChannels.push({ key: "sig", title: "Файлом .sig", render: render });
})();
