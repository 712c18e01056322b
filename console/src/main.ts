/**
 * The console's shell: a side bar with the pages, a connection indicator fed by the throughput
 * sampler (which polls the broker every second), and the page the hash names.
 */
import { html, render } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { DeadLettersPage } from './pages/dead-letters.js';
import { GroupsPage } from './pages/groups.js';
import { MessagesPage } from './pages/messages.js';
import { OverviewPage } from './pages/overview.js';
import { TopicsPage } from './pages/topics.js';
import { routeHref, useRoute, type PageName } from './router.js';
import { subscribeThroughput } from './throughput.js';

const navigation: { page: PageName; label: string; icon: string }[] = [
  { page: 'overview', label: 'Overview', icon: 'M3 13h4v8H3zM10 8h4v13h-4zM17 3h4v18h-4z' },
  { page: 'topics', label: 'Topics', icon: 'M4 5h16v3H4zM4 10.5h16v3H4zM4 16h16v3H4z' },
  { page: 'messages', label: 'Messages', icon: 'M3 5h18v12H8l-5 4z' },
  { page: 'groups', label: 'Groups & subscriptions', icon: 'M8 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM16 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM2 20c0-3.3 2.7-6 6-6s6 2.7 6 6zM12.5 20c.3-2.2-.4-4.3-1.8-5.6 4-1.5 10.3.3 11.3 5.6z' },
  { page: 'dead-letters', label: 'Dead letters', icon: 'M4 4h16l-2 16H6zM9 9l6 6M15 9l-6 6' },
];

function Connection() {
  const [error, setError] = useState<string | null | undefined>(undefined);
  useEffect(() => subscribeThroughput((state) => setError(state.topics === null && state.error === null ? undefined : state.error)), []);
  const text = error === undefined ? 'connecting…' : error === null ? 'connected' : 'unreachable';
  return html`<div class="connection ${error === null ? 'up' : error === undefined ? '' : 'down'}" title=${error ?? ''}>
    <span class="dot"></span>${text}
  </div>`;
}

function App() {
  const route = useRoute();
  const page = {
    overview: () => html`<${OverviewPage} />`,
    topics: () => html`<${TopicsPage} params=${route.params} />`,
    messages: () => html`<${MessagesPage} params=${route.params} />`,
    groups: () => html`<${GroupsPage} params=${route.params} />`,
    'dead-letters': () => html`<${DeadLettersPage} params=${route.params} />`,
  }[route.page];
  return html`
    <aside class="sidebar">
      <a class="brand" href=${routeHref('overview')}>
        <svg viewBox="0 0 32 32" aria-hidden="true"><path d="M2 20c5 0 5-6 10-6s5 6 10 6 5-6 8-6" /><path d="M2 26c5 0 5-6 10-6s5 6 10 6 5-6 8-6" /></svg>
        <span>Weir</span>
      </a>
      <nav>
        ${navigation.map(
          (item) => html`<a href=${routeHref(item.page)} class=${item.page === route.page ? 'active' : ''} aria-current=${item.page === route.page ? 'page' : undefined}>
            <svg viewBox="0 0 24 24" aria-hidden="true"><path d=${item.icon} /></svg>${item.label}
          </a>`,
        )}
      </nav>
      <${Connection} />
    </aside>
    <main class="content" data-page=${route.page}>${page()}</main>
  `;
}

render(html`<${App} />`, document.getElementById('app')!);
