// dreamweb: the live character count under the dream textarea. Everything else is htmx.
// Delegated on the document so it keeps working after htmx swaps the form in again.
(function () {
  "use strict";

  // What Python's str.isspace() calls whitespace (not JS's \s, which adds U+FEFF and lacks
  // U+001C-U+001F and U+0085): the server turns these into spaces before anything else.
  var SPACES = /[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/g;
  // What the server drops: other controls, invisible format characters (zero-width, bidi,
  // BOM), lone surrogates, private-use and unassigned code points.
  var DROPPED = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}]/gu;

  // Count what dreamweb.validators.sanitize_prompt leaves: NFC, whitespace to spaces, invisible
  // characters dropped, runs collapsed, ends trimmed, then code points (not UTF-16 units, so
  // an emoji is one character). The browser's Unicode version may differ from the server's
  // at the margins (newly assigned characters); the server's answer is the one that counts.
  function cleanedLength(text) {
    var cleaned = text
      .normalize("NFC")
      .replace(SPACES, " ")
      .replace(DROPPED, "")
      .replace(/ {2,}/g, " ")
      .replace(/^ | $/g, "");
    return Array.from(cleaned).length;
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
