// JSON calls to the studio's server routes. Every POST carries the page's CSRF token (the
// server refuses a POST without it); a refusal comes back as {error} in Chinese and is thrown.
const token = () => document.querySelector('meta[name="csrf-token"]').content;

async function call(url, options = {}) {
  const response = await fetch(url, { credentials: 'same-origin', ...options });
  const type = response.headers.get('Content-Type') || '';
  const body = type.includes('application/json') ? await response.json() : await response.text();
  if (!response.ok) {
    const message = (body && body.error) || `服务器返回错误（${response.status}）`;
    throw Object.assign(new Error(message), { status: response.status, body });
  }
  return body;
}

export const getJSON = (url) => call(url, { headers: { Accept: 'application/json' } });

export const postJSON = (url, data) => call(url, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRFToken': token() },
  body: JSON.stringify(data),
});

export const postForm = (url, formData) => call(url, {
  method: 'POST', headers: { Accept: 'application/json', 'X-CSRFToken': token() }, body: formData,
});
