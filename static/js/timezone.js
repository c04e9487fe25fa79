// Fills hidden `data-guess-timezone` inputs with the browser's IANA time zone (sign-up), so a new
// account starts in the person's own zone. Without JavaScript the server falls back to UTC.
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!zone) {
    return;
  }
  document.querySelectorAll("input[data-guess-timezone]").forEach(function (input) {
    if (!input.value) {
      input.value = zone;
    }
  });
})();
