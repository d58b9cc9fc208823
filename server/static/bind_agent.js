/* A binding channel for «Мои сертификаты»: see the contract at the top of certificates.js. */
(function () {
  "use strict";
  var K = window.KlikDok = window.KlikDok || {};
  K.bindChannels = K.bindChannels || [];
})();
