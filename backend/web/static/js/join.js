// Join page: a guest redeems their personal code (or, on an open meeting's
// link, gives a display name) and is sent to the room, which holds them in
// the lobby until a host admits them. The code never goes into a URL; the
// join link's token goes into the request body, because the server only
// accepts the current link (links rotate, see backend/meetings/links.go).
import { boot, api, showError } from './common.js';

const form = document.getElementById('join-form');
const errorEl = document.querySelector('[data-testid="join-error"]');

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  showError(errorEl, '');
  const fd = new FormData(form);
  const body = { display_name: (fd.get('display_name') || '').trim(), link: boot.state.link || '' };
  let url = `/api/v1/meetings/${boot.state.meeting}/join`;
  if (!boot.state.open) {
    body.email = (fd.get('email') || '').trim();
    body.code = (fd.get('code') || '').trim();
    url = `/api/v1/meetings/${boot.state.meeting}/redeem`;
  }
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    const res = await api('POST', url, body);
    window.location.assign(res.room_url);
  } catch (err) {
    showError(errorEl, err.message);
    button.disabled = false;
  }
});
