// nidan pages: the little that needs script — copy, download as .txt, print, and security keys
// (WebAuthn has no form-only way). Everything else works without it; the buttons that need it
// stay hidden when script does not run.
(function () {
  "use strict";
  function text(id) {
    var el = document.getElementById(id);
    return el ? el.textContent.replace(/\s+$/, "") + "\n" : "";
  }
  function announce(button) {
    var status = button.parentNode.querySelector(".copied");
    if (status) { status.textContent = status.getAttribute("data-copied") || ""; }
  }
  document.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var value = text(button.getAttribute("data-copy"));
      if (button.getAttribute("data-copy") === "totp-secret") { value = value.replace(/\s+/g, ""); }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(value).then(function () { announce(button); }, function () {});
      }
    });
  });
  document.querySelectorAll("[data-download]").forEach(function (link) {
    link.addEventListener("click", function () {
      var blob = new Blob([text(link.getAttribute("data-download"))], { type: "text/plain;charset=utf-8" });
      var url = URL.createObjectURL(blob);
      link.href = url;
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    });
  });
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
  // Security keys and passkeys: a form with data-webauthn="register" or "sign-in" first posts
  // itself to its data-start URL (CSRF token, password, …) for the options, asks the browser's
  // authenticator, puts the answer (toJSON) in the hidden `credential` field and then posts for
  // real. The server's error (already in the page's language) or a generic one is shown in the
  // form's [data-webauthn-error] element.
  function webauthnError(form, message) {
    var el = form.querySelector("[data-webauthn-error]");
    if (el) { el.textContent = message || el.getAttribute("data-failed") || ""; el.hidden = false; }
  }
  document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
    var register = form.getAttribute("data-webauthn") === "register";
    var busy = false;
    form.addEventListener("submit", function (event) {
      var field = form.querySelector("input[name=credential]");
      if (field.value) { return; }
      event.preventDefault();
      if (busy) { return; }
      var P = window.PublicKeyCredential;
      if (!P || !P.parseCreationOptionsFromJSON || !P.parseRequestOptionsFromJSON) {
        var el = form.querySelector("[data-webauthn-error]");
        webauthnError(form, el && el.getAttribute("data-unsupported"));
        return;
      }
      busy = true;
      fetch(form.getAttribute("data-start"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Accept": "application/json" },
        body: new URLSearchParams(new FormData(form))
      }).then(function (response) {
        return response.json().then(function (json) {
          if (!response.ok || !json.options) { throw new Error(json.error || ""); }
          return json.options;
        }, function () { throw new Error(""); });
      }).then(function (options) {
        return register
          ? navigator.credentials.create({ publicKey: P.parseCreationOptionsFromJSON(options) })
          : navigator.credentials.get({ publicKey: P.parseRequestOptionsFromJSON(options) });
      }).then(function (credential) {
        if (!credential) { throw new Error(""); }
        field.value = JSON.stringify(credential);
        // The password and code went with the options; the answer does not need them again.
        form.querySelectorAll("input[type=password], input[name=code]").forEach(function (input) {
          input.value = "";
          input.required = false;
        });
        form.submit();
      }).catch(function (error) {
        busy = false;
        // A DOMException (cancelled, timed out, no key) says nothing useful to a person.
        webauthnError(form, error instanceof DOMException ? "" : error.message);
      });
    });
  });
})();
