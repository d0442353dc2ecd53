// opendepin explorer: pan and zoom the device map, filter it by kind and status.
// Plain JavaScript, no dependencies; the pages work without it.
"use strict";

(function () {
  const map = document.getElementById("map");
  if (!map) return;
  const full = { x: 0, y: 0, w: Number(map.dataset.width), h: Number(map.dataset.height) };
  let view = { ...full };
  const show = () => map.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);

  // Pixel offset inside the SVG element -> canvas coordinates of the current view.
  function toCanvas(clientX, clientY) {
    const box = map.getBoundingClientRect();
    return { x: view.x + (clientX - box.left) / box.width * view.w, y: view.y + (clientY - box.top) / box.height * view.h };
  }

  map.addEventListener("wheel", (event) => {
    event.preventDefault();
    const at = toCanvas(event.clientX, event.clientY);
    const factor = event.deltaY < 0 ? 0.8 : 1.25;
    const w = Math.min(full.w * 4, Math.max(full.w / 256, view.w * factor));
    const h = w * full.h / full.w;
    view = { x: at.x - (at.x - view.x) * w / view.w, y: at.y - (at.y - view.y) * h / view.h, w, h };
    show();
  }, { passive: false });

  let drag = null;
  map.addEventListener("pointerdown", (event) => {
    if (event.target.closest("a")) return; // a click on a device follows its link
    drag = { x: event.clientX, y: event.clientY, view: { ...view } };
    map.setPointerCapture(event.pointerId);
    map.classList.add("dragging");
  });
  map.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const box = map.getBoundingClientRect();
    view.x = drag.view.x - (event.clientX - drag.x) / box.width * view.w;
    view.y = drag.view.y - (event.clientY - drag.y) / box.height * view.h;
    show();
  });
  const stop = () => { drag = null; map.classList.remove("dragging"); };
  map.addEventListener("pointerup", stop);
  map.addEventListener("pointercancel", stop);
  map.addEventListener("dblclick", () => { view = { ...full }; show(); });

  // Legend checkboxes hide the devices (markers and cells) of a kind or a status.
  const boxes = Array.from(document.querySelectorAll("input[data-filter]"));
  function filter() {
    const off = { kind: new Set(), status: new Set() };
    for (const box of boxes) if (!box.checked) off[box.dataset.filter].add(box.value);
    for (const el of map.querySelectorAll("[data-kind]")) {
      el.classList.toggle("hidden", off.kind.has(el.dataset.kind) || off.status.has(el.dataset.status));
    }
  }
  for (const box of boxes) box.addEventListener("change", filter);
})();
