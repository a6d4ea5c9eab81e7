// Pre-fill the time zone from the browser; the field stays editable, and the
// form works without this script (the zone then defaults to UTC).
(function () {
  var field = document.getElementById("timezone");
  if (!field || field.getAttribute("data-from-browser") !== "yes") return;
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) field.value = zone;
  } catch (e) { /* keep the default */ }
})();
