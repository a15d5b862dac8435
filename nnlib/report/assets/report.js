/* nnlib report: show/hide code (globally and per cell), collapsed outputs, TOC highlighting. */
(function () {
  "use strict";
  function inputShown(cell) {
    var w = cell.querySelector(".jp-Cell-inputWrapper");
    return !!w && window.getComputedStyle(w).display !== "none";
  }
  function label(cell) {
    var b = cell.querySelector(".nnlib-code-toggle");
    if (b) b.textContent = inputShown(cell) ? "hide code" : "show code";
  }
  function setup() {
    var body = document.body, cells = document.querySelectorAll(".jp-CodeCell");
    cells.forEach(function (cell) {
      var src = cell.querySelector(".jp-Cell-inputWrapper");
      var box = document.createElement("div");
      box.className = "nnlib-cell-buttons";
      if (src && src.textContent.trim()) {
        var b = document.createElement("button");
        b.type = "button"; b.className = "nnlib-code-toggle";
        b.addEventListener("click", function () { cell.classList.toggle("nnlib-flip"); label(cell); });
        box.appendChild(b);
      }
      if (cell.classList.contains("celltag_hide-output")) {
        var o = document.createElement("button");
        o.type = "button"; o.className = "nnlib-output-toggle"; o.textContent = "show output";
        o.addEventListener("click", function () {
          var on = cell.classList.toggle("nnlib-show-output");
          o.textContent = on ? "hide output" : "show output";
        });
        box.appendChild(o);
      }
      if (box.children.length) cell.insertBefore(box, cell.firstChild);
      label(cell);
    });
    var all = document.getElementById("nnlib-toggle-code");
    if (all) {
      var update = function () {
        var hidden = body.classList.contains("nnlib-code-hidden");
        all.textContent = hidden ? "Show code" : "Hide code";
        all.setAttribute("aria-pressed", hidden ? "false" : "true");
      };
      all.addEventListener("click", function () {
        body.classList.toggle("nnlib-code-hidden");
        cells.forEach(function (cell) { cell.classList.remove("nnlib-flip"); label(cell); });
        update();
      });
      update();
    }
    var toc = document.querySelector("nav.nnlib-toc");
    if (toc && "IntersectionObserver" in window) {
      var links = {};
      toc.querySelectorAll("a[href^='#']").forEach(function (a) { links[a.getAttribute("href").slice(1)] = a; });
      var observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (e) {
          var a = links[e.target.id];
          if (a && e.isIntersecting) {
            toc.querySelectorAll("a.active").forEach(function (x) { x.classList.remove("active"); });
            a.classList.add("active");
          }
        });
      }, { rootMargin: "0px 0px -75% 0px" });
      Object.keys(links).forEach(function (id) {
        var el = document.getElementById(id);
        if (el) observer.observe(el);
      });
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
