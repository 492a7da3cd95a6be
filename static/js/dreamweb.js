// dreamweb: the live character count under the dream textarea. Everything else is htmx.
// Delegated on the document so it keeps working after htmx swaps the form in again.
(function () {
  "use strict";

  // What Python's str.isspace() calls whitespace (not JS's \s, which adds U+FEFF and lacks
  // U+001C-U+001F and U+0085): the server turns these into spaces before anything else.
  var SPACES = /[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/g;
  // What the server drops: other controls, invisible format characters (zero-width, bidi,
  // BOM), lone surrogates and private-use code points (unassigned ones are kept).
  var DROPPED = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}]/gu;

  // The one prompt rule (dreamweb.validators.prompt_length_problem): at most max characters
  // as typed, and at least min left once cleaned. Characters are code points, not UTF-16
  // units, so an emoji is one character.
  function typedLength(text) {
    return Array.from(text).length;
  }

  // What dreamweb.validators.counted_length counts: whitespace to spaces, invisible characters
  // dropped, runs collapsed, ends trimmed (before NFC, like the server). The browser's Unicode
  // version may differ from the server's at the margins; the server's answer is the one that
  // counts.
  function cleanedLength(text) {
    var cleaned = text
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
    var length = typedLength(textarea.value);
    var tooShort = cleanedLength(textarea.value) < min;
    counter.textContent = length + " / " + max + " characters";
    counter.classList.toggle("out-of-range", length > 0 && (tooShort || length > max));
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
