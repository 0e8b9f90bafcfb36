// nidan pages: the little that needs script — copy, download as .txt, print. Everything else
// works without it; the buttons that need it stay hidden when script does not run.
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
})();
