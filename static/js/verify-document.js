// Verification page: drop a PDF onto the box to check it. Without JavaScript the
// same form works with its file field and button; with it, a dropped file is put
// into the field and the form is sent (to this server only; the file is not kept).
(function () {
  "use strict";
  var form = document.getElementById("doc-check-form");
  var zone = document.getElementById("doc-drop");
  var input = document.getElementById("doc-file");
  if (!form || !zone || !input) { return; }
  var hint = zone.querySelector(".doc-drop-hint");
  var nojs = zone.querySelector(".doc-drop-nojs");
  if (hint) { hint.hidden = false; }
  if (nojs) { nojs.hidden = true; }
  function over(event) {
    event.preventDefault();
    zone.classList.add("doc-drop-over");
  }
  function leave() { zone.classList.remove("doc-drop-over"); }
  ["dragenter", "dragover"].forEach(function (name) { zone.addEventListener(name, over); });
  ["dragleave", "dragend"].forEach(function (name) { zone.addEventListener(name, leave); });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    leave();
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) { return; }
    var chosen = new DataTransfer();
    chosen.items.add(files[0]);
    input.files = chosen.files;
    form.submit();
  });
  input.addEventListener("change", function () { if (input.files.length) { form.submit(); } });
  var result = document.getElementById("doc-check-result");
  if (result) { result.focus(); }
})();
