/* The page script, run on load and whenever the Draw tab opens (build_app wires it).
   A fresh Gradio 6 Sketchpad starts on the "image" tool and asks the user to pick the brush first. This picks
   it for them whenever the pad is visible with no tool chosen and nothing drawn (on load, on opening the
   tab, after Clear), in any language, and never overrides a tool the user chose (brush or eraser are then
   highlighted). It also marks the prediction as a live region and names unlabelled fields, for screen readers. */
() => {
  if (window.__mnistBrushTimer) { return; }
  const pick = () => {
    // Screen readers announce each new prediction (the answer changes without focus moving to it).
    const label = document.getElementById('draw-label');
    if (label && !label.hasAttribute('aria-live')) {
      label.setAttribute('aria-live', 'polite');
      label.setAttribute('aria-atomic', 'true');
    }
    // A field whose label Gradio draws beside it rather than around it (the read-only log) gets that label as
    // its accessible name, so a screen reader says what it is.
    document.querySelectorAll('textarea:not([aria-label]), input:not([aria-label])').forEach((field) => {
      if (field.type === 'hidden' || (field.labels && field.labels.length)) { return; }
      const block = field.closest('.block');
      const info = block && block.querySelector('[data-testid="block-info"], [data-testid="block-label"]');
      if (info && info.textContent.trim()) { field.setAttribute('aria-label', info.textContent.trim()); }
    });
    const pad = document.getElementById('draw-pad');
    if (!pad || pad.offsetParent === null) { return; }
    // The brush is found by where it is, not by its name (Gradio translates "Brush" with the page's language):
    // the first tool of the toolbar's left half (brush, eraser; this pad has no image sources, so no image tool
    // before them), else the first round tool button; the English name only if Gradio's layout changes.
    const buttons = Array.from(pad.querySelectorAll('button'));
    const brush = pad.querySelector('[class*="toolbar-wrap"] [class*="half-container"]:not(.right) button')
      || pad.querySelector('button.quite-round')
      || buttons.find((b) => b.getAttribute('aria-label') === 'Brush' || b.title === 'Brush');
    if (!brush) { return; }
    const chosen = buttons.some((b) => b.classList.contains('highlight'));
    if (!chosen) { brush.click(); }
  };
  window.__mnistBrushTimer = setInterval(pick, 300);
  pick();
}
