/**
 * Groups and subscriptions: consumer groups (members, assignment, committed offsets, lag) and
 * queue subscriptions (backlog, in flight, scheduled, delivery counts, oldest message age),
 * refreshed every two seconds. `#/groups?group=G` or `?subscription=TOPIC/NAME` opens one.
 */
import { html } from 'htm/preact';
import { api, type Group, type GroupMember, type Subscription } from '../api.js';
import { formatBytes, formatCount, formatDuration } from '../format.js';
import { navigate, routeHref } from '../router.js';
import { Badge, Empty, Notice, PageHeader, useLoad } from '../ui.js';

const refreshMs = 2000;
/** Details are fetched for at most this many groups per refresh (one request each). */
const groupDetailsMax = 100;

async function loadGroups(): Promise<Group[]> {
  const summaries = await api.groups();
  return Promise.all(summaries.slice(0, groupDetailsMax).map((g) => api.group(g.groupId)));
}

export function GroupsPage({ params }: { params: URLSearchParams }) {
  const groups = useLoad(loadGroups, 'groups', refreshMs);
  const subscriptions = useLoad(api.subscriptions, 'subscriptions', refreshMs);
  const selectedGroup = params.get('group');
  const selectedSubscription = params.get('subscription');
  const group = groups.data?.find((g) => g.groupId === selectedGroup);
  const subscription = subscriptions.data?.find((s) => `${s.topic}/${s.name}` === selectedSubscription);

  return html`
    <${PageHeader} title="Groups and subscriptions" subtitle="Consumer groups read with committed offsets; queue subscriptions lease messages one by one" />
    ${groups.error && html`<${Notice} kind="error">Groups: ${groups.error}<//>`}
    ${subscriptions.error && html`<${Notice} kind="error">Subscriptions: ${subscriptions.error}<//>`}
    <section class="card">
      <div class="card-title"><h2>Consumer groups</h2></div>
      ${groupTable(groups.data, selectedGroup, selectedSubscription)}
    </section>
    ${group && html`<${GroupDetail} group=${group} />`}
    <section class="card">
      <div class="card-title"><h2>Queue subscriptions</h2></div>
      ${subscriptionTable(subscriptions.data, selectedSubscription, selectedGroup)}
    </section>
    ${subscription && html`<${SubscriptionDetail} subscription=${subscription} />`}
  `;
}

/** The lag summed over the committed partitions; null (not known) while nothing is committed. */
function totalLag(group: Group): number | null {
  if (group.offsets.length === 0) return null;
  return group.offsets.reduce((sum, o) => sum + Math.max(o.lag, 0), 0);
}

function stateBadge(state: string) {
  const tone = state === 'Stable' ? 'ok' : state === 'Empty' || state === 'Dead' ? 'muted' : 'warn';
  return html`<${Badge} tone=${tone}>${state}<//>`;
}

/** The page's address with one group and one subscription open (either may be null). */
function selection(group: string | null, subscription: string | null) {
  return { group: group ?? undefined, subscription: subscription ?? undefined };
}

function groupTable(groups: Group[] | null, selected: string | null, subscription: string | null) {
  if (groups === null) return html`<${Empty}>Loading…<//>`;
  if (groups.length === 0) return html`<${Empty}>No consumer groups.<//>`;
  return html`<table class="table selectable" data-testid="groups-table">
    <thead><tr><th>Group</th><th>State</th><th>Protocol</th><th class="num">Generation</th><th class="num">Members</th><th class="num">Partitions</th><th class="num">Lag</th></tr></thead>
    <tbody>
      ${groups.map(
        (g) => html`<tr class=${g.groupId === selected ? 'selected' : ''} onClick=${() => navigate('groups', selection(g.groupId, subscription))}>
          <td><a href=${routeHref('groups', selection(g.groupId, subscription))}>${g.groupId}</a></td>
          <td>${stateBadge(g.state)}</td>
          <td>${g.protocolType === '' ? html`<span class="dim">offsets only</span>` : `${g.protocolType}${g.protocolName ? ` / ${g.protocolName}` : ''}`}</td>
          <td class="num">${g.generationId}</td>
          <td class="num">${g.members.length}</td>
          <td class="num">${g.offsets.length}</td>
          <td class="num">${lagCell(totalLag(g))}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

function lagCell(lag: number | null) {
  if (lag === null) return html`<span class="dim" title="nothing committed">—</span>`;
  return html`<span class=${lag > 0 ? 'warn-text' : ''}>${formatCount(lag)}</span>`;
}

function assignmentText(member: GroupMember): string {
  const assignment = member.assignment;
  if (assignment === null || assignment === undefined) return '—';
  if (typeof assignment === 'string') return assignment.length > 0 ? `(client-side, ${assignment.length} chars)` : '—';
  if (assignment.length === 0) return 'nothing assigned';
  return assignment.map((a) => `${a.topic} [${a.partitions.join(', ')}]`).join('; ');
}

function GroupDetail({ group }: { group: Group }) {
  return html`
    <section class="card" data-testid="group-detail">
      <div class="card-title"><h2>${group.groupId}</h2>${stateBadge(group.state)}</div>
      <div class="stack">
        <div>
          <h3>Members</h3>
          ${group.members.length === 0
            ? html`<${Empty}>No members.<//>`
            : html`<table class="table compact">
                <thead><tr><th>Member</th><th>Client</th><th>Host</th><th>Assignment</th></tr></thead>
                <tbody>
                  ${group.members.map(
                    (m) => html`<tr>
                      <td class="mono">${m.groupInstanceId ?? m.memberId}</td>
                      <td>${m.clientId}</td>
                      <td>${m.clientHost}</td>
                      <td>${assignmentText(m)}</td>
                    </tr>`,
                  )}
                </tbody>
              </table>`}
        </div>
        <div>
          <h3>Committed offsets</h3>
          ${group.offsets.length === 0
            ? html`<${Empty}>No committed offsets.<//>`
            : html`<table class="table compact" data-testid="group-offsets">
                <thead><tr><th>Topic</th><th class="num">Partition</th><th class="num">Committed</th><th class="num">High watermark</th><th class="num">Lag</th></tr></thead>
                <tbody>
                  ${group.offsets.map(
                    (o) => html`<tr>
                      <td><a href=${routeHref('topics', { topic: o.topic })}>${o.topic}</a></td>
                      <td class="num">${o.partition}</td>
                      <td class="num">${o.offset < 0 ? '—' : o.offset}</td>
                      <td class="num">${o.highWatermark}</td>
                      <td class="num">${lagCell(o.lag)}</td>
                    </tr>`,
                  )}
                </tbody>
              </table>`}
        </div>
      </div>
    </section>
  `;
}

function subscriptionTable(subscriptions: Subscription[] | null, selected: string | null, group: string | null) {
  if (subscriptions === null) return html`<${Empty}>Loading…<//>`;
  if (subscriptions.length === 0) return html`<${Empty}>No queue subscriptions.<//>`;
  return html`<table class="table selectable" data-testid="subscriptions-table">
    <thead><tr>
      <th>Topic</th><th>Subscription</th><th class="num">Consumers</th><th class="num">Backlog</th><th class="num">In flight</th>
      <th class="num">Scheduled</th><th class="num">Oldest</th><th class="num">Acked</th><th class="num">Redelivered</th><th class="num">Dead letters</th>
    </tr></thead>
    <tbody>
      ${subscriptions.map((s) => {
        const id = `${s.topic}/${s.name}`;
        return html`<tr class=${id === selected ? 'selected' : ''} onClick=${() => navigate('groups', selection(group, id))}>
          <td><a href=${routeHref('topics', { topic: s.topic })} onClick=${(e: Event) => e.stopPropagation()}>${s.topic}</a></td>
          <td><a href=${routeHref('groups', selection(group, id))}>${s.name}</a></td>
          <td class="num">${s.consumers}</td>
          <td class="num">${formatCount(s.backlogMessages)} <span class="dim">(${formatBytes(s.backlogBytes)})</span></td>
          <td class="num">${formatCount(s.inFlight)}</td>
          <td class="num">${formatCount(s.scheduled)}</td>
          <td class="num">${formatDuration(s.oldestMessageAgeMs)}</td>
          <td class="num">${formatCount(s.ackedTotal)}</td>
          <td class="num">${formatCount(s.redeliveriesTotal)}</td>
          <td class="num">${s.deadLettersTotal > 0
            ? html`<a class="warn-text" href=${routeHref('dead-letters', { topic: s.config.deadLetterTopic })} onClick=${(e: Event) => e.stopPropagation()}>${formatCount(s.deadLettersTotal)}</a>`
            : '0'}</td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}

function SubscriptionDetail({ subscription }: { subscription: Subscription }) {
  const counts = Object.entries(subscription.deliveryCounts).sort(([a], [b]) => Number(a) - Number(b));
  const countMax = Math.max(1, ...counts.map(([, n]) => n));
  return html`
    <section class="card" data-testid="subscription-detail">
      <div class="card-title">
        <h2>${subscription.topic} / ${subscription.name}</h2>
        <a class="button" href=${routeHref('dead-letters', { topic: subscription.config.deadLetterTopic })}>Dead letters</a>
      </div>
      <div class="split">
        <div>
          <h3>Partitions</h3>
          <table class="table compact">
            <thead><tr><th class="num">Partition</th><th class="num">Ack floor</th><th class="num">Backlog</th><th class="num">Bytes</th><th class="num">In flight</th><th class="num">Scheduled</th></tr></thead>
            <tbody>
              ${subscription.partitions.map(
                (p) => html`<tr>
                  <td class="num">${p.partition}</td>
                  <td class="num">${p.ackFloor}</td>
                  <td class="num">${formatCount(p.backlogMessages)}</td>
                  <td class="num">${formatBytes(p.backlogBytes)}</td>
                  <td class="num">${formatCount(p.inFlight)}</td>
                  <td class="num">${formatCount(p.scheduled)}</td>
                </tr>`,
              )}
            </tbody>
          </table>
          <h3>Delivery counts <span class="dim">(in flight and scheduled)</span></h3>
          ${counts.length === 0
            ? html`<${Empty}>Nothing in flight.<//>`
            : html`<div class="bars">${counts.map(
                ([count, messages]) => html`<div class="bar-row"><span class="bar-label">${count}×</span><span class="bar" style=${`width:${(messages / countMax) * 100}%`}></span><span class="bar-value">${formatCount(messages)}</span></div>`,
              )}</div>`}
        </div>
        <div>
          <h3>Configuration</h3>
          <dl class="config">
            ${Object.entries(subscription.config).map(([name, value]) => html`<dt>${name}</dt><dd>${configText(name, value)}</dd>`)}
          </dl>
        </div>
      </div>
    </section>
  `;
}

function configText(name: string, value: unknown): string {
  if (value === null) return 'none';
  if (typeof value === 'number' && /Ms(Max)?$/.test(name)) return formatDuration(value);
  if (typeof value === 'number' && /Bytes(Max)?$/.test(name)) return formatBytes(value);
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).map(([n, v]) => `${n} ${String(v)}`).join(', ');
  }
  return String(value);
}
