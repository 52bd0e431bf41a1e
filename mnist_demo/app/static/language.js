/* The language switch's page side. Gradio translates the page's texts in the browser (gr.I18n) in the
   language its own module `core` holds; `changeLocale` there is what Gradio's settings panel calls. The module's
   file name changes with each Gradio build, so the server fills in __CORE__ (see i18n.language_js); importing
   it again from the same address gives the page's own instance. The choice is kept in localStorage, so a reload
   keeps it. ROLE is "load" (the page opens) or "switch" (the visitor picked a language). The event's other inputs
   (what the tabs' redraws read) pass through untouched. */
async (visitor, wanted, ...others) => {
  const KEY = 'mnist-demo-language';
  let lang = wanted;
  if ('__ROLE__' === 'load') {
    lang = localStorage.getItem(KEY) || navigator.language || 'en';
  } else {
    localStorage.setItem(KEY, lang);
  }
  const code = String(lang).toLowerCase().split('-')[0];
  if ('__ROLE__' === 'switch' || localStorage.getItem(KEY)) {
    try {
      const index = document.querySelector('script[type="module"][src*="/assets/index-"]');
      const core = await import(new URL('__CORE__', index ? index.src : location.href).href);
      await core.changeLocale(code);
    } catch (err) {
      console.warn('mnist-demo: could not switch the page language', err);
    }
  }
  // The browser tab's title follows the page's heading, once the page has redrawn it in the new language.
  setTimeout(() => {
    const heading = document.querySelector('#app-title h1');
    if (heading && heading.textContent.trim()) { document.title = heading.textContent.trim(); }
  }, 500);
  return [visitor, lang, ...others];
}
