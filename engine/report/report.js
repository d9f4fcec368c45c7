/* cutover run report: expand/collapse, "only problems", and every <details> open while printing.
   Allowed by the page's Content-Security-Policy through its sha256 only; it never reads or writes
   markup from data (no innerHTML), so it cannot become a way in for the text the report shows. */
(function () {
  "use strict";
  function details() { return Array.prototype.slice.call(document.querySelectorAll("details")); }
  function on(id, event, handler) {
    var element = document.getElementById(id);
    if (element) { element.addEventListener(event, handler); }
  }
  on("expand-all", "click", function () { details().forEach(function (d) { d.open = true; }); });
  on("collapse-all", "click", function () { details().forEach(function (d) { d.open = false; }); });
  on("print", "click", function () { window.print(); });
  on("only-problems", "change", function (event) {
    document.body.classList.toggle("only-problems", event.target.checked);
  });
  var reopened = [];
  window.addEventListener("beforeprint", function () {
    reopened = details().filter(function (d) { return !d.open; });
    reopened.forEach(function (d) { d.open = true; });
  });
  window.addEventListener("afterprint", function () {
    reopened.forEach(function (d) { d.open = false; });
    reopened = [];
  });
}());
