// dreamweb: the live character count under the dream textarea. Everything else is htmx.
// Delegated on the document so it keeps working after htmx swaps the form in again.
(function () {
  "use strict";

  // Count what the server will count: whitespace runs collapse to one space, ends are trimmed.
  function cleanedLength(text) {
    return text.replace(/\s+/g, " ").trim().length;
  }

  function update(textarea) {
    var counter = document.getElementById(textarea.getAttribute("data-counter"));
    if (!counter) {
      return;
    }
    var min = Number(textarea.getAttribute("data-min"));
    var max = Number(textarea.getAttribute("data-max"));
    var length = cleanedLength(textarea.value);
    counter.textContent = length + " / " + max + " characters";
    counter.classList.toggle("out-of-range", length > 0 && (length < min || length > max));
  }

  function updateAll(root) {
    var fields = (root || document).querySelectorAll("textarea[data-counter]");
    for (var i = 0; i < fields.length; i += 1) {
      update(fields[i]);
    }
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea[data-counter]")) {
      update(event.target);
    }
  });
  document.addEventListener("htmx:load", function (event) {
    updateAll(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    updateAll(document);
  });
})();
