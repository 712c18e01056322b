/**
 * GET /demo/chat: a self-contained chat room (no outside network). Each tab subscribes to topic
 * `chat` over the WebSocket (type stream, from the latest offset), grants credits as it shows
 * messages, and posts with `produce` frames; every open tab sees every message.
 */
export const demoChatTopic = 'chat';

export const demoChatHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Weir chat demo</title>
<style>
  :root { color-scheme: light dark; --accent: #2f6fde; }
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; display: flex; flex-direction: column; height: 100vh; }
  header { padding: .6rem 1rem; background: var(--accent); color: #fff; display: flex; gap: 1rem; align-items: center; }
  header h1 { font-size: 1.1rem; margin: 0; flex: 1; }
  #status { font-size: .85rem; opacity: .9; }
  #log { flex: 1; overflow-y: auto; padding: 1rem; margin: 0; list-style: none; }
  #log li { margin: .25rem 0; }
  #log .name { font-weight: 600; margin-right: .4rem; }
  #log .time { font-size: .75rem; opacity: .6; margin-left: .4rem; }
  form { display: flex; gap: .5rem; padding: .6rem 1rem; border-top: 1px solid #8884; }
  #name { width: 8rem; }
  #text { flex: 1; }
  input, button { font: inherit; padding: .35rem .5rem; }
</style>
</head>
<body>
<header><h1>Weir chat — topic <code>${demoChatTopic}</code></h1><span id="status">connecting…</span></header>
<ul id="log" aria-live="polite"></ul>
<form id="form" autocomplete="off">
  <input id="name" aria-label="your name" maxlength="40">
  <input id="text" aria-label="message" placeholder="Say something (open this page in several tabs)" maxlength="2000" autofocus>
  <button>Send</button>
</form>
<script>
(() => {
  const topic = ${JSON.stringify(demoChatTopic)};
  const creditsWindow = 100;
  const log = document.getElementById('log');
  const status = document.getElementById('status');
  const nameInput = document.getElementById('name');
  const textInput = document.getElementById('text');
  nameInput.value = sessionStorage.getItem('weir-chat-name') || 'guest-' + Math.floor(Math.random() * 1000);
  let socket = null;
  let frameId = 0;

  function show(name, text, timestamp, note) {
    const item = document.createElement('li');
    const who = document.createElement('span');
    who.className = 'name';
    who.textContent = name;
    const body = document.createElement('span');
    body.textContent = text;
    const time = document.createElement('span');
    time.className = 'time';
    time.textContent = new Date(timestamp).toLocaleTimeString();
    if (note) item.style.opacity = '.7';
    item.append(who, body, time);
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.append(item);
    while (log.children.length > 500) log.firstChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  async function ensureTopic() {
    const response = await fetch('/v1/topics', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: topic }) });
    if (!response.ok && response.status !== 409) throw new Error('creating topic ' + topic + ': HTTP ' + response.status);
  }

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = new WebSocket(scheme + '//' + location.host + '/v1/topics/' + topic + '/ws?type=stream');
    socket.onopen = () => {
      status.textContent = 'connected';
      socket.send(JSON.stringify({ type: 'credit', credits: creditsWindow }));
    };
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === 'messages') {
        // Credits first: a message this page cannot show must not stop the ones after it.
        socket.send(JSON.stringify({ type: 'credit', credits: frame.messages.length }));
        for (const message of frame.messages) {
          let parsed = null;
          try { parsed = JSON.parse(message.value); } catch {}
          if (parsed === null || typeof parsed !== 'object') parsed = { name: '?', text: message.value };
          show(String(parsed.name ?? '?'), String(parsed.text ?? ''), message.timestamp);
        }
      } else if (frame.type === 'error') {
        show('weir', frame.error.code + ': ' + frame.error.message, Date.now(), true);
      }
    };
    socket.onclose = (event) => {
      status.textContent = 'disconnected (' + event.code + '), retrying…';
      setTimeout(connect, 1000);
    };
  }

  document.getElementById('form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = textInput.value.trim();
    if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
    const name = nameInput.value.trim() || 'guest';
    sessionStorage.setItem('weir-chat-name', name);
    socket.send(JSON.stringify({ type: 'produce', id: ++frameId, messages: [{ key: name, value: JSON.stringify({ name, text }) }] }));
    textInput.value = '';
  });

  ensureTopic().then(connect, (error) => { status.textContent = String(error.message); setTimeout(() => ensureTopic().then(connect), 2000); });
})();
</script>
</body>
</html>
`;
