// Certificate admin pages: poll a background job and move its progress bar.
(function () {
  "use strict";
  var box = document.getElementById("cert-job");
  if (!box) { return; }
  var bar = document.getElementById("cert-job-bar");
  var state = document.getElementById("cert-job-state");
  var count = document.getElementById("cert-job-count");
  var result = document.getElementById("cert-job-result");
  var polls = 0;
  function show(job) {
    var pct = job.total ? Math.round(100 * job.done / job.total) : (job.state === "finished" ? 100 : 0);
    bar.value = pct;
    bar.textContent = pct + "%";
    bar.parentElement.setAttribute("aria-valuenow", String(pct));
    count.textContent = job.done + " / " + job.total;
    state.textContent = job.state === "finished" ? box.dataset.doneLabel :
      (job.state === "failed" ? box.dataset.failedLabel : box.dataset.runningLabel);
  }
  function poll() {
    polls += 1;
    fetch(box.dataset.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (job) {
        show(job);
        if (job.state === "finished" || job.state === "failed") {
          window.location.reload();
        } else if (polls < 1800) {
          window.setTimeout(poll, 700);
        }
      })
      .catch(function () { if (polls < 1800) { window.setTimeout(poll, 2000); } });
  }
  if (state && box.querySelector("#cert-job-state").textContent.trim() !== box.dataset.doneLabel &&
      box.querySelector("#cert-job-state").textContent.trim() !== box.dataset.failedLabel) {
    poll();
  }
  if (result) { result.setAttribute("aria-live", "polite"); }
})();
