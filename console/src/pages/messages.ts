/**
 * Message browser: peeks at a partition from an offset or a time (no subscription, nothing is
 * consumed). The choice lives in the hash: `#/messages?topic=T&partition=P&offset=O` or
 * `…&time=MS`. A row opens to show the whole value (JSON pretty-printed) and every header.
 */
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { api, headerList, type Message, type Topic } from '../api.js';
import { formatTime, plural, toLocalInput } from '../format.js';
import { navigate } from '../router.js';
import { Clip, Empty, Notice, PageHeader, useLoad } from '../ui.js';

const pageSizeDefault = 50;
const pageSizeMax = 500;

interface Choice {
  topic: string;
  partition: number;
  offset: number | null;
  timeMs: number | null;
  max: number;
}

function choiceOf(params: URLSearchParams): Choice {
  const number = (name: string) => (params.get(name) !== null && params.get(name) !== '' ? Number(params.get(name)) : null);
  return {
    topic: params.get('topic') ?? '',
    partition: number('partition') ?? 0,
    offset: number('offset'),
    timeMs: number('time'),
    max: Math.min(number('max') ?? pageSizeDefault, pageSizeMax),
  };
}

function go(choice: Choice, replace = false): void {
  navigate('messages', {
    topic: choice.topic,
    partition: choice.partition,
    offset: choice.offset ?? undefined,
    time: choice.offset === null ? (choice.timeMs ?? undefined) : undefined,
    max: choice.max === pageSizeDefault ? undefined : choice.max,
  }, replace);
}

export function MessagesPage({ params }: { params: URLSearchParams }) {
  const choice = choiceOf(params);
  const topics = useLoad(api.topics, 'browser-topics');
  const visible = (topics.data ?? []).filter((t) => !t.internal || t.name === choice.topic);
  const topic = visible.find((t) => t.name === choice.topic);

  useEffect(() => {
    if (choice.topic === '' && visible.length > 0) go({ ...choice, topic: visible[0]!.name }, true);
  }, [choice.topic, visible.length]);

  return html`
    <${PageHeader} title="Message browser" subtitle="Peek at a partition by offset or time; nothing is consumed" />
    ${topics.error && html`<${Notice} kind="error">${topics.error}<//>`}
    ${topics.data !== null && visible.length === 0 && html`<${Empty}>No topics yet.<//>`}
    ${topic && html`<${Controls} key=${`${choice.topic}/${choice.partition}`} topics=${visible} topic=${topic} choice=${choice} />`}
    ${choice.topic !== '' && topics.data !== null && !topic && html`<${Notice} kind="info">Topic ${choice.topic} does not exist.<//>`}
    ${topic && !topic.partitions.some((p) => p.partition === choice.partition) && html`<${Notice} kind="info">Topic ${topic.name} has no partition ${choice.partition}.<//>`}
    ${topic && topic.partitions.some((p) => p.partition === choice.partition) && html`<${MessageList} topic=${topic} choice=${choice} />`}
  `;
}

function Controls({ topics, topic, choice }: { topics: Topic[]; topic: Topic; choice: Choice }) {
  const [mode, setMode] = useState<'offset' | 'time'>(choice.offset === null && choice.timeMs !== null ? 'time' : 'offset');
  const partition = topic.partitions.find((p) => p.partition === choice.partition);
  const submit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const offsetText = String(form.get('offset') ?? '');
    const timeText = String(form.get('time') ?? '');
    go({
      ...choice,
      max: Number(form.get('max')) || pageSizeDefault,
      offset: mode === 'offset' ? (offsetText === '' ? null : Number(offsetText)) : null,
      timeMs: mode === 'time' && timeText !== '' ? new Date(timeText).getTime() : null,
    });
  };
  return html`
    <form class="card toolbar" onSubmit=${submit} data-testid="browser-controls">
      <label>Topic
        <select name="topic" value=${choice.topic} onChange=${(e: Event) => go({ topic: (e.currentTarget as HTMLSelectElement).value, partition: 0, offset: null, timeMs: null, max: choice.max })}>
          ${topics.map((t) => html`<option value=${t.name}>${t.name}</option>`)}
        </select>
      </label>
      <label>Partition
        <select name="partition" value=${choice.partition} onChange=${(e: Event) => go({ ...choice, partition: Number((e.currentTarget as HTMLSelectElement).value), offset: null, timeMs: null })}>
          ${topic.partitions.map((p) => html`<option value=${p.partition}>${p.partition}</option>`)}
        </select>
      </label>
      <div class="segmented" role="group" aria-label="Start from">
        <button type="button" class=${mode === 'offset' ? 'on' : ''} onClick=${() => setMode('offset')}>Offset</button>
        <button type="button" class=${mode === 'time' ? 'on' : ''} onClick=${() => setMode('time')}>Time</button>
      </div>
      ${mode === 'offset'
        ? html`<label>From offset<input name="offset" type="number" min="0" value=${choice.offset ?? ''} placeholder=${String(partition?.offsetStart ?? 0)} /></label>`
        : html`<label>From time<input name="time" type="datetime-local" step="1" value=${choice.timeMs !== null ? toLocalInput(choice.timeMs) : ''} /></label>`}
      <label>Show<input name="max" type="number" min="1" max=${pageSizeMax} value=${choice.max} class="narrow" /></label>
      <button class="button primary" type="submit">Show messages</button>
      ${partition && html`<span class="hint">${partition.offsetEnd > partition.offsetStart
        ? `offsets ${partition.offsetStart} … ${partition.offsetEnd - 1} · ${plural(partition.offsetEnd - partition.offsetStart, 'message')}`
        : `empty · next offset ${partition.offsetEnd}`}</span>`}
    </form>
  `;
}

function MessageList({ topic, choice }: { topic: Topic; choice: Choice }) {
  const partition = topic.partitions.find((p) => p.partition === choice.partition);
  const from = choice.offset !== null ? { offset: choice.offset } : choice.timeMs !== null ? { timestamp: choice.timeMs } : { offset: partition?.offsetStart ?? 0 };
  const key = `${topic.name}/${choice.partition}/${JSON.stringify(from)}/${choice.max}`;
  const messages = useLoad(() => api.browse(topic.name, choice.partition, from, choice.max), key);
  const [open, setOpen] = useState<number | null>(null);
  const list = messages.data ?? [];
  const first = list[0];
  const last = list.at(-1);
  const start = partition?.offsetStart ?? 0;
  const end = partition?.offsetEnd ?? 0;
  const jump = (offset: number) => go({ ...choice, offset: Math.max(offset, start), timeMs: null });

  return html`
    <section class="card">
      <div class="card-title">
        <h2>${topic.name} · partition ${choice.partition}</h2>
        <div class="actions">
          <button class="button" onClick=${() => jump(start)}>Oldest</button>
          <button class="button" disabled=${!first || first.offset <= start} onClick=${() => first && jump(first.offset - choice.max)}>← Older</button>
          <button class="button" disabled=${!last || last.offset + 1 >= end} onClick=${() => last && jump(last.offset + 1)}>Newer →</button>
          <button class="button" onClick=${() => jump(end - choice.max)}>Newest</button>
        </div>
      </div>
      ${messages.error && html`<${Notice} kind="error">${messages.error}<//>`}
      ${messages.data === null
        ? html`<${Empty}>${messages.loading ? 'Loading…' : 'No answer'}<//>`
        : list.length === 0
          ? html`<${Empty}>No messages from here on.<//>`
          : html`<table class="table messages" data-testid="messages-table">
              <thead><tr><th class="num">Offset</th><th>Timestamp</th><th>Key</th><th>Headers</th><th>Value</th></tr></thead>
              <tbody>${list.map((m) => html`<${MessageRow} message=${m} open=${open === m.offset} onToggle=${() => setOpen(open === m.offset ? null : m.offset)} />`)}</tbody>
            </table>`}
    </section>
  `;
}

function MessageRow({ message, open, onToggle }: { message: Message; open: boolean; onToggle: () => void }) {
  const headers = headerList(message.headers);
  return html`
    <tr class=${open ? 'selected' : ''} onClick=${onToggle}>
      <td class="num">${message.offset}</td>
      <td class="nowrap">${formatTime(message.timestamp)}</td>
      <td class="key"><${Clip} text=${message.key} charsMax=${32} /></td>
      <td>${headers.map((h) => html`<span class="chip" title=${h.value ?? 'null'}>${h.key}</span>`)}</td>
      <td class="value"><${Clip} text=${message.value} charsMax=${96} /></td>
    </tr>
    ${open &&
    html`<tr class="expanded">
      <td colspan="5">
        ${headers.length > 0 && html`<dl class="config">${headers.map((h) => html`<dt>${h.key}</dt><dd class="mono">${h.value ?? 'null'}</dd>`)}</dl>`}
        <pre class="payload">${pretty(message.value)}</pre>
      </td>
    </tr>`}
  `;
}

function pretty(value: string | null): string {
  if (value === null) return 'null';
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    return value;
  }
}
