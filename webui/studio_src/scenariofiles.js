// The process tests of the bundle being edited, one text box per scenario file (the format of
// docs/designers.md, "Process tests"): a designer who changes the path changes what the scenarios
// expect here, saves them with the draft, and 运行测试 runs them on the server.
export class ScenarioFiles {
  constructor(container, files, onChange) {
    this.container = container;
    this.files = { ...files };
    container.replaceChildren(...Object.keys(this.files).sort().map((name) => this.editor(name, onChange)));
    if (!Object.keys(this.files).length) container.textContent = '本流程还没有测试场景';
  }

  editor(name, onChange) {
    const box = Object.assign(document.createElement('textarea'), {
      value: this.files[name], rows: 18, spellcheck: false, className: 'studio-scenario-text',
    });
    box.dataset.scenario = name;
    box.setAttribute('aria-label', `测试场景 ${name}`);
    box.addEventListener('input', () => { this.files[name] = box.value; onChange(); });
    const section = document.createElement('section');
    section.append(Object.assign(document.createElement('h3'), { textContent: name }), box);
    return section;
  }
}
