/* Runs in the page's <head>, before Gradio starts: a language the visitor chose with the switch (kept in
   localStorage by language.js) becomes the browser language Gradio reads when it first draws the page, so a
   reload comes back in that language at once instead of drawing the browser's first and switching. */
(() => {
  try {
    const saved = localStorage.getItem('mnist-demo-language');
    if (saved) {
      Object.defineProperty(navigator, 'language', { value: saved, configurable: true });
      Object.defineProperty(navigator, 'languages', { value: [saved], configurable: true });
    }
  } catch (err) { /* storage blocked: the browser's language stands */ }
})();
