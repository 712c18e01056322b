/**
 * Topics: every topic with its partitions, sizes, retention and configuration; create one, edit
 * one's settings (more partitions, retention, flush, TTL, largest message, segments, timestamp
 * bounds), delete one (after a second click to confirm). `#/topics?topic=NAME` opens a topic's details.
 */
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, errorText, type Subscription, type Topic } from '../api.js';
import { formatBytes, formatCount, formatDuration } from '../format.js';
import { navigate, routeHref } from '../router.js';
import { flushKinds, newTopicConfig, newTopicFieldsOf, topicChanges, topicFields, topicFieldsOf } from '../topic-form.js';
import { Badge, Empty, Notice, PageHeader, useLoad } from '../ui.js';

const refreshMs = 3000;

export function TopicsPage({ params }: { params: URLSearchParams }) {
  const selected = params.get('topic');
  const topics = useLoad(api.topics, 'topics', refreshMs);
  const [creating, setCreating] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const list = topics.data ?? [];
  const topic = list.find((t) => t.name === selected);

  return html`
    <${PageHeader} title="Topics" subtitle="Partitions, sizes, retention and configuration">
      <button class="button primary" onClick=${() => setCreating(!creating)}>${creating ? 'Close' : 'New topic'}</button>
    <//>
    ${topics.error && html`<${Notice} kind="error">${topics.error}<//>`}
    ${message && html`<${Notice} kind="success">${message}<//>`}
    ${creating &&
    html`<${CreateTopic}
      onCreated=${(name: string) => {
        setCreating(false);
        setMessage(`Created topic ${name}.`);
        topics.reload();
        navigate('topics', { topic: name });
      }}
    />`}
    <section class="card">
      ${topics.data === null
        ? html`<${Empty}>${topics.loading ? 'Loading…' : 'No answer'}<//>`
        : list.length === 0
          ? html`<${Empty}>No topics yet.<//>`
          : html`<table class="table selectable" data-testid="topics-table">
              <thead><tr><th>Topic</th><th class="num">Partitions</th><th class="num">Messages</th><th class="num">Size</th><th>Retention</th><th>Flush</th></tr></thead>
              <tbody>
                ${list.map(
                  (t) => html`<tr class=${t.name === selected ? 'selected' : ''} onClick=${() => navigate('topics', { topic: t.name })}>
                    <td><a href=${routeHref('topics', { topic: t.name })}>${t.name}</a> ${t.internal && html`<${Badge} tone="muted">internal<//>`}</td>
                    <td class="num">${t.partitions.length}</td>
                    <td class="num">${formatCount(messageCount(t))}</td>
                    <td class="num">${formatBytes(t.partitions.reduce((s, p) => s + p.sizeBytes, 0))}</td>
                    <td>${retention(t)}</td>
                    <td>${flushText(t.config.flush)}</td>
                  </tr>`,
                )}
              </tbody>
            </table>`}
    </section>
    ${selected !== null && topics.data !== null && (topic
      ? html`<${TopicDetail} key=${topic.name} topic=${topic}
          onAltered=${(fields: string[]) => {
            setMessage(fields.length === 0 ? `Nothing changed in topic ${topic.name}.` : `Updated topic ${topic.name}: ${fields.join(', ')}.`);
            topics.reload();
          }}
          onDeleted=${() => {
            setMessage(`Deleted topic ${topic.name}.`);
            topics.reload();
            navigate('topics', {}, true);
          }} />`
      : html`<${Notice} kind="info">Topic ${selected} does not exist.<//>`)}
  `;
}

function messageCount(topic: Topic): number {
  return topic.partitions.reduce((sum, p) => sum + (p.offsetEnd - p.offsetStart), 0);
}

function retention(topic: Topic): string {
  const { retentionMs, retentionBytes } = topic.config;
  if (retentionMs === null && retentionBytes === null) return 'forever';
  const parts = [];
  if (retentionMs !== null) parts.push(formatDuration(retentionMs));
  if (retentionBytes !== null) parts.push(`${formatBytes(retentionBytes)} per partition`);
  return parts.join(' or ');
}

function flushText(flush: unknown): string {
  if (typeof flush === 'string') return flush;
  if (flush !== null && typeof flush === 'object') {
    const record = flush as Record<string, unknown>;
    const kind = String(record['kind'] ?? record['type'] ?? '');
    const rest = Object.entries(record).filter(([name]) => name !== 'kind' && name !== 'type');
    return rest.length > 0 ? `${kind} (${rest.map(([n, v]) => `${n} ${String(v)}`).join(', ')})` : kind;
  }
  return String(flush);
}

function configValue(name: string, value: unknown): string {
  if (value === null) return 'none';
  if (name === 'flush') return flushText(value);
  if (typeof value === 'number' && /Ms(Max)?$/.test(name)) return `${formatDuration(value)} (${formatCount(value)} ms)`;
  if (typeof value === 'number' && /Bytes(Max)?$/.test(name)) return `${formatBytes(value)} (${formatCount(value)} B)`;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function TopicDetail({ topic, onAltered, onDeleted }: { topic: Topic; onAltered: (fields: string[]) => void; onDeleted: () => void }) {
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const subscriptions = useLoad(() => api.subscriptions().then((all) => all.filter((s) => s.topic === topic.name)), `subs:${topic.name}`, refreshMs);
  const remove = async () => {
    try {
      await api.deleteTopic(topic.name);
      onDeleted();
    } catch (failure) {
      setError(errorText(failure));
      setConfirming(false);
    }
  };
  return html`
    <section class="card" data-testid="topic-detail">
      <div class="card-title">
        <h2>${topic.name}</h2>
        <div class="actions">
          <a class="button" href=${routeHref('messages', { topic: topic.name, partition: 0 })}>Browse messages</a>
          <button class="button" aria-expanded=${editing} onClick=${() => setEditing(!editing)}>Edit…</button>
          ${confirming
            ? html`<button class="button danger" onClick=${remove}>Delete ${topic.name} and its data</button>
                <button class="button" onClick=${() => setConfirming(false)}>Cancel</button>`
            : html`<button class="button danger-outline" onClick=${() => setConfirming(true)}>Delete…</button>`}
        </div>
      </div>
      ${error && html`<${Notice} kind="error">${error}<//>`}
      ${editing &&
      html`<${EditTopic}
        topic=${topic}
        onClose=${() => setEditing(false)}
        onAltered=${(fields: string[]) => {
          setEditing(false);
          onAltered(fields);
        }}
      />`}
      <div class="split">
        <div>
          <h3>Partitions</h3>
          <table class="table compact" data-testid="partitions-table">
            <thead><tr><th class="num">Partition</th><th class="num">Start</th><th class="num">End</th><th class="num">High watermark</th><th class="num">Messages</th><th class="num">Size</th></tr></thead>
            <tbody>
              ${topic.partitions.map(
                (p) => html`<tr>
                  <td class="num"><a href=${routeHref('messages', { topic: topic.name, partition: p.partition, offset: p.offsetStart })}>${p.partition}</a></td>
                  <td class="num">${p.offsetStart}</td>
                  <td class="num">${p.offsetEnd}</td>
                  <td class="num">${p.highWatermark}</td>
                  <td class="num">${formatCount(p.offsetEnd - p.offsetStart)}</td>
                  <td class="num">${formatBytes(p.sizeBytes)}</td>
                </tr>`,
              )}
            </tbody>
          </table>
          <h3>Queue subscriptions</h3>
          ${subscriptionList(subscriptions.data)}
        </div>
        <div>
          <h3>Configuration</h3>
          <dl class="config">
            ${Object.entries(topic.config).map(([name, value]) => html`<dt>${name}</dt><dd>${configValue(name, value)}</dd>`)}
          </dl>
        </div>
      </div>
    </section>
  `;
}

function subscriptionList(subscriptions: Subscription[] | null) {
  if (subscriptions === null) return html`<${Empty}>Loading…<//>`;
  if (subscriptions.length === 0) return html`<${Empty}>None.<//>`;
  return html`<ul class="plain">
    ${subscriptions.map(
      (s) => html`<li><a href=${routeHref('groups', { subscription: `${s.topic}/${s.name}` })}>${s.name}</a> · ${formatCount(s.backlogMessages)} in backlog, ${formatCount(s.inFlight)} in flight</li>`,
    )}
  </ul>`;
}

function CreateTopic({ onCreated }: { onCreated: (name: string) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const name = String(form.get('name') ?? '').trim();
    const partitions = Number(form.get('partitions'));
    setBusy(true);
    try {
      await api.createTopic(name, partitions, newTopicConfig(newTopicFieldsOf(form)));
      onCreated(name);
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };
  return html`
    <form class="card form" onSubmit=${submit} data-testid="create-topic">
      <h2>New topic</h2>
      ${error && html`<${Notice} kind="error">${error}<//>`}
      <div class="fields">
        <label>Name<input name="name" required pattern="[a-zA-Z0-9._\\-]+" placeholder="orders" autofocus /></label>
        <label>Partitions<input name="partitions" type="number" min="1" max="1000" value="1" required /></label>
        <${NewLimit} label="Retention (hours)" name="retentionHours" noneName="retentionNone" noneText="No limit" noneLabel="No limit on retention by time" />
        <${NewLimit} label="Retention per partition (MiB)" name="retentionMebibytes" noneName="retentionBytesNone" noneText="No limit" noneLabel="No limit on retention by size" />
        <${NewLimit} label="Timestamps ahead, at most (hours)" name="timestampAheadHoursMax" noneName="timestampAheadNone" noneText="No bound" noneLabel="No bound on timestamps ahead" />
        <${NewLimit} label="Timestamps behind, at most (hours)" name="timestampBehindHoursMax" noneName="timestampBehindNone" noneText="No bound" noneLabel="No bound on timestamps behind" />
      </div>
      <div class="actions"><button class="button primary" type="submit" disabled=${busy}>Create topic</button></div>
    </form>
  `;
}

/**
 * An optional limit in the *New topic* form: a number, empty for the broker's default, or its
 * "no limit" box ticked for none (the number field is then disabled and not sent).
 */
function NewLimit({ label, name, noneName, noneText, noneLabel }: { label: string; name: string; noneName: string; noneText: string; noneLabel: string }) {
  const [none, setNone] = useState(false);
  return html`
    <div class="field">
      <label>${label}<input name=${name} type="number" min="0" step="any" placeholder=${none ? noneText.toLowerCase() : 'broker default'} disabled=${none} /></label>
      <label class="check-label">
        <input type="checkbox" name=${noneName} checked=${none} aria-label=${noneLabel} onChange=${(e: Event) => setNone((e.currentTarget as HTMLInputElement).checked)} />
        ${noneText}
      </label>
    </div>
  `;
}

/**
 * Prefilled with the topic's settings as they were when the form opened (the list refreshing
 * underneath does not overwrite what the user typed); sends only the fields changed.
 */
function EditTopic({ topic, onAltered, onClose }: { topic: Topic; onAltered: (fields: string[]) => void; onClose: () => void }) {
  const [opened] = useState(() => topicFields(topic));
  const [flush, setFlush] = useState(opened.flush);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []); // `autofocus` does not act on a form added to a loaded page
  const submit = async (event: Event) => {
    event.preventDefault();
    const changes = topicChanges(opened, topicFieldsOf(new FormData(event.currentTarget as HTMLFormElement)));
    const fields = Object.keys(changes);
    if (fields.length === 0) return onAltered(fields);
    setBusy(true);
    try {
      await api.alterTopic(topic.name, changes);
      onAltered(fields);
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };
  return html`
    <form class="form inset" onSubmit=${submit} aria-label=${`Edit ${topic.name}`} data-testid="edit-topic">
      <h3>Edit settings</h3>
      ${error && html`<${Notice} kind="error">${error}<//>`}
      <div class="fields">
        <div class="field">
          <label>Partitions
            <input name="partitions" type="number" min=${opened.partitions} defaultValue=${opened.partitions} required ref=${first} aria-describedby="edit-partitions-hint" />
          </label>
          <span class="hint" id="edit-partitions-hint">At least ${opened.partitions}: partitions can only be added.</span>
        </div>
        <label>Retention (hours)<input name="retentionHours" type="number" min="0" step="any" defaultValue=${opened.retentionHours} placeholder="forever" /></label>
        <label>Retention per partition (MiB)<input name="retentionMebibytes" type="number" min="0" step="any" defaultValue=${opened.retentionMebibytes} placeholder="no bound" /></label>
        <label>Flush
          <select name="flush" value=${flush} onChange=${(e: Event) => setFlush((e.currentTarget as HTMLSelectElement).value)}>
            ${flushKinds.map((kind) => html`<option value=${kind}>${kind}</option>`)}
          </select>
        </label>
        ${flush === 'interval' &&
        html`<label>Flush interval (ms)<input name="flushIntervalMs" type="number" min="1" defaultValue=${opened.flushIntervalMs} required /></label>`}
        <label>Message TTL (hours)<input name="messageTtlHours" type="number" min="0" step="any" defaultValue=${opened.messageTtlHours} placeholder="none" /></label>
        <label>Largest message (KiB)<input name="messageKibibytesMax" type="number" min="1" step="any" defaultValue=${opened.messageKibibytesMax} required /></label>
        <label>Segment size (MiB)<input name="segmentMebibytesMax" type="number" min="0" step="any" defaultValue=${opened.segmentMebibytesMax} required /></label>
        <label>Segment age (hours)<input name="segmentAgeHoursMax" type="number" min="0" step="any" defaultValue=${opened.segmentAgeHoursMax} required /></label>
        <label>Timestamps ahead, at most (hours)<input name="timestampAheadHoursMax" type="number" min="0" step="any" defaultValue=${opened.timestampAheadHoursMax} placeholder="no bound" /></label>
        <label>Timestamps behind, at most (hours)<input name="timestampBehindHoursMax" type="number" min="0" step="any" defaultValue=${opened.timestampBehindHoursMax} placeholder="no bound" /></label>
      </div>
      <div class="actions">
        <button class="button primary" type="submit" disabled=${busy}>Save changes</button>
        <button class="button" type="button" onClick=${onClose}>Cancel</button>
      </div>
    </form>
  `;
}
