// Live view of a version: on each element, how many applications wait there, how many of them
// are overdue and how many hit an incident there. Clicking an element lists those applications
// with their facts (case number, applicant, step, since, due, holder, incident): a designer may
// not open review tasks or applications, so the rows carry no links that would be refused.
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

function cell(text, className) {
  return Object.assign(document.createElement('td'), { textContent: text || '—', className: className || '' });
}

function row(a) {
  const tr = document.createElement('tr');
  const state = a.incident ? `出错：${a.incident}` : a.state;
  tr.append(cell(a.case_number), cell(a.applicant), cell(a.subject), cell(a.step), cell(a.since),
    cell(a.due, a.overdue ? 'overdue' : ''), cell(a.holder), cell(state, a.incident || a.overdue ? 'overdue' : ''));
  return tr;
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
  const table = root.querySelector('#studio-live-list');
  const title = root.querySelector('#studio-live-title');
  viewer.on('element.click', async ({ element }) => {
    if (!data.counts[element.id]) return;
    const url = new URL(root.dataset.applications, location.href);   // it carries ?version= already
    url.searchParams.set('element', element.id);
    const result = await getJSON(url);
    title.textContent = `${element.businessObject.name || element.id}：${result.applications.length} 件申请`;
    table.querySelector('tbody').replaceChildren(...result.applications.map(row));
    table.hidden = false;
  });
  root.classList.add('studio-ready');
}
