// The designer's process tests run on the draft: one row per scenario (passed or what failed);
// choosing a scenario colours the path it took on the diagram (elements and flows it passed).
const PATH = 'studio-path';
const FAILED_AT = 'studio-path-failed';

export function clearPath(modeler) {
  const canvas = modeler.get('canvas');
  modeler.get('elementRegistry').forEach((el) => { canvas.removeMarker(el, PATH); canvas.removeMarker(el, FAILED_AT); });
}

export function colourPath(modeler, scenario) {
  clearPath(modeler);
  const registry = modeler.get('elementRegistry');
  const canvas = modeler.get('canvas');
  (scenario.path || []).forEach((id) => { if (registry.get(id)) canvas.addMarker(id, PATH); });
  if (!scenario.passed && scenario.element && registry.get(scenario.element)) canvas.addMarker(scenario.element, FAILED_AT);
}

export function showScenarios(modeler, results, list) {
  clearPath(modeler);
  list.replaceChildren();
  if (!results.length) {
    const none = document.createElement('li');
    none.textContent = '该流程没有测试场景';
    list.append(none);
    return;
  }
  results.forEach((scenario) => {
    const item = document.createElement('li');
    item.className = `studio-scenario ${scenario.passed ? 'studio-scenario-passed' : 'studio-scenario-failed'}`;
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = `${scenario.passed ? '✓ 通过' : '✗ 未通过'}　${scenario.name}`;
    button.addEventListener('click', () => {
      list.querySelectorAll('.studio-scenario').forEach((li) => li.classList.remove('studio-scenario-shown'));
      item.classList.add('studio-scenario-shown');
      colourPath(modeler, scenario);
    });
    item.append(button);
    if (scenario.message) {
      const why = document.createElement('div');
      why.className = 'studio-scenario-message';
      why.textContent = scenario.message;
      item.append(why);
    }
    list.append(item);
  });
}
