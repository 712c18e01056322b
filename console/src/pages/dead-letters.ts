/**
 * Dead letters: pick a dead-letter topic, read why each message landed there and where it came
 * from, and replay the selected ones (or all) to their original topics. Replaying copies; the
 * dead-letter topic keeps its records (it is a log) until its retention removes them.
 */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api, errorText, headerList, type DeadLetter } from '../api.js';
import { formatCount, formatTime } from '../format.js';
import { navigate, routeHref } from '../router.js';
import { Clip, Empty, Notice, PageHeader, useLoad } from '../ui.js';

const pageSize = 200;

/** Topics that exist and hold dead letters: every subscription's dead-letter topic, and `*.dlq`. */
async function loadCandidates(): Promise<string[]> {
  const [topics, subscriptions] = await Promise.all([api.topics(), api.subscriptions()]);
  const names = new Set(topics.map((t) => t.name));
  const candidates = new Set<string>();
  for (const s of subscriptions) if (names.has(s.config.deadLetterTopic)) candidates.add(s.config.deadLetterTopic);
  for (const name of names) if (name.endsWith('.dlq')) candidates.add(name);
  return [...candidates].sort();
}

const letterKey = (letter: { partition: number; offset: number }) => `${letter.partition}:${letter.offset}`;

export function DeadLettersPage({ params }: { params: URLSearchParams }) {
  const candidates = useLoad(loadCandidates, 'dlq-topics');
  const topic = params.get('topic') ?? '';
  const list = candidates.data ?? [];
  const choices = topic !== '' && !list.includes(topic) ? [topic, ...list] : list;

  return html`
    <${PageHeader} title="Dead letters" subtitle="Messages that kept failing, expired or overflowed; replay sends copies back to their original topics" />
    ${candidates.error && html`<${Notice} kind="error">${candidates.error}<//>`}
    <section class="card toolbar">
      <label>Dead-letter topic
        <select data-testid="dlq-topic" value=${topic} onChange=${(e: Event) => navigate('dead-letters', { topic: (e.currentTarget as HTMLSelectElement).value })}>
          <option value="" disabled>${choices.length === 0 ? 'none yet' : 'choose…'}</option>
          ${choices.map((name) => html`<option value=${name}>${name}</option>`)}
        </select>
      </label>
      ${candidates.data !== null && choices.length === 0 && html`<span class="hint">No dead-letter topics yet: they appear when a queue subscription dead-letters its first message.</span>`}
    </section>
    ${topic !== '' && html`<${DeadLetterList} key=${topic} topic=${topic} />`}
  `;
}

function DeadLetterList({ topic }: { topic: string }) {
  const letters = useLoad(() => api.deadLetters(topic, { max: pageSize }), `dlq:${topic}`);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ kind: 'success' | 'error'; text: string } | null>(null);
  const list = letters.data ?? [];
  const allSelected = list.length > 0 && list.every((l) => selected.has(letterKey(l)));

  const toggle = (letter: DeadLetter) => {
    const next = new Set(selected);
    if (next.has(letterKey(letter))) next.delete(letterKey(letter));
    else next.add(letterKey(letter));
    setSelected(next);
  };
  const toggleAll = () => setSelected(allSelected ? new Set() : new Set(list.map(letterKey)));
  const replay = async (which: 'selected' | 'all') => {
    setBusy(true);
    setOutcome(null);
    try {
      const select = which === 'all' ? undefined : list.filter((l) => selected.has(letterKey(l))).map((l) => ({ partition: l.partition, offset: l.offset }));
      const { replayed } = await api.replay(topic, select);
      setOutcome({ kind: 'success', text: `Replayed ${formatCount(replayed)} message${replayed === 1 ? '' : 's'} to ${replayed === 1 ? 'its original topic' : 'their original topics'}.` });
      setSelected(new Set());
    } catch (failure) {
      setOutcome({ kind: 'error', text: `Replay failed: ${errorText(failure)}` });
    } finally {
      setBusy(false);
    }
  };

  return html`
    <section class="card">
      <div class="card-title">
        <h2>${topic}</h2>
        <div class="actions">
          <button class="button" onClick=${letters.reload}>Refresh</button>
          <button class="button primary" data-testid="replay-selected" disabled=${busy || selected.size === 0} onClick=${() => replay('selected')}>
            Replay selected${selected.size > 0 ? ` (${selected.size})` : ''}
          </button>
          <button class="button" data-testid="replay-all" disabled=${busy || list.length === 0} onClick=${() => replay('all')}>Replay all</button>
        </div>
      </div>
      ${outcome && html`<${Notice} kind=${outcome.kind}>${outcome.text}<//>`}
      ${letters.error && html`<${Notice} kind="error">${letters.error}<//>`}
      ${letters.data === null
        ? html`<${Empty}>${letters.loading ? 'Loading…' : 'No answer'}<//>`
        : list.length === 0
          ? html`<${Empty}>No dead letters.<//>`
          : html`<table class="table" data-testid="dead-letters-table">
              <thead><tr>
                <th class="check"><input type="checkbox" aria-label="select all" checked=${allSelected} onChange=${toggleAll} /></th>
                <th class="num">Position</th><th>Dead-lettered</th><th>Reason</th><th>Original</th><th class="num">Deliveries</th><th>Key</th><th>Value</th>
              </tr></thead>
              <tbody>
                ${list.map(
                  (l) => html`<tr class=${selected.has(letterKey(l)) ? 'selected' : ''} onClick=${() => toggle(l)}>
                    <td class="check"><input type="checkbox" aria-label=${`select ${letterKey(l)}`} checked=${selected.has(letterKey(l))}
                      onClick=${(e: Event) => e.stopPropagation()} onChange=${() => toggle(l)} /></td>
                    <td class="num">${l.partition}:${l.offset}</td>
                    <td class="nowrap">${formatTime(l.deadLetteredAtMs)}</td>
                    <td class="reason-cell"><span class="reason">${l.reason}</span></td>
                    <td class="nowrap"><a href=${routeHref('messages', { topic: l.originalTopic, partition: l.originalPartition, offset: l.originalOffset })}
                      onClick=${(e: Event) => e.stopPropagation()}>${l.originalTopic} · ${l.originalPartition}:${l.originalOffset}</a>
                      <div class="dim">via ${l.subscription}</div></td>
                    <td class="num">${l.deliveryCount}</td>
                    <td class="key"><${Clip} text=${l.key} charsMax=${24} /></td>
                    <td class="value" title=${headerList(l.headers).map((h) => `${h.key}: ${h.value ?? 'null'}`).join('\n') || undefined}><${Clip} text=${l.value} charsMax=${64} /></td>
                  </tr>`,
                )}
              </tbody>
            </table>
            ${list.length === pageSize && html`<p class="hint">Showing the first ${pageSize}. Replay all covers every dead letter in the topic.</p>`}`}
    </section>
  `;
}
