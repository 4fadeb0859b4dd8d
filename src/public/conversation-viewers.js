// "Also viewing" on a staff conversation page, kept current while the page is visible. Without this
// file the page still shows who was viewing when it loaded. The poll also keeps this viewer's own
// "seen" time fresh, so colleagues see them for as long as the page stays open.
const region = document.querySelector('[data-viewers-url]');
const POLL_MS = 20_000;

if (region instanceof HTMLElement) {
  const url = region.dataset.viewersUrl;
  let shown = region.dataset.viewers ?? '';
  let timer;

  const render = (names) => {
    const key = names.join('\n');
    // Only a change is announced: the live region is polite, and repeating the same names is noise.
    if (key === shown) return;
    shown = key;
    region.textContent = names.length ? `Also viewing: ${names.join(', ')}` : '';
  };

  const poll = async () => {
    try {
      const response = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' });
      if (response.ok) {
        const body = await response.json();
        if (Array.isArray(body.viewers)) render(body.viewers.filter((n) => typeof n === 'string'));
      }
    } catch {
      // Offline or signed out: keep what is shown and try again later.
    }
  };

  const start = () => {
    window.clearInterval(timer);
    timer = window.setInterval(poll, POLL_MS);
  };

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      void poll();
      start();
    } else {
      window.clearInterval(timer);
    }
  });
  if (document.visibilityState === 'visible') start();
}
