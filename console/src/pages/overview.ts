/**
 * Overview: broker health, counts, and live throughput (messages/s and bytes/s appended, from
 * GET /v1/topics once a second), per topic as well; process figures from /metrics when served.
 */
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { Chart } from '../chart.js';
import { formatBytes, formatCompact, formatCount, formatDuration, formatRate, plural } from '../format.js';
import { routeHref } from '../router.js';
import { historyPointsMax, sampleIntervalMs, subscribeThroughput, type ThroughputState } from '../throughput.js';
import { Badge, Empty, Notice, PageHeader, Stat, useLoad } from '../ui.js';
import { parseMetrics, type ProcessFigures } from '../metrics.js';

const countsIntervalMs = 5000;
const windowMs = historyPointsMax * sampleIntervalMs;

function useThroughput(): ThroughputState | null {
  const [state, setState] = useState<ThroughputState | null>(null);
  useEffect(() => subscribeThroughput(setState), []);
  return state;
}

export function OverviewPage() {
  const throughput = useThroughput();
  const counts = useLoad(
    async () => {
      const [groups, subscriptions, ready, metrics] = await Promise.all([
        api.groups(),
        api.subscriptions(),
        api.ready().then(() => true, () => false),
        api.metricsText().then((text) => (text === null ? null : parseMetrics(text)), () => null),
      ]);
      return { groups: groups.length, subscriptions: subscriptions.length, ready, metrics };
    },
    'overview',
    countsIntervalMs,
  );
  const topics = throughput?.topics ?? null;
  const latest = throughput?.history.at(-1);
  const partitionCount = topics?.reduce((sum, t) => sum + t.partitions.length, 0) ?? 0;
  const stored = topics?.reduce((sum, t) => sum + t.partitions.reduce((s, p) => s + (p.offsetEnd - p.offsetStart), 0), 0) ?? 0;
  const sizeBytes = topics?.reduce((sum, t) => sum + t.partitions.reduce((s, p) => s + p.sizeBytes, 0), 0) ?? 0;
  const points = throughput?.history ?? [];

  return html`
    <${PageHeader} title="Overview" subtitle="Broker health and live throughput, sampled every second" />
    ${throughput?.error && html`<${Notice} kind="error">Topics: ${throughput.error}<//>`}
    ${counts.error && html`<${Notice} kind="error">${counts.error}<//>`}
    <section class="stats" data-testid="overview-stats">
      <${Stat} label="Broker" value=${health(throughput, counts.data?.ready)} detail=${counts.data?.metrics ? processDetail(counts.data.metrics) : undefined} />
      <${Stat} label="Topics" value=${topics ? formatCount(topics.length) : '…'} detail=${plural(partitionCount, 'partition')} />
      <${Stat} label="Stored" value=${formatCompact(stored)} detail=${`messages · ${formatBytes(sizeBytes)}`} />
      <${Stat} label="Consumers" value=${counts.data ? formatCount(counts.data.groups + counts.data.subscriptions) : '…'}
        detail=${counts.data ? `${plural(counts.data.groups, 'group')} · ${plural(counts.data.subscriptions, 'queue subscription')}` : undefined} />
    </section>
    <section class="charts">
      <div class="card">
        <div class="card-title"><h2>Messages in</h2><span class="figure">${latest ? formatRate(latest.messagesPerSecond, 'msg') : '—'}</span></div>
        <${Chart} points=${points.map((p) => ({ timeMs: p.timeMs, value: p.messagesPerSecond }))} windowMsMax=${windowMs}
          format=${formatCompact} series="series-a" label="messages per second" />
      </div>
      <div class="card">
        <div class="card-title"><h2>Bytes in</h2><span class="figure">${latest ? formatRate(latest.bytesPerSecond, 'bytes') : '—'}</span></div>
        <${Chart} points=${points.map((p) => ({ timeMs: p.timeMs, value: p.bytesPerSecond }))} windowMsMax=${windowMs}
          base=${1024} format=${(v: number) => formatBytes(v)} series="series-b" label="bytes per second" />
      </div>
    </section>
    <section class="card">
      <div class="card-title"><h2>Topics by throughput</h2></div>
      ${topics === null ? html`<${Empty}>Loading…<//>` : topics.length === 0 ? html`<${Empty}>No topics yet. <a href=${routeHref('topics')}>Create one</a>.<//>` : html`
        <table class="table">
          <thead><tr><th>Topic</th><th class="num">Partitions</th><th class="num">Messages</th><th class="num">Size</th><th class="num">msg/s</th><th class="num">bytes/s</th></tr></thead>
          <tbody>
            ${[...topics]
              .sort((a, b) => (throughput?.byTopic.get(b.name)?.messagesPerSecond ?? 0) - (throughput?.byTopic.get(a.name)?.messagesPerSecond ?? 0) || a.name.localeCompare(b.name))
              .map((topic) => {
                const rate = throughput?.byTopic.get(topic.name);
                return html`<tr>
                  <td><a href=${routeHref('topics', { topic: topic.name })}>${topic.name}</a></td>
                  <td class="num">${topic.partitions.length}</td>
                  <td class="num">${formatCount(topic.partitions.reduce((s, p) => s + p.offsetEnd - p.offsetStart, 0))}</td>
                  <td class="num">${formatBytes(topic.partitions.reduce((s, p) => s + p.sizeBytes, 0))}</td>
                  <td class="num">${rate ? formatCompact(rate.messagesPerSecond) : '—'}</td>
                  <td class="num">${rate ? formatBytes(rate.bytesPerSecond) : '—'}</td>
                </tr>`;
              })}
          </tbody>
        </table>`}
    </section>
  `;
}

function health(throughput: ThroughputState | null, ready: boolean | undefined) {
  if (throughput?.error) return html`<${Badge} tone="bad">unreachable<//>`;
  if (ready === false) return html`<${Badge} tone="warn">not ready<//>`;
  if (ready === true) return html`<${Badge} tone="ok">ready<//>`;
  return '…';
}

function processDetail(figures: ProcessFigures): string {
  const parts: string[] = [];
  if (figures.residentBytes !== null) parts.push(`${formatBytes(figures.residentBytes)} resident`);
  if (figures.uptimeMs !== null) parts.push(`up ${formatDuration(figures.uptimeMs)}`);
  if (figures.connections !== null) parts.push(`${formatCount(figures.connections)} connections`);
  return parts.join(' · ');
}
