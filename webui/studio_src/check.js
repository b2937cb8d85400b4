// Problems of the draft (the server's deploy validator and the studio's drawing checks), listed
// under the diagram and marked on it: a red outline and a badge with the count on each element
// that has one. Clicking a problem selects its element and scrolls it into view.
const MARKER = 'studio-problem';

export function clearProblems(modeler) {
  const canvas = modeler.get('canvas');
  modeler.get('elementRegistry').forEach((el) => canvas.removeMarker(el, MARKER));
  modeler.get('overlays').remove({ type: 'studio-problem' });
}

export function selectElement(modeler, id) {
  const element = modeler.get('elementRegistry').get(id);
  if (!element) return false;
  modeler.get('selection').select(element);
  modeler.get('canvas').scrollToElement(element);
  return true;
}

export function showProblems(modeler, problems, list) {
  clearProblems(modeler);
  const registry = modeler.get('elementRegistry');
  const counts = {};
  problems.forEach((p) => { if (p.element && registry.get(p.element)) counts[p.element] = (counts[p.element] || 0) + 1; });
  Object.entries(counts).forEach(([id, count]) => {
    modeler.get('canvas').addMarker(id, MARKER);
    const element = registry.get(id);
    if (element.waypoints) return;   // a flow gets the outline only: a badge on a line hides it
    modeler.get('overlays').add(id, 'studio-problem', {
      position: { top: -10, right: 10 },
      html: `<span class="studio-badge studio-badge-problem" title="${count} 个问题">${count}</span>`,
    });
  });
  list.replaceChildren();
  if (!problems.length) {
    const ok = document.createElement('li');
    ok.className = 'studio-ok';
    ok.textContent = '检查通过：没有发现问题';
    list.append(ok);
    return;
  }
  problems.forEach((p) => {
    const item = document.createElement('li');
    item.className = 'studio-problem-item';
    item.dataset.element = p.element || '';
    const where = document.createElement(p.element ? 'button' : 'span');
    where.className = 'studio-problem-element';
    where.textContent = p.element || (p.form ? `表单 ${p.form}` : '整个文件');
    if (p.element) {
      where.type = 'button';
      where.addEventListener('click', () => selectElement(modeler, p.element));
    }
    const text = document.createElement('span');
    text.textContent = p.message;
    item.append(where, text);
    list.append(item);
  });
}
