// Comparing two versions: bpmn-js-differ gives the elements added, removed, changed and moved;
// the project's extension properties (formKey, candidates, due …) are compared here as well, so
// "due 5 working days → 3 working days" is listed. The newer version is drawn with the changes
// coloured; removed elements exist only in the older one and are listed.
import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';
import { diff } from 'bpmn-js-differ';

import { getJSON } from './api';
import { extensionSummary } from './summary';
import spiffworkflow from './spiffworkflow.json';
import translateModule from './translate';

const viewer = (container) => new NavigatedViewer({ container, additionalModules: [translateModule], moddleExtensions: { spiffworkflow } });

function elementsOf(definitions) {
  const found = {};
  const visit = (node) => {
    if (!node || typeof node !== 'object') return;
    if (node.id && node.$type && node.$type.startsWith('bpmn:')) found[node.id] = node;
    ['rootElements', 'flowElements', 'laneSets', 'lanes', 'participants', 'messageFlows'].forEach((key) => (node[key] || []).forEach(visit));
  };
  visit(definitions);
  return found;
}

export function propertyChanges(oldDefs, newDefs) {
  const before = elementsOf(oldDefs);
  const after = elementsOf(newDefs);
  const changes = [];
  Object.entries(after).forEach(([id, element]) => {
    if (!before[id]) return;
    const a = extensionSummary(before[id]);
    const b = extensionSummary(element);
    new Set([...Object.keys(a), ...Object.keys(b)]).forEach((key) => {
      if (a[key] !== b[key]) changes.push({ id, name: element.name || id, key, from: a[key], to: b[key] });
    });
  });
  return changes;
}

function row(kind, id, name, text) {
  const item = document.createElement('li');
  item.className = `studio-change studio-change-${kind}`;
  item.dataset.element = id;
  item.textContent = `${{ added: '新增', removed: '删除', changed: '修改', layout: '移动' }[kind]}　${name}（${id}）${text ? `：${text}` : ''}`;
  return item;
}

export async function startCompare(root) {
  const { older, newer } = await getJSON(root.dataset.bundles);
  const shown = viewer(root.querySelector('#studio-canvas'));
  const hidden = viewer(document.createElement('div'));
  await hidden.importXML(older.xml);
  await shown.importXML(newer.xml);
  shown.get('canvas').zoom('fit-viewport');
  const oldDefs = hidden.getDefinitions();
  const newDefs = shown.getDefinitions();
  const changes = diff(oldDefs, newDefs);
  const props = propertyChanges(oldDefs, newDefs);
  const canvas = shown.get('canvas');
  const registry = shown.get('elementRegistry');
  const mark = (id, kind) => { if (registry.get(id)) canvas.addMarker(id, `studio-diff-${kind}`); };
  const list = root.querySelector('#studio-changes');
  const rows = [];
  Object.values(changes._added).forEach((e) => { mark(e.id, 'added'); rows.push(row('added', e.id, e.name || e.$type.replace('bpmn:', ''))); });
  Object.values(changes._removed).forEach((e) => rows.push(row('removed', e.id, e.name || e.$type.replace('bpmn:', ''))));
  Object.entries(changes._changed).forEach(([id, c]) => {
    mark(id, 'changed');
    const attrs = Object.entries(c.attrs).filter(([k]) => !k.startsWith('extensionElements'))
      .map(([k, v]) => `${k} ${v.oldValue ?? '（无）'} → ${v.newValue ?? '（无）'}`).join('；');
    if (attrs) rows.push(row('changed', id, c.model.name || id, attrs));
  });
  props.forEach((p) => { mark(p.id, 'changed'); rows.push(row('changed', p.id, p.name, `${p.key} ${p.from ?? '（无）'} → ${p.to ?? '（无）'}`)); });
  Object.values(changes._layoutChanged).forEach((e) => { if (!changes._changed[e.id] && !changes._added[e.id]) { mark(e.id, 'layout'); rows.push(row('layout', e.id, e.name || e.id)); } });
  list.replaceChildren(...(rows.length ? rows : [Object.assign(document.createElement('li'), { textContent: '两个版本没有差别' })]));
  list.addEventListener('click', (e) => {
    const item = e.target.closest('[data-element]');
    const element = item && registry.get(item.dataset.element);
    if (element) canvas.scrollToElement(element);
  });
  root.classList.add('studio-ready');
}
