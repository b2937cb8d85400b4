// The toolbar's status line: what the last action did, in Chinese.
export function say(message, kind = 'info') {
  const line = document.getElementById('studio-status');
  if (!line) return;
  line.textContent = message;
  line.className = `studio-status studio-status-${kind}`;
}
