// The console works without this script; it only keeps an officer from
// starting the same verification twice while the first one reads the log.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("verify-form");
  if (!form) {
    return;
  }
  form.addEventListener("submit", function () {
    var button = document.getElementById("verify-button");
    var busy = document.getElementById("verify-busy");
    if (button) {
      button.disabled = true;
      button.textContent = "Verifying…";
    }
    if (busy) {
      busy.hidden = false;
    }
  });
});
