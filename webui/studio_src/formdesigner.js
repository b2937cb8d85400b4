// The form designer: the bundle's form files (docs/designers.md, "Form files") edited as a list
// of fields — add, remove, reorder; type, title, required, options, help, accepted files — with
// a preview drawn by the server's own renderer (the page applicants and reviewers get), asked
// again after each change. Keys the designer does not show are kept as they were in the file.
import { postJSON } from './api';

const WIDGETS = [
  ['text', '单行文本'], ['textarea', '多行文本'], ['select', '下拉选择'], ['radio', '单选'],
  ['buttons', '按钮（每个选项一个提交按钮）'], ['date', '日期'], ['file', '附件'],
];
const TYPES = [['string', '文本'], ['integer', '整数'], ['boolean', '是/否']];
const TARGETS = [['workflow', '流程数据（网关条件可读）'], ['log', '操作日志意见'], ['application', '申请本身的字段']];
const ACCEPT = ['.pdf', '.png', '.jpg', '.jpeg', '.doc', '.docx', '.xls', '.xlsx', '.zip'];
const NAME = /^[a-z][a-z0-9_]{0,39}$/;
const KEY = /^[a-z][a-z0-9_.]{0,59}$/;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => {
    if (k === 'on') Object.entries(v).forEach(([ev, fn]) => node.addEventListener(ev, fn));
    else if (k in node && k !== 'list') node[k] = v;
    else node.setAttribute(k, v);
  });
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function select(options, value, onChange, label) {
  return el('select', { 'aria-label': label, on: { change: (e) => onChange(e.target.value) } },
    ...options.map(([v, text]) => el('option', { value: v, selected: v === value }, text)));
}

function widgetOf(field) {
  if (field.format === 'file') return 'file';
  if (field.format === 'date') return 'date';
  return field['x-widget'] || (field.enum ? 'select' : 'text');
}

function setWidget(field, widget) {
  delete field.format;
  delete field['x-widget'];
  if (widget === 'file' || widget === 'date') { field.format = widget; field.type = 'string'; }
  else if (widget !== 'text') field['x-widget'] = widget;
  if (['select', 'radio', 'buttons'].includes(widget) && !field.enum) { field.enum = ['yes']; field['x-enumLabels'] = { yes: '是' }; }
  if (!['select', 'radio', 'buttons'].includes(widget)) { delete field.enum; delete field['x-enumLabels']; }
  if (widget !== 'file') { delete field['x-accept']; delete field['x-multiple']; }
}

// "value=label" per line <-> enum + x-enumLabels
function optionsText(field) {
  const labels = field['x-enumLabels'] || {};
  return (field.enum || []).map((v) => (labels[v] && labels[v] !== String(v) ? `${v}=${labels[v]}` : String(v))).join('\n');
}

function setOptions(field, text) {
  const pairs = text.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => l.split('=').map((s) => s.trim()));
  field.enum = pairs.map(([v]) => v);
  field['x-enumLabels'] = Object.fromEntries(pairs.map(([v, label]) => [v, label || v]));
}

export class FormDesigner {
  constructor(root, forms, previewUrl) {
    this.root = root;
    this.forms = forms;          // formKey -> the form file's JSON, edited in place
    this.previewUrl = previewUrl;
    this.key = Object.keys(forms).sort()[0] || null;
    this.onChange = () => {};
    this.timer = null;
  }

  show() { this.render(); }

  changed(structure = false) {
    this.onChange();
    if (structure) this.render(); else this.schedulePreview();
  }

  get form() { return this.key ? this.forms[this.key] : null; }

  render() {
    const form = this.form;
    const picker = el('div', { className: 'studio-form-picker' },
      el('label', {}, '表单文件 ', select(Object.keys(this.forms).sort().map((k) => [k, `${this.forms[k].title || k}（forms/${k}.json）`]),
        this.key, (k) => { this.key = k; this.render(); }, '表单文件')),
      el('input', { id: 'studio-new-form-key', placeholder: '新表单的 formKey，如 site_check', 'aria-label': '新表单的 formKey' }),
      el('button', { type: 'button', className: 'btn', id: 'studio-new-form', on: { click: () => this.addForm() } }, '新建表单'));
    const editor = form ? this.editor(form) : el('p', {}, '本流程包还没有表单文件');
    this.preview = el('div', { className: 'studio-preview', id: 'studio-form-preview' });
    this.problems = el('ul', { className: 'studio-form-problems', id: 'studio-form-problems' });
    this.root.replaceChildren(picker, el('div', { className: 'studio-form-layout' },
      editor, el('section', { className: 'studio-preview-pane' }, el('h3', {}, '预览（申请人与审核人看到的样子）'), this.problems, this.preview)));
    this.schedulePreview(0);
  }

  addForm() {
    const input = this.root.querySelector('#studio-new-form-key');
    const key = input.value.trim();
    if (!KEY.test(key)) { this.flash(`formKey “${key}”：只能用小写字母、数字、下划线和点，以字母开头`); return; }
    if (this.forms[key]) { this.flash(`表单 “${key}” 已存在`); return; }
    this.forms[key] = { title: '新表单', type: 'object', properties: { opinion: { type: 'string', title: '意见', 'x-widget': 'textarea' } }, required: [] };
    this.key = key;
    this.changed(true);
  }

  flash(message) {
    const line = this.root.querySelector('.studio-form-message') || el('p', { className: 'studio-form-message', role: 'alert' });
    line.textContent = message;
    this.root.prepend(line);
  }

  editor(form) {
    const names = Object.keys(form.properties);
    const rows = names.map((name, i) => this.fieldRow(form, name, i, names.length));
    return el('section', { className: 'studio-form-editor' },
      el('label', {}, '表单名称 ', el('input', { value: form.title || '', id: 'studio-form-title', on: { input: (e) => { form.title = e.target.value; this.changed(); } } })),
      el('ol', { className: 'studio-fields' }, ...rows),
      el('div', { className: 'studio-add-field' },
        el('input', { id: 'studio-new-field', placeholder: '字段名，如 check_date', 'aria-label': '新字段名' }),
        el('button', { type: 'button', className: 'btn', id: 'studio-add-field', on: { click: () => this.addField(form) } }, '添加字段')));
  }

  addField(form) {
    const name = this.root.querySelector('#studio-new-field').value.trim();
    if (!NAME.test(name)) { this.flash(`字段名 “${name}”：只能用小写字母、数字和下划线，以字母开头`); return; }
    if (form.properties[name]) { this.flash(`字段 “${name}” 已存在`); return; }
    form.properties[name] = { type: 'string', title: name };
    this.changed(true);
  }

  move(form, name, by) {
    const names = Object.keys(form.properties);
    const i = names.indexOf(name);
    names.splice(i, 1);
    names.splice(i + by, 0, name);
    form.properties = Object.fromEntries(names.map((n) => [n, form.properties[n]]));
    this.changed(true);
  }

  remove(form, name) {
    delete form.properties[name];
    form.required = (form.required || []).filter((n) => n !== name);
    if (form['x-outcome'] === name) delete form['x-outcome'];
    Object.values(form.properties).forEach((f) => { if (f['x-requiredWhen'] && name in f['x-requiredWhen']) delete f['x-requiredWhen']; });
    this.changed(true);
  }

  fieldRow(form, name, index, count) {
    const field = form.properties[name];
    const widget = widgetOf(field);
    const required = (form.required || []).includes(name);
    const text = (label, key, attrs = {}) => el('label', {}, label, el('input', {
      value: field[key] || '', ...attrs, on: { input: (e) => { if (e.target.value) field[key] = e.target.value; else delete field[key]; this.changed(); } },
    }));
    const parts = [
      el('div', { className: 'studio-field-head' },
        el('code', {}, name),
        el('button', { type: 'button', className: 'btn btn-small', disabled: index === 0, title: '上移', 'aria-label': `上移 ${name}`, on: { click: () => this.move(form, name, -1) } }, '↑'),
        el('button', { type: 'button', className: 'btn btn-small', disabled: index === count - 1, title: '下移', 'aria-label': `下移 ${name}`, on: { click: () => this.move(form, name, 1) } }, '↓'),
        el('button', { type: 'button', className: 'btn btn-small btn-danger', 'aria-label': `删除 ${name}`, on: { click: () => this.remove(form, name) } }, '删除')),
      text('标题 ', 'title', { className: 'studio-field-title' }),
      el('label', {}, '控件 ', select(WIDGETS, widget, (w) => { setWidget(field, w); this.changed(true); }, `${name} 的控件`)),
      el('label', {}, '类型 ', select(TYPES, field.type, (t) => { field.type = t; this.changed(); }, `${name} 的类型`)),
      el('label', {}, '数据去向 ', select(TARGETS, field['x-target'] || 'workflow', (t) => { if (t === 'workflow') delete field['x-target']; else field['x-target'] = t; this.changed(); }, `${name} 的数据去向`)),
      el('label', { className: 'studio-check' }, el('input', {
        type: 'checkbox', checked: required, 'aria-label': `${name} 必填`,
        on: { change: (e) => { const set = new Set(form.required || []); if (e.target.checked) set.add(name); else set.delete(name); form.required = [...set]; this.changed(); } },
      }), ' 必填'),
      text('帮助文字 ', 'x-help'),
    ];
    if (['select', 'radio', 'buttons'].includes(widget)) {
      parts.push(el('label', {}, '选项（每行一个：取值=显示文字）', el('textarea', {
        rows: 3, value: optionsText(field), 'aria-label': `${name} 的选项`, on: { input: (e) => { setOptions(field, e.target.value); this.changed(); } },
      })));
    }
    if (widget === 'file') {
      const accepted = new Set(field['x-accept'] || []);
      parts.push(el('fieldset', { className: 'studio-accept' }, el('legend', {}, '允许的文件类型'),
        ...ACCEPT.map((ext) => el('label', { className: 'studio-check' }, el('input', {
          type: 'checkbox', checked: accepted.has(ext), 'aria-label': `${name} 允许 ${ext}`,
          on: { change: (e) => { if (e.target.checked) accepted.add(ext); else accepted.delete(ext); field['x-accept'] = ACCEPT.filter((x) => accepted.has(x)); this.changed(); } },
        }), ` ${ext}`))));
    }
    return el('li', { className: 'studio-field', dataset: {}, 'data-field': name }, ...parts);
  }

  schedulePreview(delay = 300) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refreshPreview(), delay);
  }

  async refreshPreview() {
    const form = this.form;
    if (!form || !this.preview) return;
    try {
      const result = await postJSON(this.previewUrl, { key: this.key, form });
      this.problems.replaceChildren(...result.problems.map((p) => el('li', {}, p)));
      this.preview.innerHTML = result.html;   // the server's own rendering of the form, escaped there
    } catch (e) {
      this.problems.replaceChildren(el('li', {}, e.message));
    }
  }
}
