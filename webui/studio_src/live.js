// Live view of a version: on each element, how many applications wait there, how many of them
// are overdue and how many hit an incident there; clicking an element lists those applications
// with links to them.
import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';

import { getJSON } from './api';
import spiffworkflow from './spiffworkflow.json';
import translateModule from './translate';

function badge(counts) {
  const parts = [`<span class="studio-badge studio-badge-waiting" title="等待中">${counts.waiting}</span>`];
  if (counts.overdue) parts.push(`<span class="studio-badge studio-badge-overdue" title="已超期">${counts.overdue}</span>`);
  if (counts.incidents) parts.push(`<span class="studio-badge studio-badge-problem" title="出错">${counts.incidents}</span>`);
  return `<div class="studio-live-counts">${parts.join('')}</div>`;
}

export async function startLive(root) {
  const viewer = new NavigatedViewer({ container: root.querySelector('#studio-canvas'), additionalModules: [translateModule], moddleExtensions: { spiffworkflow } });
  const data = await getJSON(root.dataset.counts);
  await viewer.importXML(data.xml);
  viewer.get('canvas').zoom('fit-viewport');
  const registry = viewer.get('elementRegistry');
  Object.entries(data.counts).forEach(([id, counts]) => {
    if (!registry.get(id)) return;
    viewer.get('canvas').addMarker(id, 'studio-live');
    viewer.get('overlays').add(id, 'studio-live', { position: { bottom: 8, right: 8 }, html: badge(counts) });
  });
  const list = root.querySelector('#studio-live-list');
  const title = root.querySelector('#studio-live-title');
  viewer.on('element.click', async ({ element }) => {
    if (!data.counts[element.id]) return;
    const result = await getJSON(`${root.dataset.applications}?element=${encodeURIComponent(element.id)}`);
    title.textContent = `${element.businessObject.name || element.id}：${result.applications.length} 件申请`;
    list.replaceChildren(...result.applications.map((a) => {
      const item = document.createElement('li');
      const link = Object.assign(document.createElement('a'), { href: a.url, textContent: `${a.case_number || a.id}　${a.subject}` });
      item.append(link, ` ${a.state}`);
      return item;
    }));
  });
  root.classList.add('studio-ready');
}
