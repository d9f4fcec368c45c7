/* cutover run report: expand/collapse, "only problems", and a shortened sha256 copied whole.
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
  // a sha256 is shown shortened (title: the whole value); copying it copies the whole value
  document.addEventListener("copy", function (event) {
    var selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || !event.clipboardData) { return; }
    var node = selection.anchorNode;
    var element = node && (node.nodeType === 1 ? node : node.parentElement);
    var sha = element && element.closest ? element.closest("code.sha[data-full]") : null;
    if (!sha) { return; }
    event.clipboardData.setData("text/plain", sha.getAttribute("data-full"));
    event.preventDefault();
  });
}());
