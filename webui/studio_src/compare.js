// Comparing two versions: the list of changes is the server's (handlers/version_diff.py, drawn
// into the page), and the same changes colour the newer diagram — added green, changed orange.
// bpmn-js-differ adds only what the server does not compare: shapes that merely moved (blue).
import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';
import { diff } from 'bpmn-js-differ';

import { getJSON } from './api';
import spiffworkflow from './spiffworkflow.json';
import translateModule from './translate';

const viewer = (container) => new NavigatedViewer({ container, additionalModules: [translateModule], moddleExtensions: { spiffworkflow } });

export async function startCompare(root) {
  const { older, newer, changes } = await getJSON(root.dataset.bundles);
  const shown = viewer(root.querySelector('#studio-canvas'));
  const hidden = viewer(document.createElement('div'));
  await hidden.importXML(older.xml);
  await shown.importXML(newer.xml);
  const canvas = shown.get('canvas');
  canvas.zoom('fit-viewport');
  const registry = shown.get('elementRegistry');
  const marked = new Set();
  const mark = (id, kind) => {
    if (!registry.get(id) || marked.has(id)) return;
    marked.add(id);
    canvas.addMarker(id, `studio-diff-${kind}`);
  };
  changes.filter((c) => c.change === 'added').forEach((c) => mark(c.element_id, 'added'));
  changes.filter((c) => c.change === 'changed').forEach((c) => mark(c.element_id, 'changed'));
  const moved = diff(hidden.getDefinitions(), shown.getDefinitions())._layoutChanged;
  Object.keys(moved).forEach((id) => mark(id, 'layout'));
  const list = document.querySelector('#studio-changes');
  list.addEventListener('click', (e) => {
    const item = e.target.closest('[data-element]');
    const element = item && registry.get(item.dataset.element);
    if (element) canvas.scrollToElement(element);
  });
  root.classList.add('studio-ready');
}
